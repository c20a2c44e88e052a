"""Tier 1: iteration counts, statistics, cache and state of a DataraxModule."""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from datarax.core.config import OperatorConfig
from datarax.core.module import DataraxModule


def test_running_statistics_equal_the_whole_data_moments():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(50, 4)).astype(np.float32)
    module = DataraxModule(OperatorConfig(stats_fields=("x",)))
    for chunk in np.array_split(data, [7, 20, 33]):
        module.update_stats({"x": jnp.asarray(chunk)})
    stats = module.stats("x")
    assert float(stats["count"]) == 50
    np.testing.assert_allclose(stats["mean"], data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["var"], data.var(0), rtol=1e-4)


def test_statistics_ignore_padding_rows_and_freeze_after_max_batches():
    module = DataraxModule(OperatorConfig(stats_fields=("x",), stats_max_batches=2))
    x = jnp.asarray([[1.0], [3.0], [1000.0]])
    valid = jnp.asarray([True, True, False])
    for _ in range(2):
        module.update_stats({"x": x}, valid)
        module.count_iteration()
    module.update_stats({"x": x * 50}, valid)  # a third batch is past the limit
    stats = module.stats("x")
    assert float(stats["count"]) == 4
    np.testing.assert_allclose(stats["mean"], [2.0])
    np.testing.assert_allclose(stats["var"], [1.0])


def test_statistics_update_inside_jit_after_init_stats():
    module = DataraxModule(OperatorConfig(stats_fields=("x",)))
    module.init_stats({"x": jax.ShapeDtypeStruct((4, 2), jnp.float32)})

    @nnx.jit
    def step(m, x):
        m.update_stats({"x": x})

    step(module, jnp.ones((4, 2)))
    step(module, 3 * jnp.ones((4, 2)))
    np.testing.assert_allclose(module.stats("x")["mean"], [2.0, 2.0])


def test_custom_batch_stats_fn_keeps_a_running_mean():
    module = DataraxModule(OperatorConfig(),
                           batch_stats_fn=lambda b: {"max": b["x"].max()})
    module.update_stats({"x": jnp.asarray([1.0, 5.0])})
    module.update_stats({"x": jnp.asarray([2.0, 3.0])})
    np.testing.assert_allclose(module.stats("custom/max")["mean"], 4.0)


def test_unknown_stats_field_is_named():
    module = DataraxModule(OperatorConfig(stats_fields=("image",)))
    with pytest.raises(ValueError, match=r"'image', which is not in the batch.*\['x'\]"):
        module.update_stats({"x": jnp.ones((2, 2))})


def test_cache_returns_stored_results_by_input_identity_and_evicts_oldest():
    module = DataraxModule(OperatorConfig(cache_size=2))
    calls = []

    def compute(value):
        calls.append(value)
        return value * 10

    assert module.cached(("a",), lambda: compute(1)) == 10
    assert module.cached(("a",), lambda: compute(99)) == 10  # hit: not recomputed
    module.cached(("b",), lambda: compute(2))
    module.cached(("c",), lambda: compute(3))  # evicts ("a",)
    assert module.cached(("a",), lambda: compute(4)) == 40
    assert calls == [1, 2, 3, 4]
    uncached = DataraxModule(OperatorConfig())
    assert uncached.cached("k", lambda: 1) == 1 and uncached.cached("k", lambda: 2) == 2


def test_get_state_and_set_state_round_trip():
    module = DataraxModule(OperatorConfig(stats_fields=("x",)))
    module.update_stats({"x": jnp.asarray([[2.0], [4.0]])})
    module.count_iteration()
    saved = module.get_state()
    other = DataraxModule(OperatorConfig(stats_fields=("x",)))
    other.init_stats({"x": jnp.zeros((1, 1))})
    other.set_state(saved)
    assert int(other.iteration_count[...]) == 1
    np.testing.assert_allclose(other.stats("x")["mean"], [3.0])

"""PadOrTruncate, OneHot and Standardize (tracked and given statistics)."""

from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from datarax.operators import OneHot, PadOrTruncate, Standardize


def test_pad_or_truncate_uses_the_true_lengths_and_writes_a_mask(run):
    tokens = np.arange(1, 25, dtype=np.int32).reshape(4, 6)
    lengths = np.array([2, 6, 4, 0], np.int32)
    out = run(PadOrTruncate(length=4, fields="tokens", pad_value=-1, length_field="n"),
              {"tokens": tokens, "n": lengths})
    expect = np.full((4, 4), -1)
    for i, n in enumerate(lengths):
        expect[i, :min(n, 4)] = tokens[i, :min(n, 4)]
    np.testing.assert_array_equal(out["tokens"], expect)
    np.testing.assert_array_equal(out["mask"], expect != -1)
    longer = run(PadOrTruncate(length=9, fields="tokens"), {"tokens": tokens})
    assert longer["tokens"].shape == (4, 9) and longer["mask"].sum(1).tolist() == [6] * 4


def test_one_hot_matches_numpy_eye(run):
    labels = np.array([0, 4, 2], np.int32)
    np.testing.assert_array_equal(run(OneHot(num_classes=5), {"label": labels})["label"],
                                  np.eye(5)[labels])


def test_standardize_tracks_the_first_n_batches_then_freezes():
    rng = np.random.RandomState(0)
    batches = [rng.normal(3.0, 2.0, (16, 5)).astype(np.float32) for _ in range(4)]
    op = Standardize(fields="x", max_batches=2)
    step = nnx.jit(lambda m, b: m(b))
    op.init_stats({"x": jax.ShapeDtypeStruct((16, 5), jnp.float32)})
    outs = [np.asarray(step(op, {"x": jnp.asarray(b)})["x"]) for b in batches]
    seen = np.concatenate(batches[:2])
    np.testing.assert_allclose(op.stats("x")["mean"], seen.mean(0), rtol=1e-5)
    np.testing.assert_allclose(op.stats("x")["var"], seen.var(0), rtol=1e-4)
    expect = (batches[3] - seen.mean(0)) / np.sqrt(seen.var(0) + 1e-6)
    np.testing.assert_allclose(outs[3], expect, rtol=1e-4, atol=1e-5)
    # The first batch is standardised by its own moments (folded in before use).
    np.testing.assert_allclose(outs[0].mean(0), 0.0, atol=1e-5)
    # The statistics are NNX state, so a checkpoint of the module carries them.
    assert "batch_stats" in nnx.to_pure_dict(nnx.state(op))


def test_standardize_with_given_statistics_and_its_gradient(run):
    x = np.random.RandomState(1).rand(3, 4).astype(np.float32)
    op = Standardize(fields="x", mean=[0.5] * 4, std=[0.25, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(run(op, {"x": x})["x"],
                               (x - 0.5) / np.sqrt(np.array([0.25, 0.5, 1, 2]) ** 2 + 1e-6),
                               rtol=1e-5)
    check_grads(jax.jit(lambda v: op({"x": v})["x"]), (jnp.asarray(x),), order=1,
                modes=["rev"])


def test_standardize_config_must_track_its_fields():
    from datarax.core.config import OperatorConfig
    with pytest.raises(ValueError, match=r"Standardize: config.stats_fields must list \['x'\]"):
        Standardize(OperatorConfig(stats_fields=("y",)), fields="x")

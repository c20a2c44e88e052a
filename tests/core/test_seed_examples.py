"""The reference document's four examples, run as written (init -> __init__)."""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from datarax.core.batcher import BatcherModule
from datarax.core.operator import OperatorConfig, OperatorModule
from datarax.core.structural import StructuralConfig


class NormalizeOperator(OperatorModule):
    def __init__(self, config, mean, std):
        super().__init__(config)
        self.mean = mean
        self.std = std

    def apply(self, data, state, metadata, random_params=None, stats=None):
        # Simplified implementation
        return data, state, metadata


class RandomFlipOperator(OperatorModule):
    def apply(self, data, state, metadata, random_params=None, stats=None):
        # random_params would contain the key here
        return data, state, metadata


class SimpleBatcher(BatcherModule):
    def process(self, elements, *args, batch_size, drop_remainder=False, **kwargs):
        # Simplified batching logic for demonstration
        batch = []
        for element in elements:
            batch.append(element)
            if len(batch) == batch_size:
                yield batch
                batch = []
        if not drop_remainder and batch:
            yield batch


def test_normalize_operator_builds_as_written_and_passes_data_through():
    norm_op = NormalizeOperator(OperatorConfig(stochastic=False), mean=0.5, std=0.5)
    batch = {"x": jnp.arange(6.0).reshape(3, 2)}
    out = norm_op(batch)
    np.testing.assert_array_equal(out["x"], batch["x"])
    assert norm_op.mean == 0.5 and norm_op.std == 0.5
    assert int(norm_op.iteration_count[...]) == 1


def test_random_flip_operator_receives_one_key_per_element():
    seen = []

    class Recording(RandomFlipOperator):
        def apply(self, data, state, metadata, random_params=None, stats=None):
            seen.append(random_params)
            return data, state, metadata

    augment_op = RandomFlipOperator(
        OperatorConfig(stochastic=True, stream_name="augment"), rngs=nnx.Rngs(augment=42))
    out = augment_op({"x": jnp.ones((4, 3))})
    assert out["x"].shape == (4, 3)
    recording = Recording(
        OperatorConfig(stochastic=True, stream_name="augment"), rngs=nnx.Rngs(augment=42))
    recording({"x": jnp.ones((4, 3))})
    # Under vmap, apply sees ONE key (a scalar key array) per element.
    assert seen[0].shape == () and jax.dtypes.issubdtype(seen[0].dtype, jax.dtypes.prng_key)


def test_simple_batcher_runs_as_written():
    batcher = SimpleBatcher(StructuralConfig(stochastic=False))
    data_stream = ({"i": i} for i in range(70))
    batches = list(batcher(data_stream, batch_size=32))
    assert [len(b) for b in batches] == [32, 32, 6]
    assert [e["i"] for e in batches[2]] == list(range(64, 70))
    kept = list(batcher(({"i": i} for i in range(70)), batch_size=32, drop_remainder=True))
    assert [len(b) for b in kept] == [32, 32]


def test_pipeline_with_a_source_and_stages():
    from datarax import Pipeline
    from datarax.sources import MemorySource

    class Scale(OperatorModule):
        def __init__(self, config, factor):
            super().__init__(config)
            self.factor = factor

        def apply(self, data, state, metadata, random_params=None, stats=None):
            return {**data, "x": data["x"] * self.factor}, state, metadata

    source = MemorySource({"x": np.arange(10, dtype=np.float32), "y": np.arange(10)})
    pipeline = Pipeline(source=source, stages=[Scale(OperatorConfig(), 3.0)], batch_size=4)
    with pipeline:
        batches = list(pipeline)
    assert [b["x"].shape for b in batches] == [(4,), (4,), (2,)]
    np.testing.assert_array_equal(np.concatenate([b["x"] for b in batches]),
                                  np.arange(10, dtype=np.float32) * 3)
    assert all(isinstance(b["x"], jax.Array) for b in batches)

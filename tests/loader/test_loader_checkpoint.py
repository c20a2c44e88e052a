"""datarax.DataLoader iterators in real Orbax checkpoints: stream position + stage state."""

from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from datarax.checkpoint import Checkpointer, PipelineRestore, PipelineSave
from datarax.core.operator import OperatorConfig, OperatorModule
from datarax.loader import DataLoader

SAVE_AT = 5  # batches; an epoch is 13 (100 records, batch 8)


class Speckle(OperatorModule):
    """Adds per-record uniform noise to the image and keeps its running statistics."""

    def __init__(self, seed=3):
        super().__init__(
            OperatorConfig(stochastic=True, stream_name="augment", stats_fields=("image",)),
            rngs=nnx.Rngs(augment=seed))

    def apply(self, data, state, metadata, random_params=None, stats=None):
        image = data["image"].astype(jnp.float32)
        return {**data, "image": image + jax.random.uniform(random_params, image.shape)}, \
            state, metadata


def loader(grain_args, stream, workers, stage):
    return DataLoader(**grain_args(num_epochs=1), worker_count=workers, stream=stream,
                      stages=[stage])


def as_numpy(batch):
    return {k: np.asarray(v) for k, v in batch.items()}


def run_saving_mid_epoch(tmp_path, grain_args, stream):
    """The whole stream of a 2-worker loader, saved after SAVE_AT batches both ways."""
    stage, model = Speckle(), nnx.Linear(2, 2, rngs=nnx.Rngs(0))
    manager = ocp.CheckpointManager(tmp_path / "composite")
    batches = []
    with loader(grain_args, stream, 2, stage) as data, \
            Checkpointer(tmp_path / "checkpointer") as ckpt:
        iterator = iter(data)
        for batch in iterator:
            batches.append(as_numpy(batch))
            if len(batches) == SAVE_AT:
                ckpt.save(SAVE_AT, iterator, model=model)
                manager.save(SAVE_AT, args=ocp.args.Composite(
                    data=PipelineSave(iterator), model=ocp.args.StandardSave(nnx.state(model))))
    manager.wait_until_finished()
    manager.close()
    return batches, stage


def assert_continues(iterator, fresh_stage, batches, stage):
    # The restored statistics are those of the moment of the save, before any batch.
    assert float(fresh_stage.stats("image")["count"]) == SAVE_AT * 8
    tail = [as_numpy(b) for b in iterator]
    assert len(tail) == len(batches) - SAVE_AT
    for got, want in zip(tail, batches[SAVE_AT:]):
        assert sorted(got) == sorted(want)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    for key, value in stage.stats("image").items():
        np.testing.assert_array_equal(np.asarray(fresh_stage.stats("image")[key]),
                                      np.asarray(value), err_msg=key)


# The invariant stream's state restores under any worker count; Grain's own stream
# only under the worker count that saved it.
@pytest.mark.parametrize("stream, checkpointer_workers, composite_workers",
                         [("invariant", 2, 0), ("grain", 2, 2)])
def test_a_restored_loader_continues_the_uninterrupted_stream_bit_for_bit(
        tmp_path, grain_args, stream, checkpointer_workers, composite_workers):
    batches, stage = run_saving_mid_epoch(tmp_path, grain_args, stream)

    # Via Checkpointer; another seed proves the stage's RNG state is restored too.
    fresh_stage, fresh_model = Speckle(seed=99), nnx.Linear(2, 2, rngs=nnx.Rngs(1))
    with loader(grain_args, stream, checkpointer_workers, fresh_stage) as data, \
            Checkpointer(tmp_path / "checkpointer") as ckpt:
        iterator = iter(data)
        assert ckpt.restore(iterator, model=fresh_model) == SAVE_AT
        assert_continues(iterator, fresh_stage, batches, stage)

    # Via the Orbax Composite recipe, beside a model.
    fresh_stage = Speckle(seed=99)
    manager = ocp.CheckpointManager(tmp_path / "composite")
    abstract = nnx.state(nnx.eval_shape(lambda: nnx.Linear(2, 2, rngs=nnx.Rngs(1))))
    with loader(grain_args, stream, composite_workers, fresh_stage) as data:
        iterator = iter(data)
        manager.restore(SAVE_AT, args=ocp.args.Composite(
            data=PipelineRestore(iterator), model=ocp.args.StandardRestore(abstract)))
        assert_continues(iterator, fresh_stage, batches, stage)
    manager.close()


def test_a_loader_without_stages_checkpoints_its_position_alone(tmp_path, grain_args):
    with DataLoader(**grain_args(num_epochs=1)) as data, \
            Checkpointer(tmp_path, async_save=False) as ckpt:
        iterator = iter(data)
        assert iterator.checkpoint_modules() is None
        whole = [next(iterator)["noise"] for _ in range(SAVE_AT)]
        ckpt.save(SAVE_AT, iterator)
        whole += [b["noise"] for b in iterator]
    with DataLoader(**grain_args(num_epochs=1)) as data, Checkpointer(tmp_path) as ckpt:
        iterator = iter(data)
        ckpt.restore(iterator)
        tail = [b["noise"] for b in iterator]
    assert len(tail) == len(whole) - SAVE_AT
    for got, want in zip(tail, whole[SAVE_AT:]):
        np.testing.assert_array_equal(got, want)

"""Checkpoint contents, async saves, and the errors a bad restore gets."""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from datarax import Pipeline
from datarax.checkpoint import Checkpointer, PipelineRestore, PipelineSave
from datarax.core.operator import OperatorConfig, OperatorModule
from datarax.sources import MemorySource


class Shift(OperatorModule):
    def __init__(self, rngs=None, stats=("x",)):
        super().__init__(OperatorConfig(stochastic=True, stream_name="augment", stats_fields=stats),
                         rngs=rngs or nnx.Rngs(augment=0))
        self.offset = nnx.Param(jnp.asarray(0.0))

    def apply(self, data, state, metadata, random_params=None, stats=None):
        return {**data, "x": data["x"] + self.offset + jax.random.uniform(random_params)}, state, metadata


def pipeline(n=64, seed=0, stages=None):
    source = MemorySource({"x": np.arange(n, dtype=np.float32)})
    return Pipeline(source, [Shift()] if stages is None else stages, batch_size=8,
                    shuffle=True, seed=seed, num_epochs=None)


def directory_size(path):
    return sum(f.stat().st_size for f in pathlib.Path(path).rglob("*") if f.is_file())


def test_checkpoint_size_does_not_grow_with_the_dataset(tmp_path):
    sizes = {}
    for n in (1_000, 100_000):
        with pipeline(n) as p, Checkpointer(tmp_path / str(n), async_save=False) as ckpt:
            it = iter(p)
            next(it)
            ckpt.save(1, it)
        sizes[n] = directory_size(tmp_path / str(n))
    # the source description and offsets differ by a few digits, not by 99,000 records
    assert abs(sizes[100_000] - sizes[1_000]) < 2_000, sizes
    assert sizes[100_000] < 200_000


def test_composite_form_saves_the_pipeline_beside_the_model(tmp_path):
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    p = pipeline()
    it = iter(p)
    for _ in range(3):
        next(it)
    p.stages[0].offset[...] = jnp.asarray(100.0)
    manager = ocp.CheckpointManager(tmp_path, options=ocp.CheckpointManagerOptions(max_to_keep=3))
    manager.save(3, args=ocp.args.Composite(data=PipelineSave(it),
                                            model=ocp.args.StandardSave(nnx.state(model))))
    manager.wait_until_finished()
    expected = [np.asarray(next(it)["x"]) for _ in range(4)]
    p.close()

    fresh = pipeline()
    fresh_it = iter(fresh)
    abstract = nnx.state(nnx.eval_shape(lambda: nnx.Linear(3, 2, rngs=nnx.Rngs(1))))
    restored = manager.restore(3, args=ocp.args.Composite(
        data=PipelineRestore(fresh_it), model=ocp.args.StandardRestore(abstract)))
    np.testing.assert_array_equal(restored["model"]["kernel"][...], model.kernel[...])
    assert float(fresh.stages[0].offset[...]) == 100.0
    assert float(fresh.stages[0].stats("x")["count"]) == 24  # statistics came back too
    for want in expected:
        np.testing.assert_array_equal(np.asarray(next(fresh_it)["x"]), want)
    fresh.close()
    manager.close()


def test_async_save_lets_the_loop_go_on_and_keeps_the_state_of_the_moment(tmp_path):
    p = pipeline()
    it = iter(p)
    for _ in range(2):
        next(it)
    ckpt = Checkpointer(tmp_path, async_save=True)
    ckpt.save(2, it)
    expected = [np.asarray(next(it)["x"]) for _ in range(3)]  # while the save is in flight
    p.stages[0].offset[...] = jnp.asarray(7.0)  # a change after save() must not be saved
    ckpt.wait()
    p.close()
    fresh = pipeline()
    fresh_it = iter(fresh)
    assert ckpt.restore(fresh_it) == 2
    assert float(fresh.stages[0].offset[...]) == 0.0
    for want in expected:
        np.testing.assert_array_equal(np.asarray(next(fresh_it)["x"]), want)
    fresh.close()
    ckpt.close()


@pytest.mark.parametrize("change, message", [
    (dict(n=65), "source: saved 'MemorySource(len=64"),
    (dict(seed=1), "seed: saved 0, this pipeline 1"),
    (dict(stages=[Shift(stats=())]), "state the checkpoint has but this pipeline lacks"),
    (dict(stages=[]), "state the checkpoint has but this pipeline lacks"),
])
def test_restoring_into_another_pipeline_names_what_differs(tmp_path, change, message):
    with pipeline() as p, Checkpointer(tmp_path, async_save=False) as ckpt:
        it = iter(p)
        next(it)
        ckpt.save(1, it)
        with pipeline(**change) as other:
            with pytest.raises(ValueError, match=message.replace("(", r"\(")):
                ckpt.restore(iter(other))


def test_a_corrupt_step_gets_a_clear_error_and_older_steps_still_restore(tmp_path):
    with pipeline() as p, Checkpointer(tmp_path, async_save=False) as ckpt:
        it = iter(p)
        next(it)
        ckpt.save(1, it)
        next(it)
        ckpt.save(2, it)
    for path in (tmp_path / "2" / "data").rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage")
    with pipeline() as p, Checkpointer(tmp_path) as ckpt:
        with pytest.raises(ValueError, match=r"step 2 .* could not be read.*other steps are \[1\]"):
            ckpt.restore(iter(p))
        it = iter(p)
        assert ckpt.restore(it, step=1) == 1
        assert it.step == 1


SAVER = textwrap.dedent("""
    import sys, numpy as np, flax.nnx as nnx
    sys.path.insert(0, {tests!r})
    from datarax import Pipeline
    from datarax.checkpoint import Checkpointer
    from datarax.sources import MemorySource

    if __name__ == "__main__":
        p = Pipeline(MemorySource({{"x": np.arange(64.0)}}), batch_size=8, num_epochs=None)
        it = iter(p)
        next(it)
        ckpt = Checkpointer({ckpt!r}, async_save=False)
        big = nnx.Linear(6000, 6000, rngs=nnx.Rngs(0))  # ~144 MB: a save that takes a while
        ckpt.save(1, it)
        next(it)
        print("saving", flush=True)
        ckpt.save(2, it, model=big)
        print("saved", flush=True)
""")


def test_sigkill_during_a_save_leaves_the_previous_step_restorable(tmp_path):
    script = tmp_path / "saver.py"
    script.write_text(SAVER.format(tests=str(pathlib.Path(__file__).parents[1]), ckpt=str(tmp_path / "ckpt")))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    assert process.stdout.readline().strip() == "saving"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    p = Pipeline(MemorySource({"x": np.arange(64.0)}), batch_size=8, num_epochs=None)
    with p, Checkpointer(tmp_path / "ckpt") as ckpt:
        assert ckpt.latest_step() == 1
        it = iter(p)
        assert ckpt.restore(it) == 1
        np.testing.assert_array_equal(np.asarray(next(it)["x"]), np.arange(8.0, 16.0))

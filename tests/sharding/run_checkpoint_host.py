"""One process of a checkpointed multi-host run on localhost; the tests launch N of these.

    python run_checkpoint_host.py save   N ID PORT OUT WORKERS CKPT STOP_AT
    python run_checkpoint_host.py resume N ID PORT OUT WORKERS CKPT [SINGLE_CKPT]

Each process joins `jax.distributed`, builds the scenario pipeline with global arrays
over a mesh of every process's device and Grain worker processes, and after every batch
takes a pretend training step that nudges the learnable scale (the same on every
process). 'save' delivers STOP_AT batches, saves with the Orbax Composite form, writes
what it saw to OUT/save_<id>.npz and keeps going until the test kills it. 'resume'
restores CKPT (with `Checkpointer`) in a new process and runs to the end; with
SINGLE_CKPT (saved by one process) it then restores that (Composite form) and runs to
the end again; last, it saves a pipeline whose scale differs per process to
OUT/diverged and restores it, and saves and restores a model beside the iterator with
`Checkpointer`. Each writes only its own rows of every global batch.
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import numpy as np

import scenario
from run_host import own_rows, stack

GLOBAL_BATCH = 12
NUDGE = 0.25  # a pretend training step: scale += NUDGE after every batch (exact in f32)


def train_step(pipeline) -> None:
    scale = pipeline.stages[0].scale
    scale[...] = scale[...] + NUDGE


def build(num_processes: int, workers: int):
    from datarax.sharding import DataParallelSharder, ProcessSharder
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    return scenario.make_pipeline(
        batch_size=GLOBAL_BATCH, sharding=DataParallelSharder(mesh, "data"),
        worker_count=workers, shard_by_process=ProcessSharder(num_processes=num_processes))


def run_to_end(pipeline, iterator) -> list[dict]:
    steps = []
    for batch in iterator:
        steps.append(own_rows(batch))
        train_step(pipeline)
    return steps


def scale_of(pipeline) -> float:
    value = pipeline.stages[0].scale[...]
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        value = value.addressable_data(0)
    return float(np.asarray(value))


def save(n, pid, out, workers, ckpt, stop_at):
    import orbax.checkpoint as ocp
    from datarax.checkpoint import PipelineSave
    pipeline = build(n, workers)
    iterator = iter(pipeline)
    steps = []
    for _ in range(stop_at):
        steps.append(own_rows(next(iterator)))
        train_step(pipeline)
    manager = ocp.CheckpointManager(ckpt, options=ocp.CheckpointManagerOptions(create=True))
    manager.save(stop_at, args=ocp.args.Composite(data=PipelineSave(iterator)))
    manager.wait_until_finished()
    report = {"scale": scale_of(pipeline), "step": iterator.step}
    np.savez(os.path.join(out, f"save_{pid}.npz"), report=json.dumps(report),
             **stack(steps))
    for _ in iterator:  # the job goes on until it is killed
        train_step(pipeline)
    while True:
        time.sleep(1)


def resume(n, pid, out, workers, ckpt, single_ckpt=None):
    import orbax.checkpoint as ocp
    from datarax.checkpoint import Checkpointer, PipelineRestore
    report, results = {}, {}
    pipeline = build(n, workers)
    with pipeline, Checkpointer(ckpt) as checkpointer:
        iterator = iter(pipeline)
        report["restored_step"] = checkpointer.restore(iterator)
        report["restored_scale"], report["iterator_step"] = scale_of(pipeline), iterator.step
        results.update({f"multi/{k}": v for k, v in stack(run_to_end(pipeline, iterator)).items()})
    if single_ckpt:
        pipeline = build(n, workers)
        with pipeline:
            iterator = iter(pipeline)
            manager = ocp.CheckpointManager(single_ckpt)
            step = manager.latest_step()
            manager.restore(step, args=ocp.args.Composite(data=PipelineRestore(iterator)))
            manager.close()
            report["single_step"], report["single_scale"] = step, scale_of(pipeline)
            results.update({f"single/{k}": v
                            for k, v in stack(run_to_end(pipeline, iterator)).items()})
    report.update(diverged(n, pid, os.path.join(out, "diverged")))
    np.savez(os.path.join(out, f"resume_{pid}.npz"), report=json.dumps(report), **results)


def diverged(n, pid, ckpt) -> dict:
    """Saves a pipeline whose scale differs per process, restores it in new iterators."""
    import flax.nnx as nnx
    import jax.numpy as jnp
    import orbax.checkpoint as ocp
    from datarax.checkpoint import Checkpointer, PipelineRestore, PipelineSave
    pipeline = build(n, 0)
    with pipeline:
        iterator = iter(pipeline)
        next(iterator)
        # A host-local value that differs per process (e.g. statistics of its own rows).
        pipeline.stages[0].scale.set_value(jnp.asarray(0.5 + pid, jnp.float32))
        with ocp.CheckpointManager(
                ckpt, options=ocp.CheckpointManagerOptions(create=True)) as manager:
            manager.save(1, args=ocp.args.Composite(data=PipelineSave(iterator)))
            manager.wait_until_finished()
        # Checkpointer's short form, with a model beside the iterator.
        with Checkpointer(ckpt + "_model", async_save=False) as checkpointer:
            checkpointer.save(1, iterator, model=nnx.Linear(2, 3, rngs=nnx.Rngs(0)))
    pipeline = build(n, 0)
    with pipeline, ocp.CheckpointManager(ckpt) as manager:
        manager.restore(1, args=ocp.args.Composite(data=PipelineRestore(iter(pipeline))))
        report = {"diverged_scale": scale_of(pipeline)}
    model = nnx.Linear(2, 3, rngs=nnx.Rngs(1))
    pipeline = build(n, 0)
    with pipeline, Checkpointer(ckpt + "_model") as checkpointer:
        checkpointer.restore(iter(pipeline), model=model)
    expected = nnx.Linear(2, 3, rngs=nnx.Rngs(0)).kernel[...]
    report["model_restored"] = bool(np.array_equal(np.asarray(model.kernel[...]),
                                                   np.asarray(expected)))
    return report


def main(mode, n, pid, port, out, workers, ckpt, *rest):
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                               num_processes=int(n), process_id=int(pid))
    if mode == "save":
        save(int(n), int(pid), out, int(workers), ckpt, int(rest[0]))
    else:
        resume(int(n), int(pid), out, int(workers), ckpt, *rest)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])

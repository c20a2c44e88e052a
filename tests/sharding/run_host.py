"""One process of a multi-host run on localhost; the tests launch N of these.

    python run_host.py NUM_PROCESSES PROCESS_ID PORT OUT_DIR WORKERS

Each process joins `jax.distributed` (one CPU device per process, gloo collectives),
then runs the scenario pipeline twice with Grain worker processes: once forming global
arrays over a mesh of every process's device, once yielding this process's local part.
It writes what it saw, its own rows only, to OUT_DIR/process_<id>.npz.
"""

from __future__ import annotations

import json
import os
import sys

import jax
import numpy as np

import scenario

GLOBAL_BATCH = 12  # divisible by 1, 2, 3 and 4 processes


def own_rows(batch: dict) -> dict[str, np.ndarray]:
    """This process's rows of each global array, with their global row numbers."""
    out = {}
    for field, array in batch.items():
        shards = sorted(array.addressable_shards, key=lambda s: s.index[0].start or 0)
        out[field] = np.concatenate([np.asarray(s.data) for s in shards])
    starts = [(s.index[0].start or 0, s.data.shape[0]) for s in shards]
    out["_row"] = np.concatenate([np.arange(a, a + n) for a, n in starts])
    return out


def stack(steps: list[dict]) -> dict[str, np.ndarray]:
    """Per-step dicts -> one array per field, with '_step' saying which step a row is."""
    out = {f: np.concatenate([s[f] for s in steps]) for f in steps[0]}
    out["_step"] = np.concatenate([np.full(len(s["_index"]), i) for i, s in enumerate(steps)])
    return out


def main(num_processes: int, process_id: int, port: int, out_dir: str, workers: int):
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                               num_processes=num_processes, process_id=process_id)
    from datarax.sharding import DataParallelSharder, ProcessSharder

    processes = ProcessSharder(num_processes=num_processes)
    report = {"index": processes.index, "count": processes.count,
              "devices": jax.device_count(), "local_devices": jax.local_device_count()}
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    sharder = DataParallelSharder(mesh, "data")

    pipeline = scenario.make_pipeline(batch_size=GLOBAL_BATCH, sharding=sharder,
                                      worker_count=workers, shard_by_process=processes)
    with pipeline:
        global_steps = [own_rows(batch) for batch in pipeline]
        data, meta = scenario.host_batch(GLOBAL_BATCH // num_processes)
        report["collectives"] = scenario.collectives_in(pipeline, data, meta, sharder)
    local = scenario.make_pipeline(batch_size=GLOBAL_BATCH, worker_count=workers)
    with local:
        local_steps = [{k: np.asarray(v) for k, v in b.items()} for b in local]
    report["indivisible_errors"] = []
    for attempt in (lambda: processes.local_batch_size(GLOBAL_BATCH + 1),
                    lambda: scenario.make_pipeline(batch_size=GLOBAL_BATCH + 1)):
        try:
            attempt()
        except ValueError as error:
            report["indivisible_errors"].append(str(error))
    try:
        ProcessSharder(num_processes=num_processes + 1)
        report["count_mismatch_error"] = None
    except ValueError as error:
        report["count_mismatch_error"] = str(error)

    results = {f"global/{k}": v for k, v in stack(global_steps).items()}
    results.update({f"local/{k}": v for k, v in stack(local_steps).items()})
    report["global_steps"], report["local_steps"] = len(global_steps), len(local_steps)
    np.savez(os.path.join(out_dir, f"process_{process_id}.npz"),
             report=json.dumps(report), **results)
    jax.distributed.shutdown()


if __name__ == "__main__":
    n, pid, port, out, workers = sys.argv[1:6]
    main(int(n), int(pid), int(port), out, int(workers))

"""Checkpoint cost: save / restore time of the pipeline state, and the loop stall.

    python -m benchmarks.checkpoint        # writes benchmarks/results/checkpoint.json

For datasets of 10^3, 10^5 and 10^7 records (a MemorySource of 32-float records behind a
shuffled pipeline with a stochastic and a learnable operator), it measures, median over
repeats: a synchronous save of the pipeline's checkpoint item (stream position + NNX
state), a restore into a fresh pipeline, and how long `save()` blocks the training loop
with sync and with async Orbax saves, beside the loop's own batch interval.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time

import flax.nnx as nnx
import jax
import numpy as np

from datarax import Pipeline
from datarax.checkpoint import Checkpointer
from datarax.operators import GaussianNoise, Normalize
from datarax.sources import MemorySource
from benchmarks.report import machine, write_results

SIZES = (10**3, 10**5, 10**7)
REPEATS = 5


def build(data):
    stages = [GaussianNoise(std=0.1, clip=False, fields="x", rngs=nnx.Rngs(augment=0)),
              Normalize(mean=0.5, std=0.25, fields="x", learnable=True)]
    return Pipeline(MemorySource(data), stages, batch_size=256, shuffle=True, seed=0,
                    num_epochs=None)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(n: int, folder: str) -> dict:
    # 32 floats a record, as tiny 4x4x2 images so that the image operators apply
    data = {"x": np.random.default_rng(0).random((n, 4, 4, 2), dtype=np.float32)}
    pipeline = build(data)
    it = iter(pipeline)
    for _ in range(5):
        jax.block_until_ready(next(it))
    interval = statistics.median(timed(lambda: jax.block_until_ready(next(it))) for _ in range(20))
    sync, async_block, async_total, restore = [], [], [], []
    for r in range(REPEATS):
        with Checkpointer(os.path.join(folder, f"sync{n}-{r}"), async_save=False) as ckpt:
            sync.append(timed(lambda: ckpt.save(1, it)))
            fresh = build(data)
            fresh_it = iter(fresh)
            restore.append(timed(lambda: ckpt.restore(fresh_it)))
            fresh.close()
        ckpt = Checkpointer(os.path.join(folder, f"async{n}-{r}"), async_save=True)
        start = time.perf_counter()
        ckpt.save(1, it)
        async_block.append(time.perf_counter() - start)
        ckpt.wait()
        async_total.append(time.perf_counter() - start)
        ckpt.close()
    pipeline.close()
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(
        os.path.join(folder, f"sync{n}-0")) for f in fs)
    row = {"records": n, "batch_interval_ms": 1e3 * interval,
           "save_sync_ms": 1e3 * statistics.median(sync),
           "restore_ms": 1e3 * statistics.median(restore),
           "save_async_blocks_loop_ms": 1e3 * statistics.median(async_block),
           "save_async_total_ms": 1e3 * statistics.median(async_total),
           "checkpoint_bytes": size}
    print(json.dumps(row), flush=True)
    return row


def main() -> dict:
    folder = tempfile.mkdtemp(prefix="datarax-ckpt-bench-")
    try:
        rows = [measure(n, folder) for n in SIZES]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results = {"machine": machine(), "rows": rows}
    write_results("checkpoint", results)
    return results


if __name__ == "__main__":
    main()

"""The NumPy bound: the whole dataset in memory, one thread, vectorised.

Reads every record once (one batched ArrayRecord read) and, where the scenario allows,
decodes them all at once (`scenario.bound_prepare`); then per batch: a fancy index by
the epoch's permutation, the scenario's vectorised augmentation, `jax.device_put`.
(CV-large keeps the JPEG bytes and decodes per batch: decoding is its work.) Nothing overlaps and nothing
is per record in Python: the speed a hand-written loop would reach. Not streaming.
"""

from __future__ import annotations

import numpy as np

from adapters import Loader, missing_modules, parse_absl_flags
from benchmarks.scenarios.base import read_all_records

NAME = "numpy_bound"
REQUIRES = ("numpy",)
STREAMING = False
DESCRIPTION = "NumPy, whole dataset decoded in memory, vectorised per batch, 1 thread"


def available() -> str | None:
    return missing_modules(*REQUIRES)


def build(scenario, worker_count: int = 0, seed: int = 0) -> Loader:
    del worker_count  # one thread by definition
    parse_absl_flags()
    data = scenario.bound_prepare(read_all_records(scenario.paths()))
    n, size = scenario.num_records, scenario.batch_size
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)

    def batches():
        for start in range(0, n, size):
            indices = order[start:start + size]
            yield scenario.bound_batch(data, indices, rng)

    return Loader(batches())

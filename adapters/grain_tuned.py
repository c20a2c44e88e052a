"""Grain, tuned by hand: batched reads and no read threads.

The epoch's shuffled indices are batched first, so each step reads its records with
ONE `ArrayRecordDataSource.__getitems__` call (about 8 us a record instead of ~100 us
for single reads); records are then decoded and augmented one by one in NumPy, and
stacked. `ReadOptions(num_threads=0)`: on 2 cores Grain's 16 read threads cost 2-3x.
"""

from __future__ import annotations

import numpy as np

from adapters import Loader, missing_modules, parse_absl_flags
from benchmarks.scenarios.base import stack

NAME = "grain_tuned"
REQUIRES = ("grain",)
STREAMING = True
DESCRIPTION = "Grain MapDataset, batched __getitems__ read, per-record augment, 0 read threads"


class _ReadBatch:
    """indices -> batch (picklable, so it runs in Grain's workers)."""

    def __init__(self, scenario, paths):
        self.scenario = scenario
        self.paths = paths
        self._source = None

    def __call__(self, indices, rng: np.random.Generator):
        if self._source is None:
            from grain.sources import ArrayRecordDataSource  # pylint: disable=import-outside-toplevel
            self._source = ArrayRecordDataSource(self.paths)
        records = self._source.__getitems__([int(i) for i in indices])
        return stack([self.scenario.augment_record(self.scenario.decode_record(r), rng)
                      for r in records])

    def __getstate__(self):
        return {"scenario": self.scenario, "paths": self.paths, "_source": None}


def available() -> str | None:
    return missing_modules(*REQUIRES)


def build(scenario, worker_count: int = 0, seed: int = 0) -> Loader:
    import grain  # pylint: disable=import-outside-toplevel

    parse_absl_flags()
    dataset = (grain.MapDataset.range(scenario.num_records)
               .shuffle(seed=seed)
               .batch(scenario.batch_size)
               .random_map(_ReadBatch(scenario, scenario.paths()), seed=seed))
    iter_dataset = dataset.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
    if worker_count > 0:
        iter_dataset = iter_dataset.mp_prefetch(
            grain.MultiprocessingOptions(num_workers=worker_count))
    iterator = iter(iter_dataset)
    return Loader(iterator, cleanup=getattr(iterator, "close", None))

"""The host side of a pipeline: which records make batch k, read as one batch.

The stream is a sequence of steps. Step k is epoch k // batches_per_epoch, and within
that epoch the global batch covers positions [j*B, (j+1)*B) of the epoch's permutation
(`datarax.core.sampler.EpochSampler`). Process p of P takes the p-th 1/P of those positions. So a batch's
records depend only on (seed, k): not on the worker count, and, across hosts, the global
batch of step k is the same set of records whatever the number of processes.

Each step is one item of a `grain.MapDataset`, so Grain's worker processes read and
decode whole batches (many records per call), and Grain hands them back in step order.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

import grain
import numpy as np

from datarax.core.data_source import DataSourceModule
from datarax.core.sampler import EpochSampler, EpochSamplerConfig

# One host batch: data {field: (b, ...)}, meta {'epoch','index': int32 (b,), 'valid':
# bool (b,)}, info {'step', 'num_valid', 'skipped'} as Python ints. b is the local batch
# size; rows past num_valid are zero padding, so every batch has one shape.
HostBatch = tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """Where each step's records sit in the stream.

    Attributes:
      num_records: records per epoch, N > 0.
      batch_size: the GLOBAL batch size B > 0, divisible by process_count.
      drop_remainder: drop each epoch's last, partial batch.
      num_epochs: epochs to run (None: forever).
      process_index, process_count: this process's share of every global batch.
    """

    num_records: int
    batch_size: int
    drop_remainder: bool = False
    num_epochs: int | None = 1
    process_index: int = 0
    process_count: int = 1

    def __post_init__(self):
        if not isinstance(self.batch_size, int) or self.batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if self.num_records <= 0:
            raise ValueError("the source is empty (0 records); a pipeline needs records")
        if self.num_epochs is not None and self.num_epochs <= 0:
            raise ValueError(
                f"num_epochs must be a positive int or None (forever), got {self.num_epochs!r}")
        if self.batch_size % self.process_count:
            raise ValueError(
                f"batch_size={self.batch_size} (the global batch) is not divisible by the "
                f"{self.process_count} JAX processes; pick a multiple of {self.process_count}")
        if self.drop_remainder and self.num_records < self.batch_size:
            raise ValueError(
                f"drop_remainder=True with batch_size={self.batch_size} > {self.num_records} "
                f"records leaves no batch at all; lower batch_size or keep the remainder")

    @property
    def local_batch_size(self) -> int:
        return self.batch_size // self.process_count

    @property
    def batches_per_epoch(self) -> int:
        if self.drop_remainder:
            return self.num_records // self.batch_size
        return math.ceil(self.num_records / self.batch_size)

    @property
    def total_steps(self) -> int:
        if self.num_epochs is None:
            return sys.maxsize
        return self.batches_per_epoch * self.num_epochs

    def locate(self, step: int) -> tuple[int, np.ndarray]:
        """(epoch, positions within the epoch) this process reads at `step`."""
        epoch, j = divmod(step, self.batches_per_epoch)
        start = j * self.batch_size + self.process_index * self.local_batch_size
        stop = min(start + self.local_batch_size, self.num_records)
        return epoch, np.arange(start, max(start, stop), dtype=np.int64)


class HostBatchReader:
    """`step -> HostBatch`: the picklable function Grain runs, in workers if any."""

    def __init__(self, source: DataSourceModule, plan: BatchPlan, shuffle: bool, seed: int):
        self.source = source
        self.plan = plan
        self.sampler = EpochSampler(EpochSamplerConfig(
            num_records=plan.num_records, shuffle=shuffle, seed=seed))

    def __call__(self, step: int) -> HostBatch:
        epoch, positions = self.plan.locate(step)
        indices = self.sampler(epoch, positions)
        read_checked = getattr(self.source, "read_batch_checked", None)
        if read_checked is not None:
            data, kept = read_checked(indices)
            indices = indices[kept]
        else:
            data = self.source.read_batch(indices)
        n, size = len(indices), self.plan.local_batch_size
        info = {"step": int(step), "num_valid": n, "skipped": len(positions) - n}
        meta = {
            "epoch": np.full(size, epoch, np.int32),
            "index": np.full(size, -1, np.int32),
            "valid": np.zeros(size, bool),
        }
        meta["index"][:n] = indices
        meta["valid"][:n] = True
        if n < size and data:
            data = {k: pad_rows(v, size) for k, v in data.items()}
        return data, meta, info


def pad_rows(array: np.ndarray, size: int) -> np.ndarray:
    padded = np.zeros((size,) + array.shape[1:], array.dtype)
    padded[: len(array)] = array
    return padded


def host_batches(reader: HostBatchReader, start_step: int, worker_count: int,
                 worker_buffer_size: int) -> Any:
    """A Grain iterator of host batches from `start_step` on, in step order."""
    if worker_count < 0:
        raise ValueError(f"worker_count must be >= 0, got {worker_count}")
    steps = grain.MapDataset.range(start_step, reader.plan.total_steps).map(reader)
    # Reading happens in whole batches already; Grain's per-element read threads would
    # only add contention on small machines (measured 2-3x slower with 16 threads).
    dataset = steps.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
    if worker_count > 0:
        dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(
            num_workers=worker_count, per_worker_buffer_size=worker_buffer_size))
    return iter(dataset)

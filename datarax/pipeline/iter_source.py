"""Host batches from a user's `grain.IterDataset` (with its own maps, filters, mixes).

A `grain.IterDataset` has no random access, so datarax cannot place records by global
index; it takes the user's stream as it is: Grain batches it (after any worker
processes fan in), datarax pads the last batch, transfers, and runs the device stages.
Record identity for operator keys is the record's position in the stream (epoch 0,
index = records delivered before it), so draws are reproducible for a given dataset.
The resumable state is Grain's own iterator state, taken after each batch.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import grain
import numpy as np

from datarax.core.batcher import stack_elements
from datarax.pipeline.host import HostBatch, pad_rows


class IterDatasetStream:
    """Turns an IterDataset into HostBatches; knows how to resume from a state.

    Args:
      dataset: the user's `grain.IterDataset` of dict records.
      batch_size: records per batch (this process's).
      drop_remainder: drop a final partial batch.
      worker_count: if > 0, Grain worker processes run the user's dataset
        (`mp_prefetch`) before batching in this process.
    """

    def __init__(self, dataset: grain.IterDataset, batch_size: int, drop_remainder: bool,
                 worker_count: int, worker_buffer_size: int):
        self.dataset = dataset
        self.batch_size = batch_size
        if worker_count > 0:
            dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(
                num_workers=worker_count, per_worker_buffer_size=worker_buffer_size))
        self._batched = dataset.batch(batch_size, drop_remainder=drop_remainder,
                                      batch_fn=_stack_records)

    def sample_batch(self) -> dict[str, np.ndarray]:
        """The first record as a batch of one, read in this process (no workers)."""
        iterator = iter(self.dataset)
        try:
            return _stack_records([next(iterator)])
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def describe(self) -> str:
        return f"IterDataset({self.dataset})"

    def batches(self, grain_state: Mapping[str, Any] | None, first_record: int,
                first_step: int) -> Iterator[HostBatch]:
        """Host batches from a resumed position; info carries the state after each."""
        iterator = iter(self._batched)
        if grain_state is not None:
            iterator.set_state(grain_state)
        position, step = first_record, first_step
        try:
            for data in iterator:
                n = len(next(iter(data.values())))
                meta = {
                    "epoch": np.zeros(self.batch_size, np.int32),
                    "index": np.full(self.batch_size, -1, np.int32),
                    "valid": np.zeros(self.batch_size, bool),
                }
                meta["index"][:n] = np.arange(position, position + n)
                meta["valid"][:n] = True
                if n < self.batch_size:
                    data = {k: pad_rows(v, self.batch_size) for k, v in data.items()}
                position += n
                info = {"step": step, "num_valid": n, "skipped": 0,
                        "grain_state": iterator.get_state(), "position": position}
                step += 1
                yield data, meta, info
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()


def _stack_records(records):
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(
                f"Pipeline: a record of the IterDataset is a {type(record).__name__}, not "
                f"a dict of arrays; map it to a dict first (record {i} of its batch)")
    return stack_elements(list(records))

"""Turns what a user passes as `source=` into a `DataSourceModule`."""

from __future__ import annotations

from typing import Any

import numpy as np

from datarax.core.batcher import stack_elements
from datarax.core.data_source import DataSourceModule


class RandomAccessSource(DataSourceModule):
    """Wraps any object with `__len__` and `__getitem__` (a Grain data source, a
    `grain.MapDataset`, a list of dicts). Records must be dicts of arrays; a source
    with `__getitems__` is read a batch per call."""

    def __init__(self, source: Any):
        super().__init__()
        self.inner = source

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int):
        return self.inner[index]

    def read_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return self.read_batch_checked(indices)[0]

    def read_batch_checked(self, indices: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(batch, kept): a `grain.MapDataset.filter` yields None for records it drops;
        they are left out of the batch and marked False in `kept`."""
        getitems = getattr(self.inner, "__getitems__", None)
        keys = [int(i) for i in indices]
        records = getitems(keys) if getitems is not None else [self.inner[i] for i in keys]
        kept = np.asarray([record is not None for record in records], bool)
        for record, index in zip(records, keys):
            if record is not None and not isinstance(record, dict):
                raise TypeError(
                    f"source record {index} is a {type(record).__name__}, not a dict of "
                    f"arrays; map it to a dict (e.g. {{'x': record}}) first")
        present = [r for r in records if r is not None]
        return (stack_elements(present) if present else {}), kept

    def describe(self) -> str:
        return f"{type(self.inner).__name__}(len={len(self)})"


def as_source(source: Any) -> DataSourceModule:
    """A `DataSourceModule` for `source`, or a clear error if it cannot be one."""
    if isinstance(source, DataSourceModule):
        return source
    if hasattr(source, "__len__") and hasattr(source, "__getitem__"):
        return RandomAccessSource(source)
    raise TypeError(
        f"Pipeline: source is a {type(source).__name__}; pass a datarax source "
        f"(MemorySource, ArrayRecordSource), a grain.MapDataset, or any object with "
        f"__len__ and __getitem__ returning dicts of arrays")

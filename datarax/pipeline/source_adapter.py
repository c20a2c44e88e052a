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
        getitems = getattr(self.inner, "__getitems__", None)
        keys = [int(i) for i in indices]
        records = getitems(keys) if getitems is not None else [self.inner[i] for i in keys]
        for record, index in zip(records, keys):
            if not isinstance(record, dict):
                raise TypeError(
                    f"source record {index} is a {type(record).__name__}, not a dict of "
                    f"arrays; map it to a dict (e.g. {{'x': record}}) first")
        return stack_elements(records)

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

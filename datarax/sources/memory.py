"""`MemorySource`: records held in memory as a dict of equally long arrays."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from datarax.core.data_source import DataSourceModule


class MemorySource(DataSourceModule):
    """Records are rows of in-memory arrays.

    Args:
      data: {field: array-like (N, ...)}; every field has the same length N > 0.
        Record i is {field: data[field][i]}; a batch read is one fancy-index per field.
    """

    def __init__(self, data: Mapping[str, Any]):
        super().__init__()
        if not isinstance(data, Mapping) or not data:
            raise ValueError(
                "MemorySource: data must be a non-empty dict of arrays, e.g. "
                "MemorySource({'x': np.zeros((10, 3)), 'y': np.arange(10)})")
        arrays = {name: np.asarray(value) for name, value in data.items()}
        lengths = {name: (a.shape[0] if a.ndim else None) for name, a in arrays.items()}
        if None in lengths.values() or len(set(lengths.values())) != 1:
            raise ValueError(
                f"MemorySource: every field needs the same leading length; got {lengths}")
        if next(iter(lengths.values())) == 0:
            raise ValueError("MemorySource: data is empty (0 records)")
        self._arrays = arrays

    def __len__(self) -> int:
        return len(next(iter(self._arrays.values())))

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {name: a[index] for name, a in self._arrays.items()}

    def read_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {name: a[indices] for name, a in self._arrays.items()}

    def describe(self) -> str:
        fields = ", ".join(f"{k}:{a.dtype}{list(a.shape[1:])}" for k, a in self._arrays.items())
        return f"MemorySource(len={len(self)}, {fields})"

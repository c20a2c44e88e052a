"""Batched random reads from a list of ArrayRecord files, straight from their readers.

ArrayRecord's Python data source (which Grain's `ArrayRecordDataSource` is) builds a
thread pool on every `__getitems__` call; for one batch of 64 records from one file
that cost ~1 ms, most of a TEXT batch's host time (measured on a 2-core CPU). Here a
batch is grouped by file with one `np.searchsorted` and each file is read with one
`ArrayRecordReader.read(positions)` call of the C++ reader, in this thread.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from array_record.python.array_record_module import ArrayRecordReader

# As ArrayRecord's random-access data source opens its readers: no read-ahead.
_READER_OPTIONS = "readahead_buffer_size:0"


class ArrayRecordFiles:
    """Random access to the records of `files`, counted across them in order.

    Readers open lazily and are not pickled, so the object travels to Grain's worker
    processes and each opens its own.
    """

    def __init__(self, files: Sequence[str]):
        self.files = list(files)
        lengths = [self._open(i).num_records() for i in range(len(self.files))]
        self.starts = np.cumsum([0] + lengths)  # file f holds [starts[f], starts[f+1])

    def _open(self, f: int) -> ArrayRecordReader:
        readers = self.__dict__.setdefault("_readers", {})
        if f not in readers:
            readers[f] = ArrayRecordReader(self.files[f], _READER_OPTIONS)
        return readers[f]

    def __len__(self) -> int:
        return int(self.starts[-1])

    def locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(file number, position in that file) of each global index."""
        files = np.searchsorted(self.starts, indices, side="right") - 1
        return files, indices - self.starts[files]

    def __getitem__(self, index: int) -> bytes:
        return self.read([index])[0]

    def read(self, indices: Sequence[int]) -> list[bytes]:
        """The records at `indices` (global), in that order."""
        indices = np.asarray(indices, np.int64)
        if len(indices) and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"ArrayRecordFiles: indices must be in [0, {len(self)}), got "
                             f"[{indices.min()}, {indices.max()}]")
        files, positions = self.locate(indices)
        records: list[bytes] = [b""] * len(indices)
        for f in np.unique(files):
            rows = np.flatnonzero(files == f)
            for row, record in zip(rows, self._open(int(f)).read(positions[rows].tolist())):
                records[row] = record
        return records

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_readers"}

"""Decoders that turn ArrayRecord bytes into arrays.

`FixedLayout` decodes records that are fixed-size concatenations of raw arrays. It is a
batch decoder: a whole batch is one `b"".join` and one `np.frombuffer`, no Python work
per field per record, which is what makes raw-bytes datasets fast to read.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class FixedLayout:
    """Fields packed back to back in every record, in the order given.

    Args:
      fields: {name: (shape, dtype)}, e.g. {'image': ((32, 32, 3), 'uint8'),
        'label': ((), 'int32')}. Each record is exactly the sum of their byte sizes.

    Calling it on a list of n records returns {name: array (n, *shape) of dtype}.
    `encode(element)` makes the bytes of one record, for writing files.
    """

    fields: dict

    def __post_init__(self):
        if not self.fields:
            raise ValueError("FixedLayout: fields must name at least one field")
        layout = []
        offset = 0
        for name, (shape, dtype) in self.fields.items():
            dtype = np.dtype(dtype)
            shape = tuple(shape)
            size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            layout.append((name, shape, dtype, offset, size))
            offset += size
        object.__setattr__(self, "_layout", tuple(layout))
        object.__setattr__(self, "record_size", offset)

    def __hash__(self):
        return hash(self._layout)

    def encode(self, element) -> bytes:
        """The record bytes of one element {name: array of the field's shape}."""
        parts = []
        for name, shape, dtype, _, _ in self._layout:
            value = np.asarray(element[name], dtype=dtype)
            if value.shape != shape:
                raise ValueError(
                    f"FixedLayout.encode: field {name!r} has shape {value.shape}, "
                    f"the layout says {shape}")
            parts.append(value.tobytes())
        return b"".join(parts)

    def __call__(self, records: Sequence[bytes]) -> dict[str, np.ndarray]:
        n = len(records)
        blob = b"".join(records)
        if len(blob) != n * self.record_size:
            sizes = sorted({len(r) for r in records})
            raise ValueError(
                f"FixedLayout: records must be {self.record_size} bytes each, got "
                f"sizes {sizes[:5]}")
        rows = np.frombuffer(blob, np.uint8).reshape(n, self.record_size)
        out = {}
        for name, shape, dtype, offset, size in self._layout:
            # .copy() gives an aligned, writable array that owns its memory.
            field = rows[:, offset:offset + size].copy().view(dtype)
            out[name] = field.reshape((n,) + shape)
        return out

"""Data sources: random-access collections of records (tier 2B).

A source has a length and returns records by global index. `read_batch(indices)`
returns a whole batch as a dict of NumPy arrays with a leading batch axis; sources
whose format allows it override it to read and decode many records per call, which is
where host-side speed comes from. Sources run on the host, in Grain's worker
processes when there are any, so they must pickle. The records a source holds are
data to read, not NNX state, so sources are not NNX pytrees (`pytree=False`): they can
keep arrays, lists and file handles as plain attributes.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from datarax.core.batcher import stack_elements
from datarax.core.structural import StructuralModule

log = logging.getLogger("datarax")


class DataSourceModule(StructuralModule, pytree=False):
    """A random-access source of records, each a dict of NumPy arrays."""

    def __init_subclass__(cls, *, pytree: bool = False, **kwargs):
        # Every source, not only this base, keeps its records as plain attributes.
        super().__init_subclass__(pytree=pytree, **kwargs)

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__()")

    def __getitem__(self, index: int) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__()")

    def read_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Records at `indices` (int64 (n,)) as {field: array (n, ...)}."""
        return stack_elements([self[int(i)] for i in indices])

    def process(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return self.read_batch(indices)

    def describe(self) -> str:
        """A short, stable description used to tell one source from another."""
        return f"{type(self).__name__}(len={len(self)})"


def decode_each(items: Sequence[Hashable], decode_one: Callable[[Any], Any],
                describe: Callable[[Any], str], on_error: str, owner: str):
    """The slow path after a batch failed to decode: one record at a time.

    Returns (decoded records, kept: bool (n,)). A record that fails raises a
    `ValueError` naming it (`describe(item)`) with on_error='raise', or is skipped,
    logged and marked False in `kept` with on_error='skip'.
    """
    good, kept = [], []
    for item in items:
        try:
            good.append(decode_one(item))
            kept.append(True)
        except Exception as error:  # pylint: disable=broad-except
            message = f"{describe(item)} failed to decode: {type(error).__name__}: {error}"
            if on_error == "raise":
                raise ValueError(f"{owner}: {message}. Pass on_error='skip' to count and "
                                 f"skip such records.") from error
            log.warning("%s: skipping %s", owner, message)
            kept.append(False)
    return good, np.asarray(kept, bool)

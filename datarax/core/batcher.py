"""Batchers: group elements into batches (tier 2B).

Inside a `Pipeline` batches are formed on the host by reading whole batches of records
(see `datarax.pipeline.host`); a `BatcherModule` is the same idea for a plain stream of
elements, e.g. `batcher(elements, batch_size=32)`.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from datarax.core.structural import StructuralModule


class BatcherModule(StructuralModule):
    """Groups a stream of elements into batches; `batch_size` is a call argument."""

    def process(self, elements: Iterable[Any], *args, batch_size: int,
                drop_remainder: bool = False, **kwargs) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement process()")


def stack_elements(elements: list[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Stacks a list of element dicts into one dict of arrays with a batch axis."""
    if not elements:
        raise ValueError("stack_elements: no elements to stack")
    fields = list(elements[0])
    for i, element in enumerate(elements):
        if list(element) != fields:
            raise ValueError(
                f"stack_elements: element {i} has fields {sorted(element)}, "
                f"element 0 has {sorted(fields)}")
    return {f: np.stack([np.asarray(e[f]) for e in elements]) for f in fields}


class DictBatcher(BatcherModule):
    """Stacks element dicts into batch dicts: {field: array (batch_size, ...)}."""

    def process(self, elements, *args, batch_size: int, drop_remainder: bool = False,
                **kwargs):
        if batch_size <= 0:
            raise ValueError(f"DictBatcher: batch_size must be positive, got {batch_size}")
        pending = []
        for element in elements:
            pending.append(element)
            if len(pending) == batch_size:
                yield stack_elements(pending)
                pending = []
        if pending and not drop_remainder:
            yield stack_elements(pending)

"""Tier 2B: `StructuralModule`, the base of modules that organise data.

A structural module changes how data is arranged (read, sampled, batched, sharded),
never its values in a learnable way. Its config is frozen; `__call__` delegates to
`process`.
"""

from __future__ import annotations

from typing import Any

import flax.nnx as nnx

from datarax.core.config import DataraxConfig, OperatorConfig, StructuralConfig
from datarax.core.module import DataraxModule

__all__ = ["StructuralModule", "StructuralConfig", "OperatorConfig", "DataraxConfig"]


class StructuralModule(DataraxModule):
    """A non-parametric module with a frozen `StructuralConfig`."""

    def __init__(self, config: StructuralConfig | None = None, *,
                 rngs: nnx.Rngs | None = None, **kwargs):
        super().__init__(config if config is not None else StructuralConfig(),
                         rngs=rngs, **kwargs)

    def process(self, *args, **kwargs) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement process()")

    def __call__(self, *args, **kwargs) -> Any:
        return self.process(*args, **kwargs)

"""Frozen configuration values for every datarax module.

A config is made once, validated once, and never changes: the structure of a pipeline
(what is random, which statistics are tracked) is known before the first batch.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class DataraxConfig:
    """What every module shares: randomness, statistics and caching.

    Attributes:
      stochastic: whether the module draws randomness.
      stream_name: the `nnx.Rngs` stream the module's key comes from; required exactly
        when `stochastic` is true.
      stats_fields: batch fields whose running mean and variance (per feature, over the
        batch axis) the module tracks in NNX state.
      stats_max_batches: stop updating the statistics after this many batches (None:
        keep updating forever). Statistics "over the first N batches" freeze here.
      cache_size: how many processed results `DataraxModule.cached` keeps (0: off).
    """

    stochastic: bool = False
    stream_name: str | None = None
    stats_fields: tuple[str, ...] = ()
    stats_max_batches: int | None = None
    cache_size: int = 0

    def __post_init__(self):
        name = type(self).__name__
        if self.stochastic and not self.stream_name:
            raise ValueError(
                f"{name}(stochastic=True) needs a stream_name, e.g. "
                f"{name}(stochastic=True, stream_name='augment')")
        if self.stream_name is not None and not isinstance(self.stream_name, str):
            raise ValueError(
                f"{name}: stream_name must be a string, got {self.stream_name!r}")
        if isinstance(self.stats_fields, str):
            # A lone string is a common slip for a one-field tuple; accept it as one.
            object.__setattr__(self, "stats_fields", (self.stats_fields,))
        else:
            object.__setattr__(self, "stats_fields", tuple(self.stats_fields))
        if self.stats_max_batches is not None and self.stats_max_batches < 1:
            raise ValueError(
                f"{name}: stats_max_batches must be a positive number of batches or "
                f"None, got {self.stats_max_batches!r}")
        if self.cache_size < 0:
            raise ValueError(
                f"{name}: cache_size must be >= 0 (0 turns caching off), "
                f"got {self.cache_size!r}")


@dataclasses.dataclass(frozen=True)
class OperatorConfig(DataraxConfig):
    """Configuration of an `OperatorModule` (tier 2A)."""


@dataclasses.dataclass(frozen=True)
class StructuralConfig(DataraxConfig):
    """Configuration of a `StructuralModule` (tier 2B): static, known before the run."""

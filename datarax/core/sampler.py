"""Samplers: which record stands at each position of each epoch (tier 2B).

`EpochSampler` delegates the permutation to Grain's Feistel `index_shuffle` with the
same per-epoch seed as `grain.MapDataset.shuffle(seed)`: O(1) memory, a fresh
permutation every epoch, and the same order Grain itself would give.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from grain.experimental import index_shuffle

from datarax.core.config import StructuralConfig
from datarax.core.structural import StructuralModule


class SamplerModule(StructuralModule):
    """Maps positions in the stream to record indices."""


@dataclasses.dataclass(frozen=True)
class EpochSamplerConfig(StructuralConfig):
    """Attributes:
      num_records: records per epoch (> 0).
      shuffle: permute the records each epoch.
      seed: the shuffle seed (an int); epoch e uses Grain's seed (seed + e) mod 2**32.
    """
    num_records: int = 0
    shuffle: bool = False
    seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        if self.num_records <= 0:
            raise ValueError(
                f"EpochSamplerConfig: the source is empty (num_records="
                f"{self.num_records}); a pipeline needs at least one record")


class EpochSampler(SamplerModule):
    """Record indices for positions within an epoch: identity or Grain's shuffle."""

    def __init__(self, config: EpochSamplerConfig):
        super().__init__(config)

    def process(self, epoch: int, positions: np.ndarray) -> np.ndarray:
        """Record indices (int64, same shape as `positions`) for one epoch."""
        if not self.config.shuffle:
            return positions.astype(np.int64)
        seed = (self.config.seed + epoch) % 2**32
        last = self.config.num_records - 1
        return np.fromiter(
            (index_shuffle(int(p), max_index=last, seed=seed, rounds=4) for p in positions),
            dtype=np.int64, count=len(positions))

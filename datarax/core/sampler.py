"""Samplers: which record stands at each position of each epoch (tier 2B).

`EpochSampler` permutes with a keyed Feistel network evaluated on a whole batch of
positions at once (`datarax.core.feistel`): O(1) memory and a fresh permutation every
epoch, the same idea as Grain's `index_shuffle`. Why not Grain's own: it maps one index
per call, measured 0.96 ms per batch of 256 against 0.11 ms here (2-core CPU), about
a sixth of a CV-small epoch's host time. The order therefore differs from
`grain.MapDataset.shuffle`; `datarax.DataLoader` keeps Grain's exact order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from datarax.core import feistel
from datarax.core.config import StructuralConfig
from datarax.core.structural import StructuralModule


class SamplerModule(StructuralModule):
    """Maps positions in the stream to record indices."""


@dataclasses.dataclass(frozen=True)
class EpochSamplerConfig(StructuralConfig):
    """Attributes:
      num_records: records per epoch (> 0).
      shuffle: permute the records each epoch.
      seed: the shuffle seed (an int); epoch e is keyed on (seed + e) mod 2**32.
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
        return feistel.permute(positions, self.config.num_records, seed)

"""`ProcessSharder`: this JAX process's share of the data, from Grain.

The process index and count come from Grain's `ShardByJaxProcess` (which asks
`jax.process_index()` / `jax.process_count()`), so they are right only after
`jax.distributed.initialize()`. A pipeline splits every GLOBAL batch among processes:
process p of P reads rows [p*B/P, (p+1)*B/P) of the global batch of B records. The
global batch of step k is therefore the same set of records for any number of processes,
and over an epoch the processes read disjoint slices whose union is the whole epoch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import grain
import jax
import numpy as np

from datarax.core.config import StructuralConfig
from datarax.core.sharder import SharderModule


@dataclasses.dataclass(frozen=True)
class ProcessSharderConfig(StructuralConfig):
    """Attributes:
      num_processes: how many JAX processes the run must have (None: whatever
        `jax.process_count()` says). Asking for more than one makes a process that
        forgot `jax.distributed.initialize()` fail loudly instead of silently reading
        everything as "process 0 of 1".
    """
    num_processes: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.num_processes is not None and (
                not isinstance(self.num_processes, int) or self.num_processes < 1):
            raise ValueError(
                f"ProcessSharder: num_processes must be a positive int or None, got "
                f"{self.num_processes!r}")


class ProcessSharder(SharderModule):
    """This process's (index, count) and its share of every global batch.

    Args:
      num_processes: the process count the run must have (None: no check).

    Attributes:
      shard_options: Grain's `ShardByJaxProcess` for this process, for Grain APIs that
        take `shard_options` (e.g. `grain.DataLoader`).

    Raises:
      RuntimeError: `num_processes > 1` but `jax.distributed` is not initialised.
      ValueError: `jax.distributed` runs a different number of processes.

    Example:
      >>> sharder = ProcessSharder()
      >>> sharder.index, sharder.count
      (0, 1)
      >>> sharder.local_batch_size(32)
      32
    """

    def __init__(self, num_processes: int | None = None):
        config = ProcessSharderConfig(num_processes=num_processes)
        if (num_processes or 1) > 1 and not jax.distributed.is_initialized():
            raise RuntimeError(
                f"ProcessSharder(num_processes={num_processes}): jax.distributed is not "
                f"initialised, so this process would read the data as process 0 of 1. "
                f"Call jax.distributed.initialize(coordinator_address=..., "
                f"num_processes={num_processes}, process_id=...) (or with no arguments "
                f"on a cluster JAX detects) at the top of your `if __name__ == "
                f"'__main__':` block, before building a pipeline or any other JAX call.")
        super().__init__(config)
        # Grain's options: the same (index, count) Grain's own sources would shard by.
        self.shard_options = grain.sharding.ShardByJaxProcess()
        if num_processes is not None and self.shard_options.shard_count != num_processes:
            raise ValueError(
                f"ProcessSharder(num_processes={num_processes}): jax.distributed runs "
                f"{self.shard_options.shard_count} processes. Launch {num_processes} "
                f"processes or pass num_processes={self.shard_options.shard_count}.")

    @property
    def index(self) -> int:
        """This process's index, in [0, count)."""
        return self.shard_options.shard_index

    @property
    def count(self) -> int:
        """The number of JAX processes."""
        return self.shard_options.shard_count

    def local_batch_size(self, global_batch_size: int) -> int:
        """Records this process assembles per step: `global_batch_size / count`."""
        if global_batch_size % self.count:
            raise ValueError(
                f"ProcessSharder: the global batch_size={global_batch_size} is not "
                f"divisible by the {self.count} JAX processes; pick a multiple of "
                f"{self.count} (e.g. {global_batch_size - global_batch_size % self.count or self.count})")
        return global_batch_size // self.count

    def local_rows(self, global_batch_size: int) -> slice:
        """The rows of a global batch this process reads: [p*b, (p+1)*b)."""
        local = self.local_batch_size(global_batch_size)
        return slice(self.index * local, (self.index + 1) * local)

    def process(self, global_batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """This process's rows of a host batch dict {field: (B, ...)}."""
        sizes = {k: np.shape(v)[0] for k, v in global_batch.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"ProcessSharder: fields disagree on the batch size: {sizes}")
        rows = self.local_rows(next(iter(sizes.values())))
        return {k: v[rows] for k, v in global_batch.items()}

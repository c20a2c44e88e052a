"""PyTorch's DataLoader over a map-style dataset of ArrayRecord records.

The dataset's `__getitems__` reads a whole batch of records in one ArrayRecord call
(the tuned read; DataLoader uses it when a dataset has one), then decodes and augments
each record in NumPy; the default collate stacks them into tensors, which go to the
device through NumPy. Shuffling is DataLoader's (seeded RandomSampler); worker
processes are DataLoader's `num_workers`, each with its own seeded NumPy generator.
"""

from __future__ import annotations

import numpy as np

from adapters import Loader, missing_modules, parse_absl_flags

NAME = "torch"
REQUIRES = ("torch", "grain")
STREAMING = True
DESCRIPTION = "PyTorch DataLoader, map-style, batched __getitems__ read, per-record augment"


class ArrayRecordDataset:
    """A map-style dataset (PyTorch only needs __len__/__getitem__/__getitems__)."""

    def __init__(self, scenario, paths, seed: int):
        self.scenario = scenario
        self.paths = paths
        self.seed = seed
        self._source = None
        self._rng = np.random.default_rng(seed)

    def _reader(self):
        if self._source is None:
            from grain.sources import ArrayRecordDataSource  # pylint: disable=import-outside-toplevel
            parse_absl_flags()
            self._source = ArrayRecordDataSource(self.paths)
        return self._source

    def __len__(self) -> int:
        return self.scenario.num_records

    def _transform(self, record: bytes):
        return self.scenario.augment_record(self.scenario.decode_record(record), self._rng)

    def __getitem__(self, index: int):
        return self._transform(self._reader()[int(index)])

    def __getitems__(self, indices):
        return [self._transform(r) for r in self._reader().__getitems__([int(i) for i in indices])]

    def seed_worker(self, worker_id: int) -> None:
        self._rng = np.random.default_rng([self.seed, worker_id])

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_source"] = None
        return state


def available() -> str | None:
    return missing_modules(*REQUIRES)


def build(scenario, worker_count: int = 0, seed: int = 0) -> Loader:
    import torch  # pylint: disable=import-outside-toplevel
    from torch.utils.data import DataLoader  # pylint: disable=import-outside-toplevel

    torch.set_num_threads(1)
    dataset = ArrayRecordDataset(scenario, scenario.paths(), seed)
    loader = DataLoader(
        dataset, batch_size=scenario.batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(seed), num_workers=worker_count,
        worker_init_fn=dataset.seed_worker if worker_count else None,
        persistent_workers=False)
    iterator = iter(loader)

    def cleanup():
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()

    return Loader(iterator, to_host=lambda b: {k: v.numpy() for k, v in b.items()},
                  cleanup=cleanup)

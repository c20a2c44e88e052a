"""What every benchmark scenario provides: data on disk and its transforms in each idiom.

A scenario owns its data (generated deterministically into a cache folder) and says
what a loader must do with it: the host decode (per record and per batch), the
augmentation written per record in NumPy (Grain, PyTorch), vectorised over a batch in
NumPy (the bound), as `tf.data` ops, and as datarax device operators (a declarative
list that `adapters.datarax_loader` turns into `OperatorModule`s). Adapters supply the
loading machinery; scenarios supply the work, so every row of a table does the same
work.

With `augment=False` every random step takes a fixed value (a centre crop, no flip):
the outputs are then deterministic and comparable across loaders (the conformance test).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import numpy as np

DATA_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")

Batch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A dataset plus the per-record work a loader does on it, for one epoch.

    Attributes:
      num_records: records in the dataset (one epoch).
      batch_size: records per batch; the last, partial batch is kept.
      augment: random transforms on (True) or fixed to their deterministic value.
      data_dir: where the generated files go (default benchmarks/data/).
    """

    num_records: int
    batch_size: int
    augment: bool = True
    data_dir: str = DATA_ROOT

    name = "scenario"

    @property
    def device_ops(self) -> Sequence[tuple]:
        """datarax's device work: ('crop', h, w, random), ('flip', random), ..."""
        return ()

    # ---- data --------------------------------------------------------------------

    @property
    def folder(self) -> str:
        return os.path.join(self.data_dir, f"{self.name}-{self.num_records}")

    def paths(self) -> list[str]:
        """The ArrayRecord files, written (deterministically) on first use."""
        path = os.path.join(self.folder, "data.array_record")
        if not os.path.exists(path):
            os.makedirs(self.folder, exist_ok=True)
            tmp = path + ".tmp"
            write_array_record(tmp, self.generate_records())
            os.replace(tmp, path)
        return [path]

    def generate_records(self):
        """Yields the bytes of every record, in order."""
        raise NotImplementedError

    # ---- host work ---------------------------------------------------------------

    def decode_record(self, record: bytes) -> Batch:
        raise NotImplementedError

    def decode_batch(self, records: Sequence[bytes]) -> Batch:
        return stack([self.decode_record(r) for r in records])

    def augment_record(self, record: Batch, rng: np.random.Generator) -> Batch:
        """The whole per-record transform after decode, in NumPy (Grain, PyTorch)."""
        raise NotImplementedError

    def augment_batch(self, batch: Batch, rng: np.random.Generator) -> Batch:
        """The same transform vectorised over a batch (the NumPy bound)."""
        return stack([self.augment_record({k: v[i] for k, v in batch.items()}, rng)
                      for i in range(len(next(iter(batch.values()))))])

    def bound_prepare(self, records: list[bytes]) -> Any:
        """The NumPy bound's in-memory dataset, made once: by default all decoded."""
        return self.decode_batch(records)

    def bound_batch(self, prepared: Any, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        """The NumPy bound's batch: by default a fancy index and `augment_batch`."""
        return self.augment_batch({k: v[indices] for k, v in prepared.items()}, rng)

    def tf_map(self, record: Any, seed: int) -> Any:
        """decode + transform of one record as TensorFlow ops (tf.data's map)."""
        raise NotImplementedError

    def datarax_source(self, seed: int):
        """The datarax source; host-side random work (if any) lives here."""
        from datarax.sources import ArrayRecordSource  # pylint: disable=import-outside-toplevel
        return ArrayRecordSource(self.paths(), decode_batch=self.decode_batch)

    # ---- checking ----------------------------------------------------------------

    def record_keys(self, batch: Batch) -> list[bytes]:
        """One identity per output row, exact across loaders (for the conformance test)."""
        raise NotImplementedError


def stack(records: list[Batch]) -> Batch:
    return {k: np.stack([r[k] for r in records]) for k in records[0]}


def write_array_record(path: str, records) -> None:
    from array_record.python.array_record_module import ArrayRecordWriter  # pylint: disable=import-outside-toplevel

    writer = ArrayRecordWriter(path, "group_size:1")
    for record in records:
        writer.write(record)
    writer.close()


def read_all_records(paths: Sequence[str]) -> list[bytes]:
    """Every record's bytes, in file order (for loaders that preload the dataset).

    One sequential read per file: several times faster than random-access reads.
    """
    from array_record.python.array_record_module import ArrayRecordReader  # pylint: disable=import-outside-toplevel

    records: list[bytes] = []
    for path in paths:
        reader = ArrayRecordReader(path, "readahead_buffer_size:16777216,max_parallelism:1")
        records.extend(reader.read(0, reader.num_records()))
        reader.close()
    return records

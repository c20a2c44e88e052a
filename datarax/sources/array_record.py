"""`ArrayRecordSource`: records from ArrayRecord files, read and decoded in batches.

Files are named one by one, by glob, or by sharded name: `data/train@10` stands for
`data/train-00000-of-00010` ... `data/train-00009-of-00010` (TFDS and Beam spell
shards so). Shards named either way must all be there: a missing shard is an error,
not a silently smaller dataset.

Reading goes to ArrayRecord's C++ readers, one `read(positions)` call per file per
batch (`datarax.sources.array_record_files`). Decoding is either per record (`decode`)
or per batch (`decode_batch`).
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any, Callable, Sequence

import numpy as np

from datarax.core.batcher import stack_elements
from datarax.core.data_source import DataSourceModule, decode_each
from datarax.sources.array_record_files import ArrayRecordFiles


Decode = Callable[[bytes], dict[str, Any]]
DecodeBatch = Callable[[Sequence[bytes]], dict[str, np.ndarray]]


_SHARD_COUNT = re.compile(r"^(?P<prefix>.+)@(?P<count>\d+)$")
_SHARD_NAME = re.compile(r"^(?P<prefix>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})$")


def shard_names(spec: str) -> list[str] | None:
    """`prefix@N` -> ['prefix-00000-of-0000N', ...]; None if `spec` is not one."""
    match = _SHARD_COUNT.match(spec)
    if match is None:
        return None
    count = int(match["count"])
    if count <= 0:
        raise ValueError(f"sharded name {spec!r} needs a shard count > 0")
    return [f"{match['prefix']}-{i:05d}-of-{count:05d}" for i in range(count)]


def check_shards_complete(files: Sequence[str], owner: str, named: str) -> None:
    """Every `prefix-IIIII-of-NNNNN` set among `files` has all N of its shards."""
    sets: dict[tuple[str, int], set[int]] = {}
    for name in files:
        match = _SHARD_NAME.match(name)
        if match is not None:
            key = (match["prefix"], int(match["count"]))
            sets.setdefault(key, set()).add(int(match["index"]))
    for (prefix, count), present in sets.items():
        missing = sorted(set(range(count)) - present)
        if missing:
            shown = ", ".join(f"{prefix}-{i:05d}-of-{count:05d}" for i in missing[:3])
            raise FileNotFoundError(
                f"{owner}: {named!r} is a dataset of {count} shards but {len(missing)} "
                f"are missing ({shown}{', ...' if len(missing) > 3 else ''}). Copy the "
                f"missing shards, or name the files you mean one by one.")


def expand_paths(paths: str | os.PathLike | Sequence[str | os.PathLike], owner: str) -> list[str]:
    """Files named by `paths`: one path, a glob, a sharded name (`name@10`), or a list
    of them; sorted per glob; a sharded set with a missing shard is an error."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise ValueError(f"{owner}: paths is empty; pass a file, a glob or a list of files")
    files: list[str] = []
    for item in items:
        item = os.fspath(item)
        shards = None if os.path.isfile(item) else shard_names(item)
        if shards is not None:
            present = [s for s in shards if os.path.isfile(s)]
            if len(present) < len(shards):
                missing = [s for s in shards if s not in present]
                raise FileNotFoundError(
                    f"{owner}: {item!r} names {len(shards)} shards but {len(missing)} "
                    f"are missing (e.g. {missing[0]!r}; cwd: {os.getcwd()}). Copy the "
                    f"missing shards, or name the files you mean one by one.")
            files.extend(shards)
        elif glob.has_magic(item):
            matched = sorted(glob.glob(item))
            if not matched:
                raise FileNotFoundError(
                    f"{owner}: {item!r} matched no files (cwd: {os.getcwd()}). Pass "
                    f"existing files or a glob that matches some.")
            check_shards_complete(matched, owner, item)
            files.extend(matched)
        elif not os.path.isfile(item):
            raise FileNotFoundError(
                f"{owner}: no such file {item!r} (cwd: {os.getcwd()}). Pass existing "
                f"files or a glob that matches some.")
        else:
            files.append(item)
    return files


class ArrayRecordSource(DataSourceModule):
    """Records of one or more ArrayRecord files, decoded into dicts of NumPy arrays.

    Args:
      paths: a file, a glob (`data/train-*.array_record`), a sharded name
        (`data/train.array_record@10`) or a list of them. Files are concatenated in
        order: global index i is counted across them.
      decode: `fn(record_bytes) -> {field: array}` for one record, e.g. a user
        function or `TFDSExampleDecoder(features)` for TFDS-serialised examples.
      decode_batch: `fn(list_of_record_bytes) -> {field: array (n, ...)}`; preferred
        when the format allows it (e.g. `FixedLayout`), as it costs no Python per
        record. Pass exactly one of `decode` and `decode_batch`.
      on_error: 'raise' (default): a record that fails to decode raises an error that
        names its file and index there; 'skip': it is dropped, counted and logged.
    """

    def __init__(self, paths, *, decode: Decode | None = None,
                 decode_batch: DecodeBatch | None = None, on_error: str = "raise"):
        super().__init__()
        if (decode is None) == (decode_batch is None):
            raise ValueError(
                "ArrayRecordSource: pass exactly one of decode= (one record's bytes -> "
                "dict of arrays) or decode_batch= (list of bytes -> dict of stacked "
                "arrays), e.g. decode_batch=datarax.sources.FixedLayout({...})")
        if on_error not in ("raise", "skip"):
            raise ValueError(
                f"ArrayRecordSource: on_error must be 'raise' or 'skip', got {on_error!r}")
        self.files = expand_paths(paths, "ArrayRecordSource")
        self._decode = decode
        self._decode_batch = decode_batch
        self.on_error = on_error
        self._reader = ArrayRecordFiles(self.files)
        if len(self._reader) == 0:
            raise ValueError(f"ArrayRecordSource: the files hold no records: {self.files}")

    def __len__(self) -> int:
        return len(self._reader)

    def locate(self, index: int) -> tuple[str, int]:
        """(file name, index within that file) of global record `index`."""
        files, positions = self._reader.locate(np.asarray([index]))
        return self.files[int(files[0])], int(positions[0])

    def _decode_records(self, records: Sequence[bytes]) -> dict[str, np.ndarray]:
        if self._decode_batch is not None:
            return self._decode_batch(records)
        return stack_elements([self._decode(r) for r in records])

    def __getitem__(self, index: int) -> dict[str, Any]:
        batch, kept = self.read_batch_checked(np.asarray([index]))
        if not kept[0]:
            path, local = self.locate(int(index))
            raise ValueError(
                f"ArrayRecordSource: record {local:,} of {os.path.basename(path)!r} "
                f"(global index {int(index):,}) failed to decode and on_error='skip'; "
                f"one-record reads (grain.DataLoader, source[i]) cannot skip. Read it "
                f"through datarax.Pipeline, which skips and counts such records.")
        return {k: v[0] for k, v in batch.items()}

    def read_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return self.read_batch_checked(indices)[0]

    def read_batch_checked(self, indices: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Reads and decodes `indices`; returns (batch, kept) with `kept` a bool mask.

        With on_error='skip', records that fail to decode are left out of the batch and
        marked False in `kept`; with 'raise', the first one raises a `ValueError`.
        """
        records = self._reader.read(indices)
        try:
            return self._decode_records(records), np.ones(len(indices), bool)
        except Exception:  # pylint: disable=broad-except
            # Find the culprit(s) one record at a time; this is the rare, slow path.
            pass
        def describe(item):
            path, local = self.locate(int(item[0]))
            return (f"record {local:,} of {os.path.basename(path)!r} (global index "
                    f"{int(item[0]):,})")

        good, kept = decode_each(list(zip(indices, records)),
                                 lambda item: self._decode_records([item[1]]), describe,
                                 self.on_error, "ArrayRecordSource")
        if not good:
            return {}, kept
        return {k: np.concatenate([g[k] for g in good]) for k in good[0]}, kept

    def describe(self) -> str:
        names = [os.path.basename(f) for f in self.files]
        return f"ArrayRecordSource(len={len(self)}, files={names})"

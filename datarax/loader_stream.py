"""Where a `datarax.DataLoader`'s elements come from: its two streams, as generators of
(element, metadata, position after the element).

  - `grain_items`: Grain's own `DataLoaderIterator` (stream='grain'); the position is
    {'position': records yielded, 'grain': Grain's iterator state}.
  - `build_invariant_stream`: the worker-count-invariant stream (stream='invariant');
    the position is {'position': the next record of this shard in the sampler's order}.
  - `input_spec`: the shapes and dtypes of one element, read in this process (no
    worker processes), for preparing the stages' state before any batch.

Metadata is {'epoch', 'index', 'valid'}, one int32/int32/bool entry per record of the
element. Internal to `datarax.loader`; users import `datarax.DataLoader`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import grain
import jax
import numpy as np
from grain._src.python import data_loader as grain_data_loader
from grain._src.python import record as grain_record
from grain._src.python.dataset.transformations.batch import make_batch

from datarax.pipeline.grain_runtime import claim_shared_memory

if TYPE_CHECKING:
    from datarax.loader import DataLoader


def grain_items(iterator, position: int):
    """(element, stream-position metadata, position after it) from a Grain iterator.

    Grain's state is read right after each element, in the thread that pulls it, so it
    belongs to that element even when a prefetch thread reads ahead of the consumer.
    """
    for element in iterator:
        claim_shared_memory_tree(element)
        size = _leading_size(element)
        index = (np.arange(position, position + size, dtype=np.int64) % 2**31).astype(np.int32)
        position += size
        yield element, _meta(index), {
            "position": position, "grain": json.loads(iterator.get_state())}


def input_spec(loader: DataLoader) -> tuple[Any, dict[str, jax.ShapeDtypeStruct]]:
    """(element spec, metadata spec) of the loader's first element, as the stages see it.

    The element is read through the data source and every operation by an in-process
    `grain.DataLoader` (no workers, no read threads), so it costs one batch of reads.
    Dtypes are those of the element once on the device (int64 -> int32 without x64).
    """
    reader = grain.DataLoader(
        data_source=loader.data_source, sampler=loader.sampler,
        operations=loader.operations, worker_count=0, shard_options=loader.shard_options,
        read_options=grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
    iterator = iter(reader)
    try:
        element = next(iterator)
    except StopIteration:
        raise ValueError(
            f"DataLoader: the sampler yields no records ({loader.sampler!r}), so the "
            f"stages' state cannot be prepared; use a sampler over some records") from None
    finally:
        close = getattr(getattr(iterator, "_iterator", None), "close", None)
        if close is not None:
            close()

    def spec(leaf):
        array = np.asarray(leaf)
        return jax.ShapeDtypeStruct(array.shape, jax.dtypes.canonicalize_dtype(array.dtype))

    meta = _meta(np.zeros(_leading_size(element), np.int32))
    return jax.tree.map(spec, element), jax.tree.map(spec, meta)

def _meta(index: np.ndarray) -> dict[str, np.ndarray]:
    return {"epoch": np.zeros(len(index), np.int32), "index": index,
            "valid": np.ones(len(index), bool)}


def _leading_size(element: Any) -> int:
    leaves = jax.tree.leaves(element)
    return int(np.shape(leaves[0])[0]) if leaves and np.ndim(leaves[0]) else 1


def claim_shared_memory_tree(element: Any) -> None:
    """`claim_shared_memory` for every dict in a nested element."""
    if isinstance(element, Mapping):
        claim_shared_memory(element)
        for value in element.values():
            if isinstance(value, (Mapping, list, tuple)):
                claim_shared_memory_tree(value)
    elif isinstance(element, (list, tuple)):
        claim_shared_memory({str(i): v for i, v in enumerate(element)})
        for value in element:
            if isinstance(value, (Mapping, list, tuple)):
                claim_shared_memory_tree(value)


# ---- the invariant stream ------------------------------------------------------------


class _Dropped:
    """Marks a record a Filter rejected, so every worker yields one item per record
    (Grain interleaves workers round-robin: equal counts keep the sampler's order)."""


class _Batched:
    """A batch and the sampler indices of its records (for the stages' metadata)."""

    __slots__ = ("data", "ids")

    def __init__(self, data, ids):
        self.data = data
        self.ids = ids


_PER_RECORD = (grain.transforms.Map, grain.transforms.RandomMap,
               grain.transforms.TfRandomMap, grain.transforms.Filter)


def split_operations(operations: Sequence[Any]):
    """(before the first Batch, the Batch or None, after it); refuses what the
    invariant stream cannot run (FlatMap, legacy operations)."""
    for i, op in enumerate(operations):
        if not isinstance(op, _PER_RECORD + (grain.transforms.Batch,)):
            raise ValueError(
                f"DataLoader(stream='invariant'): operations[{i}] is a "
                f"{type(op).__name__}; the worker-count-invariant stream supports Map, "
                f"RandomMap, Filter and Batch. Pass stream='grain' to run it as Grain does.")
    for i, op in enumerate(operations):
        if isinstance(op, grain.transforms.Batch):
            return list(operations[:i]), op, list(operations[i + 1:])
    return list(operations), None, []


class _ApplyToRecord:
    """One operation on a `grain` Record (what Grain's DataLoader does), picklable."""

    def __init__(self, op):
        self.op = op

    def __call__(self, r):
        data = r.data
        if isinstance(data, _Dropped):
            return r
        batched = isinstance(data, _Batched)
        value = data.data if batched else data
        op = self.op
        if isinstance(op, grain.transforms.Filter):
            if op.filter(value):
                return r
            return grain_record.Record(metadata=r.metadata, data=_Dropped())
        if isinstance(op, grain.transforms.Map):
            value = op.map(value)
        elif isinstance(op, grain.transforms.RandomMap):
            value = op.random_map(value, r.metadata.rng)
        else:  # TfRandomMap
            value = op.np_random_map(value, r.metadata.rng)
        return grain_record.Record(
            metadata=r.metadata, data=_Batched(value, data.ids) if batched else value)


class _BatchRecords:
    """Grain's Batch on Records, keeping every record's sampler index."""

    def __init__(self, op, shared_memory: bool):
        self.op = op
        self.shared_memory = shared_memory

    def __call__(self, records):
        values = [r.data.data if isinstance(r.data, _Batched) else r.data for r in records]
        ids = np.asarray([r.metadata.index for r in records], np.int64)
        if self.op.batch_fn is not None:
            batch = self.op.batch_fn(values)
        else:
            batch = make_batch(values, output_to_shared_memory=self.shared_memory)
        return grain_record.Record(
            metadata=records[-1].metadata.remove_record_key(), data=_Batched(batch, ids))


def _not_dropped(r) -> bool:
    return not isinstance(r.data, _Dropped)


def _apply_all(ds, ops, shared_memory: bool):
    for op in ops:
        if isinstance(op, grain.transforms.Batch):
            ds = ds.batch(op.batch_size, drop_remainder=op.drop_remainder,
                          batch_fn=_BatchRecords(op, shared_memory))
        else:
            ds = ds.map(_ApplyToRecord(op))
            if isinstance(op, grain.transforms.Filter) and isinstance(ds, grain.IterDataset):
                ds = ds.filter(_not_dropped)
    return ds


def build_invariant_stream(loader: DataLoader, position: int):
    """(element, metadata, {'position': next record}) of the stream from `position`.

    Records are Grain's own (`data_source[sampler[...]]` with the sampler's per-record
    rng), sliced from `position`. Without a Filter before the batch, batch k is
    records [k*B, (k+1)*B) and is made in a worker; otherwise records are fanned in
    (filtered ones as markers, one item per record) and batched here.
    """
    before, batch, after = split_operations(loader.operations)
    workers = loader.worker_count
    records = grain_data_loader._SamplerMapDataset(  # pylint: disable=protected-access
        loader.data_source, loader.sampler, loader.shard_options)
    if position:
        records = records[position:]
    filters_before = any(isinstance(op, grain.transforms.Filter) for op in before)
    filters_after = any(isinstance(op, grain.transforms.Filter) for op in after)
    if not filters_before:
        head = before + ([batch] if batch is not None else [])
        tail = after if filters_after else []
        if not filters_after:
            head += after
    else:
        head, tail = before, ([batch] if batch is not None else []) + after
    # Batches made in workers travel through shared memory, as in Grain.
    ds = _apply_all(records, head, shared_memory=workers > 0)
    read_options = loader.read_options
    if batch is not None and batch in head:
        # Grain's read buffer counts records; here each item is a batch: keep the
        # same memory bound (and at least one item per read thread).
        read_options = dataclasses.replace(read_options, prefetch_buffer_size=max(
            read_options.num_threads,
            math.ceil(read_options.prefetch_buffer_size / batch.batch_size)))
    ds = ds.to_iter_dataset(read_options)
    if workers > 0:
        ds = ds.mp_prefetch(loader.multiprocessing_options)
    ds = ds.filter(_not_dropped)
    ds = _apply_all(ds, tail, shared_memory=False)
    return _invariant_items(iter(ds), loader.shard_options)


def _invariant_items(iterator, shard_options):
    shard_index = getattr(shard_options, "shard_index", 0)
    shard_count = getattr(shard_options, "shard_count", 1)
    try:
        for r in iterator:
            position = (r.metadata.index - shard_index) // shard_count + 1
            data = r.data
            if isinstance(data, _Batched):
                data, ids = data.data, data.ids
            else:
                ids = np.asarray([r.metadata.index], np.int64)
            claim_shared_memory_tree(data)
            yield data, _meta((ids % 2**31).astype(np.int32)), {"position": int(position)}
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()

"""NNX state across JAX processes: host-local arrays <-> arrays Orbax can write once.

In a multi-process run every process holds its pipeline modules' state as its own
arrays. Orbax refuses host-local arrays in a multi-process save (it cannot tell which
process's copy is the truth), so before saving each leaf becomes a global `jax.Array`
over a mesh of every process's devices, in one of three layouts:

  'replicated'   every process holds the same value (params, RNG keys, statistics of
                 global batches): one fully replicated array; Orbax writes it ONCE.
  'per_process'  the processes' values differ (e.g. statistics of each process's own
                 rows): an array (P, ...) whose row p is process p's value. Exact for a
                 restore with the same process count, and only for that.
  'sharded'      already a global array split over devices (a user's sharded param):
                 written as it is.

The layouts are decided together: each process hashes its values and the hashes are
gathered (one small collective, inside `save`, which every process calls anyway).
On restore, replicated and per-process leaves come back as local arrays again.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

REPLICATED, PER_PROCESS, SHARDED = "replicated", "per_process", "sharded"


def process_mesh() -> Mesh:
    """All devices, one row per process: axes ('process', 'local')."""
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    return Mesh(np.array(devices).reshape(jax.process_count(), -1), ("process", "local"))


def _is_sharded(leaf: Any) -> bool:
    return (isinstance(leaf, jax.Array) and not leaf.is_fully_addressable
            and not leaf.is_fully_replicated)


def _local_value(leaf: Any) -> np.ndarray:
    """This process's value of a leaf (a fully replicated global array's own copy)."""
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        return np.asarray(leaf.addressable_data(0))
    return np.asarray(leaf)


def _paths(tree: Any) -> list[tuple[str, Any]]:
    return [(jax.tree_util.keystr(p), leaf)
            for p, leaf in jax.tree_util.tree_leaves_with_path(tree)]


def _kind(layout: Mapping[str, str], path: Any, leaf: Any) -> str:
    default = SHARDED if _is_sharded(leaf) else REPLICATED
    return layout.get(jax.tree_util.keystr(path), default)


def decide_layout(tree: Any) -> dict[str, str]:
    """{leaf path: layout}, the same on every process (a collective: call on all)."""
    leaves = _paths(tree)
    digests = np.zeros((len(leaves), 4), np.uint32)
    for row, (_, leaf) in enumerate(leaves):
        if not _is_sharded(leaf):
            value = np.ascontiguousarray(_local_value(leaf))
            digests[row] = np.frombuffer(hashlib.sha256(value.tobytes()).digest()[:16],
                                         np.uint32)
    if jax.process_count() > 1 and len(leaves):
        gathered = np.asarray(multihost_utils.process_allgather(digests))
    else:
        gathered = digests[None]
    same = (gathered == gathered[:1]).all(axis=(0, 2))
    return {path: SHARDED if _is_sharded(leaf) else REPLICATED if same[row] else PER_PROCESS
            for row, (path, leaf) in enumerate(leaves)}


def to_global(tree: Any, layout: Mapping[str, str] | None = None) -> Any:
    """Each local leaf as a global array in its layout (see the module docstring);
    leaves `layout` does not name are taken to be replicated (or sharded, if so)."""
    layout = layout or {}
    mesh = process_mesh()
    count = jax.process_count()

    def convert(path, leaf):
        kind = _kind(layout, path, leaf)
        if kind == SHARDED:
            return leaf
        value = _local_value(leaf)
        if kind == PER_PROCESS:
            return jax.make_array_from_process_local_data(
                NamedSharding(mesh, PartitionSpec("process")), value[None],
                (count,) + value.shape)
        return jax.make_array_from_process_local_data(
            NamedSharding(mesh, PartitionSpec()), value, value.shape)

    return jax.tree_util.tree_map_with_path(convert, tree)


def restore_targets(current: Any, layout: Mapping[str, str] | None = None,
                    saved_count: int = 1) -> Any:
    """`jax.ShapeDtypeStruct`s (with shardings) to read a tree saved in `layout`.

    `current` is the tree as it is now (arrays or ShapeDtypeStructs); a per-process
    leaf needs the saved process count, which the caller has checked is this one's.
    """
    mesh = process_mesh()
    layout = layout or {}

    def target(path, leaf):
        kind = _kind(layout, path, leaf)
        if kind == PER_PROCESS:
            return jax.ShapeDtypeStruct((saved_count,) + tuple(leaf.shape), leaf.dtype,
                                        sharding=NamedSharding(mesh, PartitionSpec("process")))
        if _is_sharded(leaf):
            return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=leaf.sharding)
        return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype,
                                    sharding=NamedSharding(mesh, PartitionSpec()))

    return jax.tree_util.tree_map_with_path(target, current)


def to_local(restored: Any, layout: Mapping[str, str] | None = None) -> Any:
    """Restored global arrays -> this process's values (sharded leaves stay global)."""
    layout = layout or {}

    def convert(path, leaf):
        kind = layout.get(jax.tree_util.keystr(path), REPLICATED)
        if _is_sharded(leaf) and kind != PER_PROCESS:
            return leaf
        value = _local_value(leaf)
        return value[0] if kind == PER_PROCESS else value

    return jax.tree_util.tree_map_with_path(convert, restored)

"""`DataParallelSharder`: host-local batches become global `jax.Array`s over a mesh.

Per field: host array (b, ...) on each of P processes -> one global jax.Array
(b * P, ...) with `NamedSharding(mesh, PartitionSpec(batch_axes, *field_spec))`, made by
`jax.make_array_from_process_local_data`. No data crosses hosts: each process places
its own rows on its own devices, and the global array is the concatenation of the
processes' rows in process order (the order `datarax.pipeline.host.BatchPlan` splits a
global batch in). Axes after the batch axis are replicated unless `field_specs` splits
them over other mesh axes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from datarax.core.config import StructuralConfig
from datarax.core.sharder import SharderModule

AxisNames = str | Sequence[str]


@dataclasses.dataclass(frozen=True)
class DataParallelConfig(StructuralConfig):
    """Attributes:
      batch_axes: mesh axis names the batch axis is split over, in order.
      field_specs: ((field, spec of the axes after the batch axis), ...); a spec entry
        is None (replicated), a mesh axis name or a tuple of names.
    """
    batch_axes: tuple[str, ...] = ("data",)
    field_specs: tuple[tuple[str, tuple[Any, ...]], ...] = ()


def _axis_tuple(axes: AxisNames, what: str) -> tuple[str, ...]:
    axes = (axes,) if isinstance(axes, str) else tuple(axes)
    if not axes or not all(isinstance(a, str) for a in axes):
        raise ValueError(f"DataParallelSharder: {what} must be a mesh axis name or a "
                         f"non-empty sequence of names, got {axes!r}")
    return axes


class DataParallelSharder(SharderModule):
    """Forms a global, batch-sharded `jax.Array` from each process's host batch.

    Args:
      mesh: the `jax.sharding.Mesh` (over all processes' devices in a multi-host run).
      batch_axis: mesh axis name(s) the batch axis is split over, e.g. 'data' or
        ('data', 'fsdp').
      field_specs: optional {field: PartitionSpec or tuple} for the axes AFTER the
        batch axis of that field, e.g. {'image': (None, 'model')} splits an image's
        width over 'model'; fields not named are replicated past the batch axis.

    Raises:
      ValueError: a named mesh axis does not exist, or an axis is used twice.

    Example:
      >>> mesh = jax.make_mesh((jax.device_count(),), ('data',))
      >>> sharder = DataParallelSharder(mesh, 'data')
      >>> pipeline = Pipeline(source, stages, batch_size=64, sharding=sharder)

    The pipeline calls `sharder(host_dict)` on its transfer thread for the data and
    the record metadata of every batch. `global_arrays` tells it that the result is a
    global array, whose last, partial batch stays padded (see `Pipeline`).
    """

    # Read by `Pipeline`: results are global arrays, never cut to a process's rows.
    global_arrays = True

    def __init__(self, mesh: Mesh, batch_axis: AxisNames = "data", *,
                 field_specs: Mapping[str, Any] | None = None):
        if not isinstance(mesh, Mesh):
            raise TypeError(
                f"DataParallelSharder: mesh must be a jax.sharding.Mesh, got "
                f"{type(mesh).__name__}; e.g. jax.make_mesh((jax.device_count(),), ('data',))")
        batch_axes = _axis_tuple(batch_axis, "batch_axis")
        specs = tuple((str(f), tuple(s)) for f, s in (field_specs or {}).items())
        super().__init__(DataParallelConfig(batch_axes=batch_axes, field_specs=specs))
        self.mesh = mesh
        self._check_axes()
        self.num_batch_shards = math.prod(mesh.shape[a] for a in batch_axes)
        self.local_batch_shards = self._local_batch_shards()

    # ---- validation ------------------------------------------------------------------

    def _check_axes(self) -> None:
        names = tuple(self.mesh.axis_names)

        def check(axis, where):
            if axis not in names:
                raise ValueError(
                    f"DataParallelSharder: {where} names mesh axis {axis!r}, which the "
                    f"mesh does not have (its axes: {names}); use one of those")

        for axis in self.config.batch_axes:
            check(axis, "batch_axis")
        for field, spec in self.config.field_specs:
            used = list(self.config.batch_axes)
            for entry in spec:
                for axis in ((entry,) if isinstance(entry, str) else (entry or ())):
                    check(axis, f"field_specs[{field!r}]")
                    if axis in used:
                        raise ValueError(
                            f"DataParallelSharder: field_specs[{field!r}] uses mesh axis "
                            f"{axis!r} twice (the batch is already split over "
                            f"{self.config.batch_axes}); each axis may split one dimension")
                    used.append(axis)

    def _local_batch_shards(self) -> int:
        """How many distinct batch slices this process's devices hold."""
        names = list(self.mesh.axis_names)
        batch_dims = [names.index(a) for a in self.config.batch_axes]
        mine = np.vectorize(lambda d: d.process_index == jax.process_index())(self.mesh.devices)
        coords = {tuple(c[i] for i in batch_dims) for c in np.argwhere(mine)}
        return len(coords)

    def check_batch_size(self, local_batch_size: int) -> None:
        """A clear error if batches of this many rows per process cannot be split.

        Args:
          local_batch_size: rows each process supplies per step (the global batch
            size over the process count).
        """
        global_size = local_batch_size * self.num_batch_shards // max(self.local_batch_shards, 1)
        if local_batch_size % self.local_batch_shards:
            raise ValueError(
                f"DataParallelSharder: the global batch of {global_size} records "
                f"({local_batch_size} per process) cannot be split evenly over the "
                f"{self.num_batch_shards} devices of mesh axes {self.config.batch_axes} "
                f"({self.local_batch_shards} on this process); pick a global batch size "
                f"that is a multiple of {self.num_batch_shards}")

    # ---- forming global arrays -------------------------------------------------------

    def sharding_for(self, field: str, ndim: int) -> NamedSharding:
        """The `NamedSharding` of a field with `ndim` axes (batch axis included)."""
        rest = dict(self.config.field_specs).get(field, ())
        if len(rest) > ndim - 1:
            raise ValueError(
                f"DataParallelSharder: field_specs[{field!r}]={rest} names {len(rest)} "
                f"axes after the batch axis, but the field has only {ndim - 1}")
        return NamedSharding(self.mesh, PartitionSpec(self.config.batch_axes, *rest))

    def process(self, host_batch: Mapping[str, Any]) -> dict[str, jax.Array]:
        """{field: host array (b, ...)} -> {field: global jax.Array (b * P, ...)}."""
        out = {}
        for field, local in host_batch.items():
            local = np.asarray(local)
            if local.ndim == 0:
                raise ValueError(
                    f"DataParallelSharder: field {field!r} is a scalar; a batch field "
                    f"needs a leading batch axis")
            self.check_batch_size(local.shape[0])
            out[field] = jax.make_array_from_process_local_data(
                self.sharding_for(field, local.ndim), local)
        return out

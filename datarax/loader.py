"""`DataLoader`: `grain.DataLoader`'s signature, plus device stages after batching.

    loader = datarax.DataLoader(
        data_source=source, sampler=grain.samplers.IndexSampler(len(source),
            shuffle=True, seed=0, num_epochs=1),
        operations=[Decode(), grain.transforms.Batch(32)],
        worker_count=2, stages=[normalize, flip])
    with iter(loader) as batches:
        for batch in batches: ...

Every `grain.DataLoader` argument means what it means there; the loader builds a
`grain.DataLoader` from them (so validation, shard options, read options and worker
count are Grain's own). `stages` are `nnx.Module`s run on the device, fused into one
jitted function (`datarax.pipeline.device.FusedStages`), after the batch is formed.

What it yields:
  - no stages: exactly Grain's elements (NumPy arrays, same dtypes, shapes, values,
    order); nothing is put on the device, so int64/float64 stay what Grain made, and
    the loader costs nothing over Grain.
  - with stages: the batch is put on the device (on a prefetch thread) and the
    stages' outputs are `jax.Array`s.

Streams (`stream=`):
  - 'invariant' (default): records go through the per-record operations in the
    workers, and batches are made of consecutive records of the sampler's order,
    whatever `worker_count` is. With 0 workers it IS Grain's stream; with N workers
    the batches are still that stream, so changing the worker count (to tune speed,
    or on resumption on another machine) never changes the data, and a saved state
    restores under any worker count. This is datarax's determinism rule, hence the
    default. Without a `Filter` before the batch, whole batches are made in the
    workers (as fast as Grain); with one, records are fanned in and batched here.
  - 'grain': Grain's own multi-worker stream (each worker batches its own share of
    records, so the batches depend on `worker_count`); pick it to reproduce an
    existing Grain run or to restore a Grain `DataLoaderIterator` state.

Stages and randomness: `OperatorModule` stages get record identity as metadata: in
the invariant stream 'index' is the record's sampler index (unique per record and
epoch, so the same record gets the same draw whatever the worker count); in the
Grain stream it is the record's position in the stream.

Checkpoints: `datarax.checkpoint.Checkpointer` (or `PipelineSave`/`PipelineRestore` in
an Orbax Composite) saves an iterator's stream position and its stages' NNX state;
an invariant-stream state restores under any worker count.

Worker processes re-import the main module: guard the training script with
`if __name__ == '__main__':`. Close iterators (`with iter(loader) as it:` or
`it.close()`) to stop worker processes promptly; exit closes any left open.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Iterator, Mapping, Sequence

import flax.nnx as nnx
import grain
import jax
from grain._src.python import data_loader as grain_data_loader

from datarax.loader_stream import build_invariant_stream, grain_items, input_spec, split_operations
from datarax.pipeline.device import FusedStages
from datarax.pipeline.graph import StageGraph
from datarax.pipeline.grain_runtime import (
    ClosingIterator, IteratorOwner, ensure_absl_flags_parsed)
from datarax.pipeline.pipeline import check_fingerprint
from datarax.pipeline.prefetch import DevicePrefetcher, transfer_host_batch

STREAMS = ("invariant", "grain")


class DataLoader(IteratorOwner):
    """A drop-in `grain.DataLoader` with on-device stages. See the module docstring.

    Args:
      data_source, sampler, operations, worker_count, worker_buffer_size,
      shard_options, read_options, enable_profiling: as for `grain.DataLoader`.
      stages: `nnx.Module`s (e.g. `OperatorModule`s) applied in order, on the device,
        to every batch; needs a `grain.transforms.Batch` among `operations`.
      stream: 'invariant' (default) or 'grain'; see the module docstring.
      prefetch: batches put on the device ahead of use (only with stages).
    """

    def __init__(
        self,
        *,
        data_source: Any,
        sampler: Any,
        operations: Sequence[Any] = (),
        worker_count: int | None = 0,
        worker_buffer_size: int = 1,
        shard_options: Any = None,
        read_options: grain.ReadOptions | None = None,
        enable_profiling: bool = False,
        stages: Sequence[nnx.Module] = (),
        stream: str = "invariant",
        prefetch: int = 2,
    ):
        ensure_absl_flags_parsed()
        if stream not in STREAMS:
            raise ValueError(
                f"DataLoader: stream must be 'invariant' (the same batches for every "
                f"worker_count) or 'grain' (Grain's own per-worker batches), got {stream!r}")
        # Grain validates the arguments and resolves shard options, read options and
        # worker count; the invariant stream reads its resolved settings.
        self.grain_loader = grain.DataLoader(
            data_source=data_source, sampler=sampler, operations=operations,
            worker_count=worker_count, worker_buffer_size=worker_buffer_size,
            shard_options=shard_options, read_options=read_options,
            enable_profiling=enable_profiling)
        self.stream = stream
        self.data_source = data_source
        self.sampler = sampler
        self.operations = list(self.grain_loader._operations)  # pylint: disable=protected-access
        self.shard_options = self.grain_loader._shard_options  # pylint: disable=protected-access
        self.read_options = self.grain_loader._read_options  # pylint: disable=protected-access
        self.multiprocessing_options = self.grain_loader.multiprocessing_options
        if stream == "invariant":
            split_operations(self.operations)  # refuses what it cannot keep invariant
        if isinstance(stages, nnx.Module):
            stages = [stages]
        self.graph = StageGraph.chain(list(stages))
        if len(self.graph.stages) and not any(
                isinstance(op, grain.transforms.Batch) for op in self.operations):
            raise ValueError(
                "DataLoader: stages run on batches, but operations has no "
                "grain.transforms.Batch; add one, e.g. operations=[..., "
                "grain.transforms.Batch(batch_size=32)]")
        self.fused = FusedStages(self.graph) if len(self.graph.stages) else None
        self.prefetch = prefetch

    @property
    def worker_count(self) -> int:
        return self.multiprocessing_options.num_workers

    def prepare(self) -> None:
        """Makes the stages' full NNX state (e.g. statistics) exist before any batch.

        Statistics are shaped by the data, so they are created from the shapes of the
        first element, read in this process (no worker processes). A restore calls
        this, so that a fresh loader's state matches a checkpoint's. No-op without
        stages or once a batch has gone through them.
        """
        if self.fused is None or self.fused.built:
            return
        self.fused.build(*input_spec(self))

    def fingerprint(self) -> dict[str, Any]:
        """What a saved position is valid for (Grain compares the same reprs)."""
        return {
            "stream": self.stream,
            "sampler": repr(self.sampler),
            "data_source": grain_data_loader._source_repr(self.data_source),  # pylint: disable=protected-access
            "shard_options": repr(self.shard_options),
            "operations": [type(op).__name__ for op in self.operations],
        }

    def __iter__(self) -> "DataLoaderIterator":
        return self._track(DataLoaderIterator(self))


class DataLoaderIterator(ClosingIterator, Iterator[Any]):
    """Iterates a `DataLoader`; `get_state()`/`set_state()` resume it exactly.

    `datarax.checkpoint` (`Checkpointer`, `PipelineSave`/`PipelineRestore`) saves that
    state together with the NNX state of `checkpoint_modules()` (the stages).

    The state is a JSON-able dict: {'stream', 'position', 'fingerprint'} plus, for the
    'grain' stream, Grain's own iterator state under 'grain'. In the invariant stream
    'position' is the next record (of this shard) in the sampler's order, so a state
    restores under any worker count.
    """

    def __init__(self, loader: DataLoader):
        ensure_absl_flags_parsed()
        self.loader = loader
        self._position = 0
        self._grain_state: Any = None
        self._items: Iterator[Any] | None = None  # the stream's own generator
        self._source: Iterator[Any] | None = None  # it, or a DevicePrefetcher of it
        self._grain_iterator = None
        self._register()

    # ---- iteration -----------------------------------------------------------------

    def _start(self) -> None:
        loader = self.loader
        if loader.stream == "grain":
            self._grain_iterator = iter(loader.grain_loader)
            if self._grain_state is not None:
                self._grain_iterator.set_state(json.dumps(self._grain_state).encode())
            items = grain_items(self._grain_iterator, self._position)
        else:
            items = build_invariant_stream(loader, self._position)
        self._items = self._source = items
        if loader.fused is not None:
            self._source = DevicePrefetcher(
                items, functools.partial(transfer_host_batch, jax.device_put),
                depth=loader.prefetch)

    def __next__(self) -> Any:
        if self._closed:
            raise StopIteration
        if self._source is None:
            self._start()
        # The position travels with its element: the prefetch thread reads ahead.
        data, meta, position = next(self._source)
        self._position = position["position"]
        if "grain" in position:
            self._grain_state = position["grain"]
        if self.loader.fused is None:
            return data
        return self.loader.fused(data, meta)

    # ---- state ---------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """The stream position (JSON-able); see the class docstring."""
        state = {"stream": self.loader.stream, "position": self._position,
                 "fingerprint": self.loader.fingerprint()}
        if self.loader.stream == "grain":
            state["grain"] = self._grain_state
        return state

    def set_state(self, state: Mapping[str, Any] | str | bytes) -> None:
        """Continues from a `get_state()` result of an equal loader.

        For stream='grain', a `grain.DataLoaderIterator.get_state()` (bytes) is
        accepted too. Raises a `ValueError` naming the setting that differs.
        """
        if isinstance(state, (str, bytes)):
            state = json.loads(state)
        if "last_seen_indices" in state:  # a Grain DataLoaderIterator state
            if self.loader.stream != "grain":
                raise ValueError(
                    "DataLoaderIterator.set_state: this is a grain.DataLoader state; "
                    "restore it with DataLoader(..., stream='grain')")
            state = {"stream": "grain", "position": 0, "grain": dict(state),
                     "fingerprint": self.loader.fingerprint()}
        missing = {"stream", "position", "fingerprint"} - set(state)
        if missing:
            raise ValueError(
                f"DataLoaderIterator.set_state: not a datarax DataLoader state (missing "
                f"{sorted(missing)}); pass what get_state() returned")
        check_fingerprint(state["fingerprint"], self.loader.fingerprint(), owner="loader")
        self._stop()
        self._closed = False
        self._position = int(state["position"])
        self._grain_state = state.get("grain")

    def checkpoint_modules(self) -> nnx.Module | None:
        """The module whose NNX state a checkpoint holds beside the stream position
        (the stages' graph, prepared), or None when the loader has no stages."""
        if self.loader.fused is None:
            return None
        self.loader.prepare()
        return self.loader.graph

    # ---- shutdown ------------------------------------------------------------------

    def _stop(self) -> None:
        source, self._source = self._source, None
        items, self._items = self._items, None
        grain_iterator, self._grain_iterator = self._grain_iterator, None
        if isinstance(source, DevicePrefetcher):
            source.close()  # stops its thread, then closes `items` (the Grain iterator)
        if items is not None:
            try:
                items.close()  # closes the stream's Grain iterator (its workers)
            except ValueError:  # the prefetch thread is still inside it; exit closes it
                pass
        if grain_iterator is not None:
            grain_iterator._iterator.close()  # pylint: disable=protected-access


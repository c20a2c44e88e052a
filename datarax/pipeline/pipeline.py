"""`Pipeline`: Grain on the host, one fused jitted function on the device.

    pipeline = Pipeline(source=MemorySource({...}), stages=[normalize, flip],
                        batch_size=32, shuffle=True, seed=0, num_epochs=2)
    for batch in pipeline:        # dicts of jax.Array, leading batch axis
        ...

Host: each step's batch is a slice of the epoch's permutation, split by JAX process,
read and decoded whole in Grain's worker processes (see `datarax.pipeline.host`). Transfer: a thread puts the next
batches on the device ahead of use. Device: all stages run as one compiled function
when the batch is handed out, with the modules' state at that moment.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Iterator, Mapping, Sequence

import flax.nnx as nnx
import grain
import jax
import numpy as np

from datarax.core.data_source import DataSourceModule
from datarax.pipeline.device import FusedStages
from datarax.pipeline.graph import StageGraph
from datarax.pipeline.grain_runtime import (
    ClosingIterator, IteratorOwner, ensure_absl_flags_parsed)
from datarax.pipeline.host import BatchPlan, HostBatchReader, host_batches
from datarax.pipeline.iter_source import IterDatasetStream
from datarax.pipeline.prefetch import DevicePrefetcher, check_numeric, transfer_host_batch
from datarax.pipeline.source_adapter import as_source
from datarax.sharding.process import ProcessSharder


class Pipeline(IteratorOwner):
    """A data pipeline: a source, host batching by Grain, and device stages.

    Args:
      source: a `DataSourceModule` (MemorySource, ArrayRecordSource, TFDSSource), a
        `grain.MapDataset` or any random-access source with `__len__` and
        `__getitem__` returning dicts (datarax shuffles, shards and batches it), or a
        `grain.IterDataset` (taken as the stream it is: datarax batches it and runs
        the device stages; shuffle it in the dataset, `shuffle`/`num_epochs` don't apply).
      stages: `nnx.Module`s applied in order on the device to each batch dict;
        `OperatorModule`s receive record identity (epoch, global index) for their keys.
      batch_size: records per batch (the global batch in a multi-process run).
      shuffle: reshuffle the records every epoch (a keyed Feistel permutation, O(1) memory).
      seed: the shuffle seed; if None, drawn from `rngs['shuffle']` (or 0).
      num_epochs: epochs to yield; None repeats forever.
      drop_remainder: drop each epoch's last, partial batch. If False it is yielded
        with its true size (the device function is still compiled only once: the host
        pads it to `batch_size` and the result is cut back). With a `sharding` that
        forms global arrays it stays padded to `batch_size` instead (a global array
        cannot be cut per process) and every batch carries '_valid' (bool, per record).
      worker_count: Grain worker processes that read and decode batches (0: in this
        process). Batches are identical for every worker count.
      worker_buffer_size: batches each worker keeps ready.
      prefetch: batches transferred to the device ahead of use.
      rngs: an `nnx.Rngs`; its 'shuffle' stream seeds the shuffle when `seed` is None.
      record_ids: add '_epoch' and '_index' (int32, per record) to every batch.
      shard_by_process: in a multi-process (`jax.distributed`) run, each process reads
        only its share of every global batch (the default); False: every process
        reads whole batches. A `datarax.sharding.ProcessSharder` may be passed to
        check the process count (`ProcessSharder(num_processes=4)`).
      sharding: how host batches become device arrays: None (`jax.device_put` to the
        default device) or a callable `host_dict -> dict of jax.Array`, such as a
        `datarax.sharding` sharder that forms global arrays over a mesh.
    """

    def __init__(
        self,
        source: Any,
        stages: Sequence[nnx.Module] = (),
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
        num_epochs: int | None = 1,
        drop_remainder: bool = False,
        worker_count: int = 0,
        worker_buffer_size: int = 2,
        prefetch: int = 2,
        rngs: nnx.Rngs | None = None,
        record_ids: bool = False,
        shard_by_process: bool = True,
        sharding: Any = None,
    ):
        self.iter_stream = None
        if isinstance(source, grain.IterDataset):
            if shuffle:
                raise ValueError(
                    "Pipeline: shuffle=True does not apply to a grain.IterDataset source, "
                    "which is a stream; shuffle inside it (e.g. a MapDataset's .shuffle() "
                    "before .to_iter_dataset()), or pass the MapDataset itself")
            num_records = max(batch_size, 1) if isinstance(batch_size, int) else 1
            self.source = None
        else:
            self.source = as_source(source)
            num_records = len(self.source)
        if isinstance(stages, StageGraph):
            self.graph = stages
        else:
            self.graph = StageGraph.chain([stages] if isinstance(stages, nnx.Module) else list(stages))
        processes = _process_sharder(shard_by_process)
        self.plan = BatchPlan(
            num_records=num_records, batch_size=batch_size,
            drop_remainder=drop_remainder, num_epochs=num_epochs,
            process_index=processes.index if processes else 0,
            process_count=processes.count if processes else 1)
        if seed is None:
            seed = _seed_from(rngs)
        if not isinstance(worker_count, int) or worker_count < 0:
            raise ValueError(f"Pipeline: worker_count must be an int >= 0, got {worker_count!r}")
        self.shuffle = shuffle
        self.seed = int(seed)
        self.worker_count = worker_count
        self.worker_buffer_size = worker_buffer_size
        self.prefetch = prefetch
        self.record_ids = record_ids
        self.transfer = jax.device_put if sharding is None else sharding
        # A global array spans processes: it is never cut to one process's rows, and
        # every process must take every step (or the others wait for it forever).
        self.global_arrays = bool(getattr(sharding, "global_arrays", False))
        check_batch_size = getattr(sharding, "check_batch_size", None)
        if check_batch_size is not None:
            check_batch_size(self.plan.local_batch_size)
        if self.source is None:
            self.iter_stream = IterDatasetStream(
                source, self.plan.local_batch_size, drop_remainder, worker_count,
                worker_buffer_size)
        self.fused = FusedStages(self.graph)
        # Record identity goes to the device only where something there reads it.
        self.has_stages = bool(self.graph.stages)
        self.needs_meta = self.has_stages or record_ids or self.global_arrays

    @classmethod
    def from_dag(cls, source: Any, nodes: Mapping[str, nnx.Module],
                 edges: Mapping[str, Sequence[str]] | None = None,
                 sink: str | Sequence[str] | Mapping[str, str] | None = None,
                 **kwargs) -> "Pipeline":
        """A pipeline whose device stages form a DAG (see `datarax.pipeline.graph`).

            Pipeline.from_dag(source=src, nodes={"view1": aug1, "view2": aug2},
                              edges={"view1": ["source"], "view2": ["source"]},
                              sink=["view1", "view2"], batch_size=256, shuffle=True)

        Every other argument is `Pipeline`'s. The whole graph is one jitted function.
        """
        if sink is None:
            raise ValueError("Pipeline.from_dag: pass sink= (a node name, a list or a dict)")
        return cls(source, StageGraph(nodes, edges, sink), **kwargs)

    @property
    def stages(self) -> list[nnx.Module]:
        """The stage modules in execution order."""
        return self.graph.stages

    def _input_spec(self):
        if self.iter_stream is not None:
            sample = self.iter_stream.sample_batch()
        else:
            sample = self.source.read_batch(np.zeros(1, np.int64))
        size = self.plan.local_batch_size
        spec = {k: jax.ShapeDtypeStruct((size,) + np.shape(v)[1:], np.asarray(v).dtype)
                for k, v in sample.items()}
        meta = {"epoch": jax.ShapeDtypeStruct((size,), np.int32),
                "index": jax.ShapeDtypeStruct((size,), np.int32),
                "valid": jax.ShapeDtypeStruct((size,), np.bool_)}
        return spec, meta

    def describe(self) -> str:
        """The stages in execution order with their inputs and the shapes/dtypes on
        each edge, for a batch of this pipeline's source."""
        return self.graph.describe(*self._input_spec())

    def __repr__(self) -> str:
        return (f"Pipeline(source={self.fingerprint()['source']}, batch_size={self.plan.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, num_epochs={self.plan.num_epochs}, "
                f"worker_count={self.worker_count})\n{self.describe()}")

    def fingerprint(self) -> dict[str, Any]:
        """What a saved stream position is only valid for."""
        source = self.iter_stream.describe() if self.iter_stream else self.source.describe()
        return {
            "source": source,
            "num_records": self.plan.num_records,
            "batch_size": self.plan.batch_size,
            "shuffle": self.shuffle,
            "seed": self.seed,
            "num_epochs": self.plan.num_epochs,
            "drop_remainder": self.plan.drop_remainder,
            "process_count": self.plan.process_count,
        }

    def prepare(self) -> None:
        """Makes the stages' full NNX state (e.g. statistics) exist before any batch.

        Statistics are shaped by the data, so they are created from one record's shapes.
        A restore calls this, so that a fresh pipeline's state matches a checkpoint's.
        """
        if self.fused.built:
            return
        spec, meta = self._input_spec()
        self.fused.build(spec, meta)

    def __iter__(self) -> "PipelineIterator":
        return self._track(PipelineIterator(self))


def _process_sharder(shard_by_process: Any) -> ProcessSharder | None:
    if isinstance(shard_by_process, ProcessSharder):
        return shard_by_process
    return ProcessSharder() if shard_by_process else None


def _seed_from(rngs: nnx.Rngs | None) -> int:
    if rngs is None or "shuffle" not in rngs:
        return 0
    return int(jax.random.key_data(rngs["shuffle"]())[-1])


class PipelineIterator(ClosingIterator, Iterator[dict[str, jax.Array]]):
    """Iterates a `Pipeline`'s batches; `get_state()`/`set_state()` resume it exactly.

    The state is a small JSON-able dict: the next step and the pipeline's fingerprint.
    The stages' NNX state (params, RNG streams, statistics) is checkpointed beside it
    by `datarax.checkpoint`.
    """

    def __init__(self, pipeline: Pipeline, start_step: int = 0):
        ensure_absl_flags_parsed()
        self.pipeline = pipeline
        self._step = start_step
        self._skipped = 0
        self._grain_state = None  # only for a grain.IterDataset source
        self._position = 0
        self._prefetcher: DevicePrefetcher | None = None
        self._register()

    # ---- iteration -----------------------------------------------------------------

    def _start(self) -> None:
        p = self.pipeline
        if p.iter_stream is not None:
            batches = p.iter_stream.batches(self._grain_state, self._position, self._step)
        else:
            reader = HostBatchReader(p.source, p.plan, p.shuffle, p.seed)
            batches = host_batches(reader, self._step, p.worker_count, p.worker_buffer_size)
        self._prefetcher = DevicePrefetcher(
            batches, functools.partial(transfer_host_batch, p.transfer, with_meta=p.needs_meta),
            depth=p.prefetch)
        if p.has_stages and p.transfer is jax.device_put and not p.fused.compile_count():
            # Compile now, while the workers start and the first batch is read.
            spec, meta = p._input_spec()  # pylint: disable=protected-access
            check_numeric(spec)
            p.fused.warm_up(spec, meta)

    def __next__(self) -> dict[str, jax.Array]:
        if self._closed:
            raise StopIteration
        if self._prefetcher is None:
            self._start()
        while True:
            data, meta, info = next(self._prefetcher)
            self._step = info["step"] + 1
            self._skipped += info["skipped"]
            if "grain_state" in info:
                self._grain_state, self._position = info["grain_state"], info["position"]
            # A batch whose every record was skipped (or, with several processes, lies
            # past the epoch's end) is yielded only where every process must take it.
            if info["num_valid"] or self._every_step_counts:
                break
        out = self.pipeline.fused(data, meta) if self.pipeline.has_stages else data
        if self.pipeline.global_arrays:
            out = dict(out, _valid=meta["valid"])
            if self.pipeline.record_ids:
                out = dict(out, _epoch=meta["epoch"], _index=meta["index"])
            return out
        n = info["num_valid"]
        if n < self.pipeline.plan.local_batch_size:
            out = jax.tree.map(lambda a: a[:n], out)
        if self.pipeline.record_ids:
            out = dict(out, _epoch=meta["epoch"][:n], _index=meta["index"][:n])
        return out

    @property
    def _every_step_counts(self) -> bool:
        """Whether a step is yielded even when this process has no valid record in it:
        with several processes (or a global array) all must take the same steps."""
        return self.pipeline.global_arrays or self.pipeline.plan.process_count > 1

    @property
    def skipped(self) -> int:
        """Records left out so far: failed to decode (on_error='skip') or filtered out."""
        return self._skipped

    @property
    def step(self) -> int:
        """How many steps (batches) have been handed out."""
        return self._step

    # ---- state ---------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """The stream position: {'step', 'skipped', 'fingerprint'} (tiny, JSON-able)."""
        state = {"step": self._step, "skipped": self._skipped,
                 "fingerprint": self.pipeline.fingerprint()}
        if self.pipeline.iter_stream is not None:
            state.update(grain=self._grain_state, position=self._position)
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continues from a `get_state()` result of an equal pipeline.

        Raises:
          ValueError: the state was made by a pipeline with another source, seed,
            batch size, ... (the message names what differs).
        """
        if isinstance(state, (str, bytes)):
            state = json.loads(state)
        missing = {"step", "fingerprint"} - set(state)
        if missing:
            raise ValueError(
                f"PipelineIterator.set_state: not a datarax pipeline state (missing "
                f"{sorted(missing)}); pass what get_state() returned")
        check_fingerprint(state["fingerprint"], self.pipeline.fingerprint())
        self._stop()
        self._step = int(state["step"])
        self._skipped = int(state.get("skipped", 0))
        self._grain_state = state.get("grain")
        self._position = int(state.get("position", 0))

    def checkpoint_modules(self) -> nnx.Module:
        """The modules whose NNX state a checkpoint holds beside the stream position."""
        self.pipeline.prepare()
        return self.pipeline.graph

    # ---- shutdown ------------------------------------------------------------------

    def _stop(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None


# Settings that do not change the global stream: a state saved under one value
# continues the same stream under another (elastic hosts: the step is global).
_ELASTIC_SETTINGS = ("process_count",)


def check_fingerprint(saved: Mapping[str, Any], current: Mapping[str, Any],
                      owner: str = "pipeline") -> None:
    """A clear error naming every setting in which two pipelines (or loaders) differ."""
    differences = [
        f"{key}: saved {saved.get(key)!r}, this {owner} {current.get(key)!r}"
        for key in sorted(set(saved) | set(current))
        if saved.get(key) != current.get(key) and key not in _ELASTIC_SETTINGS
    ]
    if differences:
        raise ValueError(
            f"This state was saved by a different {owner}; restoring it would give a "
            f"different stream. Differences: " + "; ".join(differences) +
            f". Rebuild the {owner} with the saved settings, or start a fresh run.")


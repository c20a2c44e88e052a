"""`Pipeline`: Grain on the host, one fused jitted function on the device.

    pipeline = Pipeline(source=MemorySource({...}), stages=[normalize, flip],
                        batch_size=32, shuffle=True, seed=0, num_epochs=2)
    for batch in pipeline:        # dicts of jax.Array, leading batch axis
        ...

Host: Grain shuffles, shards by process and runs worker processes; each step's batch is
read and decoded whole (see `datarax.pipeline.host`). Transfer: a thread puts the next
batches on the device ahead of use. Device: all stages run as one compiled function
when the batch is handed out, with the modules' state at that moment.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, Mapping, Sequence

import flax.nnx as nnx
import jax
import numpy as np

from datarax.core.data_source import DataSourceModule
from datarax.pipeline.device import FusedStages, StageChain
from datarax.pipeline.grain_runtime import (
    claim_shared_memory, ensure_absl_flags_parsed, register_open_iterator)
from datarax.pipeline.host import BatchPlan, HostBatchReader, host_batches
from datarax.pipeline.prefetch import DevicePrefetcher
from datarax.pipeline.source_adapter import as_source


class Pipeline:
    """A data pipeline: a source, host batching by Grain, and device stages.

    Args:
      source: a `DataSourceModule` (MemorySource, ArrayRecordSource, ...) or any
        random-access source with `__len__` and `__getitem__` returning dicts.
      stages: `nnx.Module`s applied in order on the device to each batch dict;
        `OperatorModule`s receive record identity (epoch, global index) for their keys.
      batch_size: records per batch (the global batch in a multi-process run).
      shuffle: reshuffle the records every epoch (Grain's Feistel index shuffle).
      seed: the shuffle seed; if None, drawn from `rngs['shuffle']` (or 0).
      num_epochs: epochs to yield; None repeats forever.
      drop_remainder: drop each epoch's last, partial batch. If False it is yielded
        with its true size (the device function is still compiled only once: the host
        pads it to `batch_size` and the result is cut back).
      worker_count: Grain worker processes that read and decode batches (0: in this
        process). Batches are identical for every worker count.
      worker_buffer_size: batches each worker keeps ready.
      prefetch: batches transferred to the device ahead of use.
      rngs: an `nnx.Rngs`; its 'shuffle' stream seeds the shuffle when `seed` is None.
      record_ids: add '_epoch' and '_index' (int32, per record) to every batch.
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
    ):
        self.source = as_source(source)
        if isinstance(stages, nnx.Module):
            stages = [stages]
        self.graph = StageChain(list(stages))
        self.plan = BatchPlan(
            num_records=len(self.source), batch_size=batch_size,
            drop_remainder=drop_remainder, num_epochs=num_epochs,
            process_index=jax.process_index(), process_count=jax.process_count())
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
        self.fused = FusedStages(self.graph)
        self._iterators: list[PipelineIterator] = []

    @property
    def stages(self) -> list[nnx.Module]:
        return list(self.graph.stages)

    def fingerprint(self) -> dict[str, Any]:
        """What a saved stream position is only valid for."""
        return {
            "source": self.source.describe(),
            "num_records": self.plan.num_records,
            "batch_size": self.plan.batch_size,
            "shuffle": self.shuffle,
            "seed": self.seed,
            "num_epochs": self.plan.num_epochs,
            "drop_remainder": self.plan.drop_remainder,
            "process_count": self.plan.process_count,
        }

    def __iter__(self) -> "PipelineIterator":
        iterator = PipelineIterator(self)
        self._iterators.append(iterator)
        return iterator

    def close(self) -> None:
        """Stops every iterator's worker processes and transfer thread."""
        for iterator in self._iterators:
            iterator.close()
        self._iterators.clear()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _seed_from(rngs: nnx.Rngs | None) -> int:
    if rngs is None or "shuffle" not in rngs:
        return 0
    return int(jax.random.key_data(rngs["shuffle"]())[-1])


class PipelineIterator(Iterator[dict[str, jax.Array]]):
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
        self._prefetcher: DevicePrefetcher | None = None
        self._closed = False
        register_open_iterator(self)

    # ---- iteration -----------------------------------------------------------------

    def _start(self) -> None:
        p = self.pipeline
        reader = HostBatchReader(p.source, p.plan, p.shuffle, p.seed)
        batches = host_batches(reader, self._step, p.worker_count, p.worker_buffer_size)
        self._prefetcher = DevicePrefetcher(batches, _to_device, depth=p.prefetch)

    def __next__(self) -> dict[str, jax.Array]:
        if self._closed:
            raise StopIteration
        if self._prefetcher is None:
            self._start()
        while True:
            data, meta, info = next(self._prefetcher)
            self._step = info["step"] + 1
            self._skipped += info["skipped"]
            if info["num_valid"]:
                break  # a batch whose every record was skipped is not yielded
        out = self.pipeline.fused(data, meta)
        n = info["num_valid"]
        if n < self.pipeline.plan.local_batch_size:
            out = jax.tree.map(lambda a: a[:n], out)
        if self.pipeline.record_ids:
            out = dict(out, _epoch=meta["epoch"][:n], _index=meta["index"][:n])
        return out

    @property
    def skipped(self) -> int:
        """Records skipped so far because they failed to decode (on_error='skip')."""
        return self._skipped

    @property
    def step(self) -> int:
        """How many steps (batches) have been handed out."""
        return self._step

    # ---- state ---------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """The stream position: {'step', 'skipped', 'fingerprint'} (tiny, JSON-able)."""
        return {"step": self._step, "skipped": self._skipped,
                "fingerprint": self.pipeline.fingerprint()}

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
        self._stop_prefetch()
        self._step = int(state["step"])
        self._skipped = int(state.get("skipped", 0))

    # ---- shutdown ------------------------------------------------------------------

    def _stop_prefetch(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None

    def close(self) -> None:
        """Stops worker processes and the transfer thread; later `next()` stops."""
        self._stop_prefetch()
        self._closed = True

    def __enter__(self) -> "PipelineIterator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self._stop_prefetch()
        except Exception:  # pylint: disable=broad-except
            pass


def check_fingerprint(saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """A clear error naming every setting in which two pipelines differ."""
    differences = [
        f"{key}: saved {saved.get(key)!r}, this pipeline {current.get(key)!r}"
        for key in sorted(set(saved) | set(current)) if saved.get(key) != current.get(key)
    ]
    if differences:
        raise ValueError(
            "This state was saved by a different pipeline; restoring it would give a "
            "different stream. Differences: " + "; ".join(differences) +
            ". Rebuild the pipeline with the saved settings, or start a fresh run.")


def _to_device(item):
    data, meta, info = item
    claim_shared_memory(data)
    claim_shared_memory(meta)
    return jax.device_put(data), jax.device_put(meta), info

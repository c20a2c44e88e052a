"""Orbax integration: a pipeline's stream position and its modules' NNX state, one item.

    mngr = ocp.CheckpointManager(directory)
    mngr.save(step, args=ocp.args.Composite(
        data=PipelineSave(iterator), model=ocp.args.StandardSave(nnx.state(model))))
    mngr.restore(step, args=ocp.args.Composite(
        data=PipelineRestore(iterator), model=ocp.args.StandardRestore(abstract)))

The item's directory holds, per JAX process, `process_<i>-of-<n>.json` (the iterator
state: a step number and the pipeline's fingerprint, a few hundred bytes) and one Orbax
PyTree of the pipeline modules' NNX state (params, RNG keys and counters, statistics,
iteration counts). Nothing grows with the dataset. Saving captures both at the moment
`save` is called; with an async manager the files are written in the background.

Several processes (`jax.distributed`): every process calls `save` for the same step and
writes its own JSON file; the NNX state is written once where the processes agree on it
(see `datarax.checkpoint.process_layout`). A restore with the same process count reads
each process's own file. A restore with another count (elastic hosts) reads process 0's
file after checking that every saved process stopped at the same step: the stream
position is a global step, so the new processes continue the same global stream.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, List, Mapping, Optional

import jax
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint._src.futures import future
from orbax.checkpoint._src.handlers import async_checkpoint_handler

from datarax.checkpoint import module_state, process_layout


class PipelineMismatchError(ValueError):
    """A checkpoint was saved by a pipeline that differs from the one restoring it."""


_STATE_FILE = re.compile(r"process_(\d+)-of-(\d+)\.json")


def _state_file(directory: epath.Path, index: int | None = None,
                count: int | None = None) -> epath.Path:
    index = jax.process_index() if index is None else index
    count = jax.process_count() if count is None else count
    return directory / f"process_{index}-of-{count}.json"


def _read_record(path: epath.Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(
            f"datarax checkpoint file {path} is corrupt ({error}); restore an "
            f"earlier step") from error


def _saved_count(directory: epath.Path) -> int:
    """The process count a checkpoint item was saved with (a clear error if unclear)."""
    found = sorted(p.name for p in directory.glob("process_*.json"))
    counts = {int(m.group(2)) for m in map(_STATE_FILE.fullmatch, found) if m}
    if len(counts) != 1:
        raise ValueError(
            f"datarax checkpoint {directory} holds pipeline state files {found or 'none'}; "
            f"expected process_<i>-of-<n>.json for one n. The checkpoint is incomplete "
            f"or corrupt; restore an earlier step.")
    count = counts.pop()
    missing = [f"process_{i}-of-{count}.json" for i in range(count)
               if f"process_{i}-of-{count}.json" not in found]
    if missing:
        raise ValueError(
            f"datarax checkpoint {directory} was saved by {count} processes but lacks "
            f"{missing}; the checkpoint is incomplete. Restore an earlier step.")
    return count


def _without_process_fields(state: Mapping[str, Any]) -> dict[str, Any]:
    # 'skipped' counts this process's own skipped records; everything else describes
    # the global stream position, which every process must share.
    return {k: v for k, v in state.items() if k != "skipped"}


def _elastic_record(directory: epath.Path, saved: int) -> dict[str, Any]:
    """The state a process of a run with another process count continues from."""
    records = [_read_record(_state_file(directory, i, saved)) for i in range(saved)]
    positions = [_without_process_fields(r["iterator"]) for r in records]
    if any(p != positions[0] for p in positions[1:]):
        steps = [r["iterator"].get("step", r["iterator"].get("position")) for r in records]
        raise ValueError(
            f"datarax checkpoint {directory} was saved by {saved} processes that stood at "
            f"different stream positions (steps {steps}), so there is no one global "
            f"position to continue from with {jax.process_count()} processes. Restore it "
            f"with {saved} processes, or from a step that every process saved together.")
    per_process = sorted(k for r in records for k, v in r.get("layout", {}).items()
                         if v == process_layout.PER_PROCESS)
    if per_process:
        raise ValueError(
            f"datarax checkpoint {directory}: the pipeline state {sorted(set(per_process))} "
            f"differed between the {saved} saving processes (e.g. statistics of each "
            f"process's own rows), so it cannot be split exactly over "
            f"{jax.process_count()} processes. Restore it with {saved} processes.")
    record = dict(records[0])
    iterator = dict(record["iterator"])
    if "skipped" in iterator:
        # The run's total skip count survives; it is credited to the new process 0.
        total = sum(int(r["iterator"].get("skipped", 0)) for r in records)
        iterator["skipped"] = total if jax.process_index() == 0 else 0
    record["iterator"] = iterator
    return record


def _record_for_this_process(directory: epath.Path) -> tuple[dict[str, Any], int]:
    """(the iterator record this process restores, the saved process count)."""
    saved = _saved_count(directory)
    if saved == jax.process_count():
        return _read_record(_state_file(directory)), saved
    return _elastic_record(directory, saved), saved


def _modules_of(iterator: Any):
    modules = getattr(iterator, "checkpoint_modules", None)
    if modules is None or not hasattr(iterator, "get_state") or not hasattr(iterator, "set_state"):
        raise TypeError(
            f"PipelineSave/PipelineRestore need a datarax iterator (iter(pipeline) or "
            f"iter(datarax.DataLoader(...))), got {type(iterator).__name__}")
    return modules()


class PipelineCheckpointHandler(async_checkpoint_handler.AsyncCheckpointHandler):
    """Saves and restores a datarax iterator: Grain-side position + NNX module state."""

    def __init__(self, **kwargs):
        del kwargs  # Orbax passes handler options (e.g. multiprocessing) we don't need.
        self._arrays = ocp.StandardCheckpointHandler()

    async def _write_json(self, path: epath.Path, text: str) -> None:
        path.write_text(text)

    async def async_save(self, directory: epath.Path, item: Any = None,
                         args: "PipelineSave" = None) -> Optional[List[future.Future]]:
        iterator = args.iterator if args is not None else item
        modules = _modules_of(iterator)
        # Both halves are captured now; JAX arrays are immutable, so later batches and
        # training steps cannot change what is being written in the background.
        record = {"iterator": iterator.get_state(),
                  "modules": module_state.manifest(modules) if modules is not None else {},
                  "layout": {}}
        tree = module_state.savable_state(modules) if record["modules"] else None
        if tree is not None and jax.process_count() > 1:
            # Every process is in this call together (Orbax saves on all of them).
            layout = process_layout.decide_layout(tree)
            tree = process_layout.to_global(tree, layout)
            record["layout"] = {k: v for k, v in layout.items()
                                if v != process_layout.REPLICATED}
        futures = [future.CommitFutureAwaitingContractedSignals(
            self._write_json(_state_file(directory), json.dumps(record, indent=1)),
            name="datarax_pipeline_state")]
        if tree is not None:
            futures += await self._arrays.async_save(
                directory, args=ocp.args.StandardSave(tree)) or []
        return futures

    def save(self, directory: epath.Path, *args, **kwargs) -> None:
        async def run():
            for f in await self.async_save(directory, *args, **kwargs) or []:
                f.result()
        from orbax.checkpoint._src import asyncio_utils  # pylint: disable=import-outside-toplevel
        asyncio_utils.run_sync(run())

    def restore(self, directory: epath.Path, item: Any = None,
                args: "PipelineRestore" = None) -> Any:
        iterator = args.iterator if args is not None else item
        modules = _modules_of(iterator)
        record, saved_count = _record_for_this_process(directory)
        current = module_state.manifest(modules) if modules is not None else {}
        mismatch = module_state.describe_mismatch(record["modules"], current)
        if mismatch:
            raise PipelineMismatchError(
                f"datarax checkpoint {directory} was saved by a pipeline with other "
                f"stages: {mismatch}. Rebuild the pipeline with the saved operators.")
        try:
            iterator.set_state(record["iterator"])  # checks source, seed, batch size...
        except ValueError as error:
            raise PipelineMismatchError(str(error)) from error
        if current:
            layout = record.get("layout", {})
            targets = process_layout.restore_targets(
                module_state.savable_state(modules), layout, saved_count)
            restored = self._arrays.restore(directory, args=ocp.args.StandardRestore(targets))
            module_state.load_state(modules, process_layout.to_local(restored, layout))
        return iterator

    def metadata(self, directory: epath.Path) -> Any:
        del directory
        return None

    def finalize(self, directory: epath.Path) -> None:
        self._arrays.finalize(directory)

    def close(self) -> None:
        self._arrays.close()

    @classmethod
    def typestr(cls) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"


@ocp.args.register_with_handler(PipelineCheckpointHandler, for_save=True)
@dataclasses.dataclass
class PipelineSave(ocp.args.CheckpointArgs):
    """Save a datarax iterator (its stream position and its pipeline's NNX state)."""

    iterator: Any


@ocp.args.register_with_handler(PipelineCheckpointHandler, for_restore=True)
@dataclasses.dataclass
class PipelineRestore(ocp.args.CheckpointArgs):
    """Restore into a datarax iterator of an equal pipeline (checked, with a clear error)."""

    iterator: Any

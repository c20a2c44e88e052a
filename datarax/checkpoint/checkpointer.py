"""`Checkpointer`: the short form of the Orbax Composite recipe, for the common case.

    ckpt = Checkpointer("/ckpt")                  # async saves, keeps the last 3 steps
    ckpt.save(step, iterator, model=model)        # nnx.Modules or pytrees beside the data
    ...
    step = ckpt.restore(iterator, model=model)    # latest complete step, in place
"""

from __future__ import annotations

import os
from typing import Any

import flax.nnx as nnx
import jax
import orbax.checkpoint as ocp
from etils import epath

from datarax.checkpoint import module_state, process_layout
from datarax.checkpoint.handler import PipelineMismatchError, PipelineRestore, PipelineSave

_DATA = "data"


class Checkpointer:
    """Saves a datarax iterator (and whatever else) as steps of one Orbax manager.

    Args:
      directory: where the steps go (created if missing).
      max_to_keep: how many recent steps Orbax keeps.
      async_save: write in the background (the loop keeps going); `wait()` blocks.
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int | None = 3,
                 async_save: bool = True):
        self.directory = epath.Path(os.path.abspath(os.fspath(directory)))
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep, enable_async_checkpointing=async_save,
                create=True))

    def save(self, step: int, iterator: Any, **others: Any) -> bool:
        """Saves `iterator` and `others` ({name: nnx.Module or pytree}) as `step`."""
        if _DATA in others:
            raise ValueError(f"Checkpointer.save: the name {_DATA!r} is the iterator's; "
                             f"call the other item something else")
        items = {_DATA: PipelineSave(iterator)}
        for name, value in others.items():
            tree = value
            if isinstance(value, nnx.Module):
                tree = module_state.savable_state(value)
                if jax.process_count() > 1:
                    # Orbax writes only global arrays from several processes: a module
                    # every process holds alike is written once, replicated.
                    tree = process_layout.to_global(tree)
            items[name] = ocp.args.StandardSave(tree)
        return self.manager.save(step, args=ocp.args.Composite(**items))

    def restore(self, iterator: Any, step: int | None = None, **others: Any) -> int:
        """Restores `iterator` and `others` in place from `step` (default: the latest).

        `others` are nnx.Modules (updated in place). Returns the step restored.

        Raises:
          FileNotFoundError: there is no complete step to restore.
          ValueError: the step is corrupt or was saved by another pipeline; the message
            says which and lists the other steps that remain.
        """
        self.manager.reload()
        step = self.manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"Checkpointer: no complete checkpoint in {self.directory}")
        items = {_DATA: PipelineRestore(iterator)}
        for name, value in others.items():
            if not isinstance(value, nnx.Module):
                raise TypeError(f"Checkpointer.restore: {name}= must be an nnx.Module to "
                                f"restore in place, got {type(value).__name__}")
            items[name] = ocp.args.StandardRestore(
                process_layout.restore_targets(module_state.savable_state(value)))
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        except PipelineMismatchError:
            raise
        except Exception as error:  # pylint: disable=broad-except
            raise self._corrupt(step, error) from error
        for name, value in others.items():
            module_state.load_state(value, process_layout.to_local(restored[name]))
        return step

    def _corrupt(self, step: int, error: Exception) -> ValueError:
        others = [s for s in self.manager.all_steps() if s != step]
        return ValueError(
            f"Checkpointer: step {step} in {self.directory} could not be read "
            f"({type(error).__name__}: {error}). It may be truncated or corrupt; the other "
            f"steps are {others}: pass step=... to restore one of them.")

    def latest_step(self) -> int | None:
        self.manager.reload()
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        self.manager.reload()
        return list(self.manager.all_steps())

    def wait(self) -> None:
        """Blocks until every background save has finished."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

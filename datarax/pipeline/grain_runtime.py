"""Grain's sharp edges, hidden: absl flags and worker shutdown at exit."""

from __future__ import annotations

import atexit
import weakref

from absl import flags
from grain._src.python.ipc.shared_memory_array import SharedMemoryArray

_open_iterators: "weakref.WeakSet" = weakref.WeakSet()


def ensure_absl_flags_parsed() -> None:
    """Grain and ArrayRecord read absl flags; a plain script never parsed them.

    Marking them parsed (with their defaults) is what `absl.app.run` would have done;
    a program that did parse its flags is left alone.
    """
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def register_open_iterator(iterator) -> None:
    """Remembers an iterator so that interpreter exit closes its workers first."""
    _open_iterators.add(iterator)


@atexit.register
def _close_open_iterators() -> None:
    # Closing before Python tears modules down avoids Grain's shared-memory warnings
    # and worker tracebacks at exit.
    for iterator in list(_open_iterators):
        try:
            iterator.close()
        except Exception:  # pylint: disable=broad-except
            pass


def claim_shared_memory(batch: dict) -> None:
    """Takes ownership of arrays that Grain's workers passed through shared memory.

    Unlinking the segment's name right away keeps the mapping valid for as long as the
    array lives (it is freed when the array is) and leaves nothing for Python's
    resource tracker to warn about at exit, whatever still holds the batch then.
    """
    for leaf in batch.values():
        if isinstance(leaf, SharedMemoryArray) and getattr(leaf, "shm", None) is not None:
            try:
                leaf.shm.unlink()
            except FileNotFoundError:
                pass
            # The array still closes its mapping when collected; it must not unlink twice.
            leaf._unlink_on_del = False  # pylint: disable=protected-access


class IteratorOwner:
    """Base of what makes iterators (Pipeline, DataLoader): `close()` and `with` close
    every iterator it made, stopping their worker processes and transfer threads."""

    def _track(self, iterator):
        self.__dict__.setdefault("_owned_iterators", []).append(iterator)
        return iterator

    def close(self) -> None:
        """Closes every iterator made so far (stops their worker processes)."""
        for iterator in self.__dict__.pop("_owned_iterators", []):
            iterator.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ClosingIterator:
    """Base of datarax's iterators: `close()`, `with`, garbage collection and interpreter
    exit all stop the worker processes and transfer thread (`_stop`, which subclasses
    write); after `close()` the iterator is exhausted."""

    _closed = False

    def _register(self) -> None:
        self._closed = False
        register_open_iterator(self)

    def _stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stops worker processes and the transfer thread; later `next()` stops."""
        self._stop()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self._stop()
        except Exception:  # pylint: disable=broad-except
            pass

"""Moves host batches onto the device on a background thread, ahead of use."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from datarax.pipeline.grain_runtime import claim_shared_memory

_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class DevicePrefetcher:
    """Pulls items from `source`, applies `transfer` on a thread, keeps `depth` ready.

    Errors raised by the source (a bad record, a crashed worker) are re-raised by
    `next()` in the consumer's thread; `close()` stops the thread without hanging.
    """

    def __init__(self, source: Iterator[Any], transfer: Callable[[Any], Any], depth: int = 2):
        self._source = source
        self._transfer = transfer
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="datarax-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(self._transfer(item)):
                    return
            self._put(_END)
        except BaseException as error:  # pylint: disable=broad-except
            self._put(_Failure(error))

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            try:
                item = self._queue.get(timeout=0.5)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError("datarax: the prefetch thread stopped unexpectedly")
        if item is _END:
            self._put(_END)  # stay exhausted on later calls
            raise StopIteration
        if isinstance(item, _Failure):
            self._put(item)
            raise item.error
        return item

    def close(self) -> None:
        """Stops the thread, then closes the source (Grain's workers) if it can be.

        The thread is joined first: closing a generator that the thread is still inside
        raises. A source stuck past the wait (a hung worker) is closed all the same.
        """
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=30)
        close_source = getattr(self._source, "close", None)
        if close_source is not None:
            try:
                close_source()
            except ValueError:  # "generator already executing": the thread is stuck in it
                pass
        self._thread.join(timeout=5)


def transfer_host_batch(transfer: Callable[[Any], Any], item, *, with_meta: bool = True):
    """(data, meta, info) on the host -> (data, meta) through `transfer`, info as is.

    Without `with_meta` the record identity stays on the host: a pipeline with no
    stages and no record ids does not pay three transfers a batch for it.
    """
    data, meta, info = item
    claim_shared_memory(data)
    claim_shared_memory(meta)
    check_numeric(data)
    return transfer(data), (transfer(meta) if with_meta else meta), info


def check_numeric(data: Mapping[str, Any]) -> None:
    """Device arrays hold numbers; a text or object field gets an error naming it."""
    for name, value in data.items():
        dtype = np.dtype(getattr(value, "dtype", object))
        if dtype.kind in "SUOV":
            raise TypeError(
                f"Pipeline: field {name!r} holds {dtype} values (text or "
                f"objects), which cannot go to the device. Turn it into numbers on the host "
                f"(e.g. tokenize in the source's decode) or leave it out of the records")

"""Moves host batches onto the device on a background thread, ahead of use."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

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
        """Stops the thread, then closes the source (Grain's workers) if it can be."""
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        close_source = getattr(self._source, "close", None)
        if close_source is not None:
            close_source()
        self._thread.join(timeout=10)

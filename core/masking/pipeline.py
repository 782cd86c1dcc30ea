"""The stages of a masking run on their own threads, joined by bounded queues.

Reading (JP2 decoding, resampling), inference and writing (class decision,
compression) take turns on different resources; on threads they overlap, so
the slowest stage sets the pace instead of the sum of the three.  Queues are
bounded (a few patch rows), so memory stays that of a few rows whatever the
scene.  Each stage adds up its busy seconds, which the benchmark reports.
A stage's exception reaches the caller; a cancel stops every thread.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple

import numpy as np

_END = object()


class StageClock:
    """Busy seconds per stage name, safe to add to from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: Dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def rounded(self) -> Dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()}


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class RowReader:
    """Reads the patch rows of a scene ahead on a thread, at most `depth` rows ahead of their use.

    Started when made, so a batch can make the next scene's reader while the
    current scene is still being inferred.
    """

    def __init__(self, read: Callable[[int], Tuple[np.ndarray, np.ndarray]], starts: Sequence[int],
                 clock: Optional[StageClock] = None, depth: int = 2) -> None:
        self.clock = clock or StageClock()
        self._queue: "queue.Queue" = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(read, list(starts)), name="cloudfree-read",
                                        daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, read, starts) -> None:
        try:
            for y in starts:
                if self._stop.is_set():
                    return
                t = time.perf_counter()
                item = read(y)
                self.clock.add("read", time.perf_counter() - t)
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failure(exc))

    def __iter__(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        while True:
            t = time.perf_counter()
            item = self._queue.get()
            self.clock.add("wait for read", time.perf_counter() - t)
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class AsyncWriter:
    """Runs `write(*args)` calls on a thread, in order, at most `depth` calls queued."""

    def __init__(self, write: Callable, clock: Optional[StageClock] = None, depth: int = 2) -> None:
        self.clock = clock or StageClock()
        self._write = write
        self._queue: "queue.Queue" = queue.Queue(maxsize=depth)
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="cloudfree-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._error is not None:
                continue  # drain after a failure; the error is raised in the caller
            t = time.perf_counter()
            try:
                self._write(*item)
            except BaseException as exc:
                self._error = exc
            self.clock.add("write", time.perf_counter() - t)

    def submit(self, *args) -> None:
        if self._error is not None:
            raise self._error
        t = time.perf_counter()
        self._queue.put(args)
        self.clock.add("wait for write", time.perf_counter() - t)

    def finish(self) -> None:
        """Wait for every queued write; raise the first write error."""
        self._queue.put(_END)
        self._thread.join()
        if self._error is not None:
            raise self._error


__all__ = ["StageClock", "RowReader", "AsyncWriter"]

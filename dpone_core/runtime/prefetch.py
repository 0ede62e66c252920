"""Run a batch generator in a worker thread so gates overlap the sink's bulk load.

pyarrow compute and the database engines release the GIL, so checking batch N+1 while the sink
ingests batch N roughly halves staging time. The queue is bounded, so memory stays flat: at most
``depth`` batches wait between the two sides.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(source: Iterator[T], depth: int = 4) -> Generator[T, None, None]:
    """Yield ``source``'s items, produced ahead by a daemon thread; exceptions are re-raised here."""
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            items.put(exc)

    worker = threading.Thread(target=produce, name="dpone-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)

"""How far a run has got, read from its dataset's accounted offsets: the progress bar and the follow log use it.

A run's own threads are busy in Beam; a daemon thread polls the store instead, so watching costs the run nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from loopline.store import CuratedStore


def accounted_total(store: CuratedStore) -> int:
    """Offsets stored or dead-lettered in the dataset so far (0 before it exists)."""
    return sum(b - a + 1 for ranges in store.accounted().values() for a, b in ranges) if store.exists() else 0


@contextmanager
def watch_accounted(
    store_root: Path, dataset: str, every_s: float, on_tick: Callable[[int, int], None], name: str | None = None
) -> Iterator[None]:
    """While the block runs, call on_tick(total, added since the last tick) every `every_s` seconds."""
    stop = threading.Event()

    def watch() -> None:
        store = CuratedStore(store_root, dataset)  # its own handle: the run's store is used by the run's thread
        before = accounted_total(store)
        while not stop.wait(every_s):
            now = accounted_total(store)
            on_tick(now, now - before)
            before = now

    threading.Thread(target=watch, name=name, daemon=True).start()
    try:
        yield
    finally:
        stop.set()

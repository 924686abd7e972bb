"""Run progress: offsets stored or dead-lettered, read from the store and reported from a watcher thread."""

from __future__ import annotations

import threading

from loopline.run_progress import accounted_total, watch_accounted
from loopline.store import CuratedStore
from tests.loopline.store.test_store import TOPIC, unit


def test_accounted_total_counts_stored_and_dead_lettered_offsets(tmp_path):
    store = CuratedStore(tmp_path, "live")
    assert accounted_total(store) == 0  # before the dataset exists
    store.create({"source": "test"})
    store.commit([unit(0), unit(1)], dead_letters=[(TOPIC, 0, 9, "decode")])
    assert accounted_total(store) == 5


def test_watch_reports_the_total_and_what_was_added_since_the_last_tick(tmp_path):
    store = CuratedStore(tmp_path, "live")
    store.create({"source": "test"})
    store.commit([unit(0)])
    ticks, ticked = [], threading.Event()

    def on_tick(total: int, added: int) -> None:
        ticks.append((total, added))
        ticked.set()

    with watch_accounted(tmp_path, "live", 0.01, on_tick):
        assert ticked.wait(5)
        ticked.clear()
        store.commit([unit(1), unit(2)])
        while ticks[-1][0] < 6:
            assert ticked.wait(5)
            ticked.clear()
    assert ticks[0] == (2, 0)
    assert sum(added for _, added in ticks) == 4
    assert ticks[-1][0] == 6

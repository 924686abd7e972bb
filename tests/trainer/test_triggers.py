"""When a cycle starts, on a real store: enough new pairs, a run of new thumbs-down, a schedule; never when the
cursor is at the snapshot."""

from __future__ import annotations

import pytest

from loopline.config import TrainerTriggerConfig
from tests.trainer.records import commit, feedback, new_store, pair
from trainer.triggers import TriggerPolicy

T0 = 1_793_000_000_000
NOW = T0 + 3_600_000


def policy(**overrides) -> TriggerPolicy:
    settings = {"new_pairs": None, "thumbs_down_rate": None, "feedback_window": 10, "min_feedback": 4, "every_s": None}
    return TriggerPolicy(TrainerTriggerConfig(**{**settings, **overrides}))


def pairs(prefix: str, n: int) -> list[dict]:
    return [pair(f"{prefix}-{k}") for k in range(n)]


def votes(prefix: str, ups: int, downs: int, start: int) -> list[dict]:
    """`downs` thumbs-down after `ups` thumbs-up, one a millisecond from `start`."""
    return [feedback(f"{prefix}-{k}", start + k, desirable=k < ups) for k in range(ups + downs)]


@pytest.fixture
def store(tmp_path):
    return new_store(tmp_path)


def test_new_pairs_since_the_cursor_fire_at_the_threshold(store):
    commit(store, pairs("a", 4))
    every_five = policy(new_pairs=5)
    assert every_five.check(store.snapshot(), 0, None, NOW) is None
    commit(store, pairs("b", 1))
    assert every_five.check(store.snapshot(), 0, None, NOW) == "5 new pairs >= 5"
    assert every_five.check(store.snapshot(), 1, None, NOW) is None  # only 1 is past the cursor


def test_nothing_fires_when_the_cursor_is_at_the_snapshot(store):
    commit(store, pairs("a", 10), votes("f", 0, 10, T0))
    everything = policy(new_pairs=1, thumbs_down_rate=0.1, every_s=1.0)
    snap = store.snapshot()
    assert everything.check(snap, 0, None, NOW) is not None
    assert everything.check(snap, snap.seq, None, NOW) is None


def test_a_thumbs_down_rate_fires_with_enough_new_feedback_and_stops_once_the_cursor_passes_it(store):
    down = policy(thumbs_down_rate=0.5)
    commit(store, feedbacks=votes("f", 3, 7, T0))  # seq 1: 7 of 10 down
    reason = down.check(store.snapshot(), 0, None, NOW)
    assert reason == "thumbs-down rate 0.70 over the last 10 feedback examples > 0.50"
    commit(store, pairs("a", 2))  # seq 2: a cycle at seq 1 consumed that feedback
    assert down.check(store.snapshot(), 1, None, NOW) is None
    commit(store, feedbacks=votes("g", 0, 3, T0 + 100))  # seq 3: 3 new down, fewer than min_feedback
    assert down.check(store.snapshot(), 2, None, NOW) is None
    commit(store, feedbacks=votes("h", 1, 0, T0 + 200))  # seq 4: the 4th new one, a thumbs-up
    # the window: f-4..f-9 (down), g-0..g-2 (down), h-0 (up)
    assert down.check(store.snapshot(), 2, None, NOW).startswith("thumbs-down rate 0.90 over the last 10 ")


def test_a_rate_at_the_threshold_does_not_fire(store):
    commit(store, feedbacks=votes("f", 5, 5, T0))
    assert policy(thumbs_down_rate=0.5).check(store.snapshot(), 0, None, NOW) is None
    assert policy(thumbs_down_rate=0.4).check(store.snapshot(), 0, None, NOW) is not None


def test_new_feedback_outside_the_recent_window_does_not_count(store):
    commit(store, feedbacks=votes("recent", 10, 0, T0 + 1_000))
    commit(store, feedbacks=votes("late", 0, 8, T0))  # new since seq 1, but older events than the window
    assert policy(thumbs_down_rate=0.5).check(store.snapshot(), 1, None, NOW) is None


def test_the_schedule_fires_every_s_when_pairs_are_new(store):
    hourly = policy(every_s=60.0)
    commit(store, feedbacks=votes("f", 0, 10, T0))
    assert hourly.check(store.snapshot(), 0, None, NOW) is None  # only feedback is new
    commit(store, pairs("a", 1))
    snap = store.snapshot()
    assert hourly.check(snap, 0, None, NOW) == "schedule: 1 new pairs and 60 s since the last cycle"
    assert hourly.check(snap, 0, NOW - 59_999, NOW) is None
    assert hourly.check(snap, 0, NOW - 60_000, NOW) is not None

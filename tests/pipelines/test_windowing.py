"""Session cutting: one key's events split into sessions where window time jumps by the gap; lateness and the
late horizon decide each event's window time."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loopline.config import WindowConfig
from pipelines.model import Event, KafkaRecord, window_time
from pipelines.windowing import admit, ends_thread, session_end, session_thread, split_sessions


def _event(offset: int, t_ms: int) -> Event:
    return Event("chat", "chat:c", t_ms, {}, KafkaRecord("events.chat", 0, offset, t_ms, None, b"{}"))


def test_sessions_split_where_event_time_jumps_by_the_gap():
    events = [_event(3, 10_000), _event(1, 0), _event(2, 5_000), _event(4, 30_000), _event(5, 39_999)]
    sessions = split_sessions(events, gap_ms=10_000)
    assert [[e.source.offset for e in s] for s in sessions] == [[1, 2, 3], [4, 5]]


def test_a_feedback_event_closes_its_window_at_once_so_it_commits_without_waiting_out_the_gap():
    feedback = Event("feedback", "feedback:r1", 5_000, {}, KafkaRecord("events.feedback", 0, 7, 5_000, None, b"{}"))
    assert ends_thread(feedback)
    assert session_end([feedback], gap_ms=2_400_000) == 5_001
    chat = _event(1, 5_000)
    assert not ends_thread(chat) and session_end([chat], gap_ms=2_400_000) == 2_405_000


LATENESS, HORIZON, HOUR = 600_000, 7 * 86_400_000, 3_600_000


def _arriving(offset: int, t_ms: int, arrival_ms: int) -> Event:
    return Event("chat", "chat:c", t_ms, {}, KafkaRecord("events.chat", 0, offset, arrival_ms, None, b"{}"))


def test_an_event_later_than_the_lateness_is_windowed_at_its_arrival_and_only_one_past_the_horizon_is_too_late():
    on_time = _arriving(1, 0, LATENESS)
    assert admit(on_time, LATENESS, HORIZON) == on_time and window_time(on_time) == 0
    late = admit(_arriving(2, 0, LATENESS + 1), LATENESS, HORIZON)
    assert late.late_window_ms == LATENESS + 1 and window_time(late) == LATENESS + 1 and late.event_time_ms == 0
    assert admit(_arriving(3, 0, HORIZON), LATENESS, HORIZON).late_window_ms == HORIZON
    assert admit(_arriving(4, 0, HORIZON + 1), LATENESS, HORIZON) is None


def test_late_events_form_a_unit_at_their_arrival_that_keeps_event_order_and_true_event_times():
    """Two hours of a thread delivered three hours late: the on-time events before and after keep their own
    windows, the late ones make one unit that ends after the watermark (its arrival + the gap)."""
    gap = 40 * 60_000
    before = _arriving(1, 0, 1_000)
    delivered = [
        admit(_arriving(10 + i, HOUR + i * 20 * 60_000, 4 * HOUR + i * 20 * 60_000), LATENESS, HORIZON) for i in range(6)
    ]
    after = _arriving(2, 2 * HOUR + 50 * 60_000, 2 * HOUR + 50 * 60_000 + 1_000)
    sessions = split_sessions([delivered[3], after, *delivered[:3], before, *delivered[4:]], gap)
    assert [[e.source.offset for e in s] for s in sessions] == [[1], [2], [10, 11, 12, 13, 14, 15]]
    late = session_thread("chat:c", sessions[2], session_end(sessions[2], gap))
    assert (late.start_ms, late.end_ms) == (4 * HOUR, 4 * HOUR + 100 * 60_000 + gap)
    assert [e.event_time_ms for e in late.events] == [HOUR + i * 20 * 60_000 for i in range(6)]


def test_a_late_event_arriving_with_live_ones_shares_their_window_in_event_order():
    late = admit(_arriving(5, 0, 2 * HOUR), LATENESS, HORIZON)
    live = _arriving(6, 2 * HOUR - 60_000, 2 * HOUR)
    [session] = split_sessions([late, live], gap_ms=40 * 60_000)
    thread = session_thread("chat:c", session, session_end(session, 40 * 60_000))
    assert [e.source.offset for e in thread.events] == [5, 6]  # event order: the late one happened first
    assert thread.start_ms == 2 * HOUR - 60_000 and thread.end_ms == 2 * HOUR + 40 * 60_000


def test_the_late_horizon_defaults_to_a_week_and_never_undercuts_the_lateness():
    assert WindowConfig().late_horizon_s >= 7 * 86_400
    with pytest.raises(ValidationError, match="late_horizon_s"):
        WindowConfig(allowed_lateness_s=600, late_horizon_s=60)

"""Session cutting: one key's events split into sessions where event time jumps by the gap."""

from __future__ import annotations

from pipelines.model import Event, KafkaRecord
from pipelines.windowing import ends_thread, session_end, split_sessions


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

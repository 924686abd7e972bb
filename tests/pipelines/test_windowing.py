"""Session cutting: one key's events split into sessions where event time jumps by the gap."""

from __future__ import annotations

from pipelines.model import Event, KafkaRecord
from pipelines.windowing import split_sessions


def _event(offset: int, t_ms: int) -> Event:
    return Event("chat", "chat:c", t_ms, {}, KafkaRecord("events.chat", 0, offset, t_ms, None, b"{}"))


def test_sessions_split_where_event_time_jumps_by_the_gap():
    events = [_event(3, 10_000), _event(1, 0), _event(2, 5_000), _event(4, 30_000), _event(5, 39_999)]
    sessions = split_sessions(events, gap_ms=10_000)
    assert [[e.source.offset for e in s] for s in sessions] == [[1, 2, 3], [4, 5]]

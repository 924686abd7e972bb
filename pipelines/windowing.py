"""Group events into event-time session windows per conversation / email thread / ticket.

Sessions are built with Beam state and timers (see _Sessionize). Lateness is decided per event from its own timestamps — admitted iff it reached Kafka at most
`allowed_lateness` after its event time — so the decision is the same on every runner, in
bounded and follow mode, and on replay. Admitted events are never behind the source's
watermark (see pipelines/source.py), so Beam never drops them; the rest are dead-lettered.
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.coders import PickleCoder
from apache_beam.transforms import window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from loopline.config import WindowConfig
from pipelines.deadletter import DEAD, Guarded, dead_letter
from pipelines.decode import Event


class Thread(NamedTuple):
    """All admitted events of one conversation/thread/ticket in one session window, in event order."""
    key: str
    start_ms: int
    end_ms: int
    events: tuple[Event, ...]
    pairs: tuple = ()  # set by the pairs stage: ((prompt events, response event, quality, task), ...)


class ThreadStage(Guarded):
    """A guarded stage over whole Threads: if it fails on one, every message of that thread is dead-lettered."""

    def inputs(self, thread: Thread):
        return [e.source for e in thread.events]


class _Admit(Guarded):
    stage = "window"

    def __init__(self, config: WindowConfig):
        self.lateness_ms = int(config.allowed_lateness_s * 1000)

    def inputs(self, event: Event):
        return [event.source]

    def handle(self, event: Event):
        if event.source.behind_watermark:
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(
                event.source, self.stage, "timestamp_regression",
                "Kafka timestamp went backwards by more than window.timestamp_skew_s"))
            return
        late_by = event.source.timestamp_ms - event.event_time_ms - self.lateness_ms
        if late_by > 0:
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(
                event.source, self.stage, "too_late", f"arrived {late_by} ms after the allowed lateness"))
            return
        yield window.TimestampedValue((event.thread, event), event.event_time_ms / 1000)


def split_sessions(events: list[Event], gap_ms: int) -> list[list[Event]]:
    """Events of one key, cut wherever event time jumps by at least `gap_ms`: Beam's Sessions merge rule."""
    ordered = sorted(events, key=lambda e: (e.event_time_ms, e.source.topic, e.source.partition, e.source.offset))
    sessions: list[list[Event]] = []
    for e in ordered:
        if sessions and e.event_time_ms < sessions[-1][-1].event_time_ms + gap_ms:
            sessions[-1].append(e)
        else:
            sessions.append([e])
    return sessions


class _Sessionize(beam.DoFn):
    """Session windows per key with Beam state and an event-time timer.

    Equivalent to WindowInto(Sessions(gap)) + GroupByKey for admitted events, but it does not rely
    on the runner's window merging (Prism's merging splits sessions whose events arrive in
    different bundles). The buffer lives in Beam state, so it is checkpointed like any runner state.
    When the watermark passes a session's end, no admitted event can still join it: it is emitted.
    """

    BUFFER = BagStateSpec("events", PickleCoder())
    CLOSE = TimerSpec("close", TimeDomain.WATERMARK)

    def __init__(self, gap_s: float):
        self.gap_ms = int(gap_s * 1000)
        self.windows = Metrics.counter("loopline", "window.windows")

    def process(self, kv, buffer=beam.DoFn.StateParam(BUFFER), close=beam.DoFn.TimerParam(CLOSE)):
        buffer.add(kv[1])
        sessions = split_sessions(list(buffer.read()), self.gap_ms)
        close.set(Timestamp.of(min(self._end(s) for s in sessions) / 1000))

    @on_timer(CLOSE)
    def on_close(self, key=beam.DoFn.KeyParam, fired=beam.DoFn.TimestampParam,
                 buffer=beam.DoFn.StateParam(BUFFER), close=beam.DoFn.TimerParam(CLOSE)):
        fired_ms = fired.micros // 1000
        sessions = split_sessions(list(buffer.read()), self.gap_ms)
        done = [s for s in sessions if self._end(s) <= fired_ms]
        open_ = [s for s in sessions if self._end(s) > fired_ms]
        buffer.clear()
        for session in open_:
            for e in session:
                buffer.add(e)
        if open_:
            close.set(Timestamp.of(min(self._end(s) for s in open_) / 1000))
        for session in done:
            self.windows.inc()
            yield Thread(key, session[0].event_time_ms, self._end(session), tuple(session))

    def _end(self, session: list[Event]) -> int:
        return session[-1].event_time_ms + self.gap_ms


class WindowThreads(beam.PTransform):
    """Events -> Threads (main) and dead letters for late events (tag DEAD)."""

    def __init__(self, config: WindowConfig):
        super().__init__()
        self.config = config

    def expand(self, events):
        admitted = events | "Admit" >> beam.ParDo(_Admit(self.config)).with_outputs(DEAD, main="admitted")
        threads = admitted.admitted | "Sessionize" >> beam.ParDo(_Sessionize(self.config.session_gap_s))
        return {"threads": threads, DEAD: admitted[DEAD]}

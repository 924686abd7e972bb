"""Group events into event-time session windows per conversation / email thread / ticket.

Sessions are built with Beam state and timers (see _Sessionize). Lateness is decided per event from
its own timestamps — admitted iff it reached Kafka at most `allowed_lateness` after its event time —
so the decision is the same on every runner, in bounded and follow mode, on replay, and whatever
the batch boundaries. Admitted events are never behind the source's watermark while Kafka
timestamps go backwards by no more than the configured skew (see pipelines/source.py), so no
window closes before its events are in; the rest are dead-lettered as too_late.

A session ends after its kind's gap of event-time silence, or at once at an explicit end (a
ticket resolved or closed, a chat message marked `ends_conversation`, any feedback event): its records then commit as
soon as the watermark passes that event instead of waiting out the gap.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from loopline import catalog
from loopline.config import WindowConfig
from loopline.metrics import OPEN_THREADS
from pipelines.guard import DEAD, Guarded, dead_letter
from pipelines.model import Event, Thread


class _Admit(Guarded):
    stage = "window"

    def __init__(self, config: WindowConfig):
        self.lateness_ms = int(config.allowed_lateness_s * 1000)

    def inputs(self, event: Event):
        return [event.source]

    def handle(self, event: Event):
        late_by = event.source.timestamp_ms - event.event_time_ms - self.lateness_ms
        if late_by > 0:
            yield beam.pvalue.TaggedOutput(
                DEAD, dead_letter(event.source, self.stage, "too_late", f"arrived {late_by} ms after the allowed lateness")
            )
            return
        yield window.TimestampedValue((event.thread, event), event.event_time_ms / 1000)


def ends_thread(event: Event) -> bool:
    """An explicit end: nothing more is expected in this session (a later message starts a new one).

    An event outside any conversation (feedback) is complete on its own: it commits as soon as the watermark
    passes it, so a thumbs-down reaches the trainer in seconds rather than after a session gap."""
    if not catalog.by_kind(event.kind).conversation:
        return True
    if event.kind == "ticket":
        return event.record["event_type"] in ("resolved", "closed")
    return event.kind == "chat" and bool(event.record.get("ends_conversation"))


def split_sessions(events: list[Event], gap_ms: int, end_markers: bool = True) -> list[list[Event]]:
    """Events of one key, cut wherever event time jumps by at least `gap_ms` (Beam's Sessions merge
    rule) and, with `end_markers`, after each explicit end."""
    ordered = sorted(events, key=lambda e: (e.event_time_ms, e.source.topic, e.source.partition, e.source.offset))
    sessions: list[list[Event]] = []
    for e in ordered:
        last = sessions[-1][-1] if sessions else None
        if last is not None and e.event_time_ms < last.event_time_ms + gap_ms and not (end_markers and ends_thread(last)):
            sessions[-1].append(e)
        else:
            sessions.append([e])
    return sessions


def session_end(session: list[Event], gap_ms: int, end_markers: bool = True) -> int:
    """When the session's window closes: just after an explicit end, else its last event + the gap."""
    last = session[-1]
    return last.event_time_ms + 1 if end_markers and ends_thread(last) else last.event_time_ms + gap_ms


class _Sessionize(beam.DoFn):
    """Session windows per key with Beam state and an event-time timer.

    Equivalent to WindowInto(Sessions(gap)) + GroupByKey for admitted events, but it does not rely
    on the runner's window merging (Prism's merging splits sessions whose events arrive in
    different bundles), and it can close a session at an explicit end. The buffer lives in Beam
    state, so it is checkpointed like any runner state. When the watermark passes a session's end,
    no admitted event can still join it: it is emitted.
    """

    BUFFER = BagStateSpec("events", PickleCoder())
    CLOSE = TimerSpec("close", TimeDomain.WATERMARK)

    def __init__(self, config: WindowConfig):
        self.config = config
        self.windows = Metrics.counter("loopline", "window.windows")

    def process(self, kv, buffer=beam.DoFn.StateParam(BUFFER), close=beam.DoFn.TimerParam(CLOSE)):
        buffer.add(kv[1])
        OPEN_THREADS.opened(kv[0])
        sessions = self._sessions(list(buffer.read()))
        close.set(Timestamp.of(min(self._end(s) for s in sessions) / 1000))

    @on_timer(CLOSE)
    def on_close(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        buffer=beam.DoFn.StateParam(BUFFER),
        close=beam.DoFn.TimerParam(CLOSE),
    ):
        fired_ms = fired.micros // 1000
        sessions = self._sessions(list(buffer.read()))
        done = [s for s in sessions if self._end(s) <= fired_ms]
        open_ = [s for s in sessions if self._end(s) > fired_ms]
        buffer.clear()
        for session in open_:
            for e in session:
                buffer.add(e)
        if open_:
            close.set(Timestamp.of(min(self._end(s) for s in open_) / 1000))
        else:
            OPEN_THREADS.closed(key)
        for session in done:
            self.windows.inc()
            yield Thread(key, session[0].event_time_ms, self._end(session), tuple(session))

    def _sessions(self, events: list[Event]) -> list[list[Event]]:
        return split_sessions(events, self.config.gap_ms(events[0].kind), self.config.end_markers) if events else []

    def _end(self, session: list[Event]) -> int:
        return session_end(session, self.config.gap_ms(session[0].kind), self.config.end_markers)


class WindowThreads(beam.PTransform):
    """Events -> Threads (main) and dead letters for late events (tag DEAD)."""

    def __init__(self, config: WindowConfig):
        super().__init__()
        self.config = config

    def expand(self, events):
        admitted = events | "Admit" >> beam.ParDo(_Admit(self.config)).with_outputs(DEAD, main="admitted")
        threads = admitted.admitted | "Sessionize" >> beam.ParDo(_Sessionize(self.config))
        return {"threads": threads, DEAD: admitted[DEAD]}

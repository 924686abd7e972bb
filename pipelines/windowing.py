"""Group events into event-time session windows per conversation / email thread / ticket.

Sessions are built with Beam state and timers (see _Sessionize). Lateness is decided per event from
its own timestamps, so the decision is the same on every runner, in bounded and follow mode, on replay,
and whatever the batch boundaries:
  on time   it reached Kafka at most `allowed_lateness` after its event time: windowed at its event time.
            Such events are never behind the source's watermark while Kafka timestamps go backwards by no
            more than the configured skew (see pipelines/source.py), so no window closes before its events are in.
  late      later than that, but within `late_horizon`: curated, not discarded. It is windowed at its arrival
            (its Kafka timestamp, Event.late_window_ms), which the watermark has not passed, so it re-opens its
            thread as a late unit: a session window of the same key, cut by the same gap in window time, that
            closes and commits like any other and takes its place in the canonical order (pipelines/ordering.py)
            by that window's end. It keeps its true event time: its records carry it, and the pairs stage reads
            the thread's earlier windows back from the thread history and pairs in event order across them, so a
            late answer pairs with the question curated hours before (pipelines/pairs.py).
  too late  older than `late_horizon` on arrival: dead-lettered as too_late (`loopline replay --late-horizon-days`
            rebuilds a dataset with a longer horizon).
A replay reads the same timestamps, so it makes the same late units and the same records.

A session ends after its kind's gap of silence in window time, or at once at an explicit end (a
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
from pipelines.model import Event, Thread, event_order, window_time


class _Admit(Guarded):
    stage = "window"

    def __init__(self, config: WindowConfig):
        self.lateness_ms = int(config.allowed_lateness_s * 1000)
        self.horizon_ms = int(config.late_horizon_s * 1000)
        self.late = Metrics.counter("loopline", "window.late")

    def inputs(self, event: Event):
        return [event.source]

    def handle(self, event: Event):
        admitted = admit(event, self.lateness_ms, self.horizon_ms)
        if admitted is None:
            detail = f"arrived {event.source.timestamp_ms - event.event_time_ms} ms after its event time, past the late horizon"
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(event.source, self.stage, "too_late", detail))
            return
        if admitted.late_window_ms is not None:
            self.late.inc()
        yield window.TimestampedValue((admitted.thread, admitted), window_time(admitted) / 1000)


def admit(event: Event, lateness_ms: int, horizon_ms: int) -> Event | None:
    """The event as windowing takes it: as is when on time, re-timed to its arrival (late_window_ms) when late
    but within the horizon; None when it arrived more than the horizon after its event time (too late)."""
    delay_ms = event.source.timestamp_ms - event.event_time_ms
    if delay_ms > horizon_ms:
        return None
    if delay_ms > lateness_ms:
        return event._replace(late_window_ms=event.source.timestamp_ms)
    return event


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
    """Events of one key in window-time order, cut wherever window time jumps by at least `gap_ms` (Beam's
    Sessions merge rule) and, with `end_markers`, after each explicit end."""
    ordered = sorted(events, key=lambda e: (window_time(e), *event_order(e)))
    sessions: list[list[Event]] = []
    for e in ordered:
        last = sessions[-1][-1] if sessions else None
        if last is not None and window_time(e) < window_time(last) + gap_ms and not (end_markers and ends_thread(last)):
            sessions[-1].append(e)
        else:
            sessions.append([e])
    return sessions


def session_end(session: list[Event], gap_ms: int, end_markers: bool = True) -> int:
    """When the session's window closes (window time): just after an explicit end, else its last event + the gap."""
    last = window_time(session[-1])
    return last + 1 if end_markers and ends_thread(session[-1]) else last + gap_ms


def session_thread(key: str, session: list[Event], end_ms: int) -> Thread:
    """The Thread of a closed session: its window in window time, its events in event order."""
    return Thread(key, window_time(session[0]), end_ms, tuple(sorted(session, key=event_order)))


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
            yield session_thread(key, session, self._end(session))

    def _sessions(self, events: list[Event]) -> list[list[Event]]:
        return split_sessions(events, self.config.gap_ms(events[0].kind), self.config.end_markers) if events else []

    def _end(self, session: list[Event]) -> int:
        return session_end(session, self.config.gap_ms(session[0].kind), self.config.end_markers)


class WindowThreads(beam.PTransform):
    """Events -> Threads (main) and dead letters for events older than the late horizon (tag DEAD)."""

    def __init__(self, config: WindowConfig):
        super().__init__()
        self.config = config

    def expand(self, events):
        admitted = events | "Admit" >> beam.ParDo(_Admit(self.config)).with_outputs(DEAD, main="admitted")
        threads = admitted.admitted | "Sessionize" >> beam.ParDo(_Sessionize(self.config))
        return {"threads": threads, DEAD: admitted[DEAD]}

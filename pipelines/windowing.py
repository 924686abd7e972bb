"""Group events into event-time session windows per conversation / email thread / ticket.

Lateness is decided per event from its own timestamps — admitted iff it reached Kafka at most
`allowed_lateness` after its event time — so the decision is the same on every runner, in
bounded and follow mode, and on replay. Admitted events are never behind the source's
watermark (see pipelines/source.py), so Beam never drops them; the rest are dead-lettered.
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Duration

from loopline.config import WindowConfig
from pipelines.deadletter import DEAD, Guarded, dead_letter
from pipelines.decode import Event


class Thread(NamedTuple):
    """All admitted events of one conversation/thread/ticket in one session window, in event order."""
    key: str
    start_ms: int
    end_ms: int
    events: tuple[Event, ...]


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


class _ToThread(beam.DoFn):
    def __init__(self):
        self.windows = Metrics.counter("loopline", "window.windows")

    def process(self, kv, w=beam.DoFn.WindowParam):
        key, events = kv
        self.windows.inc()
        ordered = sorted(events, key=lambda e: (e.event_time_ms, e.source.topic, e.source.partition, e.source.offset))
        yield Thread(key, int(w.start.micros // 1000), int(w.end.micros // 1000), tuple(ordered))


class WindowThreads(beam.PTransform):
    """Events -> Threads (main) and dead letters for late events (tag DEAD)."""

    def __init__(self, config: WindowConfig):
        super().__init__()
        self.config = config

    def expand(self, events):
        admitted = events | "Admit" >> beam.ParDo(_Admit(self.config)).with_outputs(DEAD, main="admitted")
        threads = (admitted.admitted
                   | "Sessions" >> beam.WindowInto(window.Sessions(self.config.session_gap_s),
                                                   allowed_lateness=Duration(0))
                   | "GroupByThread" >> beam.GroupByKey()
                   | "ToThread" >> beam.ParDo(_ToThread()))
        return {"threads": threads, DEAD: admitted[DEAD]}

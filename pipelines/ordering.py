"""Put closed threads into one canonical order: window end, then key.

Dedup decides "first occurrence wins", so its input order decides the survivors. Windows close in
different orders on different runners (the FnApiRunner closes every window at once at the end of a
bounded read; Prism closes them as the watermark moves) and after a restart. Releasing each thread
once the watermark passes its window end, sorted by (end, key), gives every run the same order:
a thread cannot reach this step after the watermark passed its end, since it carries that end as
its timestamp. One key, so one ordered sequence; the buffer holds only threads awaiting the watermark.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import PickleCoder, VarIntCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import OrderedListStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import MAX_TIMESTAMP, MIN_TIMESTAMP, Duration, Timestamp

from pipelines.model import Thread


class _Release(beam.DoFn):
    def __init__(self, batch_ms: int):
        self.batch_ms = batch_ms

    # Ordered by window end, so each release reads and clears only the ready prefix: a bag would be
    # re-read and rewritten whole at every release (quadratic when a bounded run closes all at once).
    WAITING = OrderedListStateSpec("waiting", PickleCoder())
    NEXT = ReadModifyWriteStateSpec("next_end_ms", VarIntCoder())
    RELEASE = TimerSpec("release", TimeDomain.WATERMARK)

    def process(
        self,
        kv,
        waiting=beam.DoFn.StateParam(WAITING),
        next_end=beam.DoFn.StateParam(NEXT),
        release=beam.DoFn.TimerParam(RELEASE),
    ):
        thread: Thread = kv[1]
        waiting.add((_at(thread.end_ms), thread))
        due = self._due(thread.end_ms)
        if next_end.read() is None or due < next_end.read():
            next_end.write(due)
            release.set(_at(due))

    @on_timer(RELEASE)
    def on_release(
        self,
        fired=beam.DoFn.TimestampParam,
        waiting=beam.DoFn.StateParam(WAITING),
        next_end=beam.DoFn.StateParam(NEXT),
        release=beam.DoFn.TimerParam(RELEASE),
    ):
        limit = fired + Duration(micros=1000)  # everything ending at or before the fired millisecond
        ready = sorted((t for _, t in waiting.read_range(MIN_TIMESTAMP, limit)), key=lambda t: (t.end_ms, t.key))
        waiting.clear_range(MIN_TIMESTAMP, limit)
        upcoming = next(iter(waiting.read_range(limit, MAX_TIMESTAMP)), None)
        next_end.clear()
        if upcoming is not None:
            due = self._due(upcoming[1].end_ms)
            next_end.write(due)
            release.set(_at(due))
        yield from ready

    def _due(self, end_ms: int) -> int:
        """Release in batches of `batch_ms` event time: one timer round per batch, not per thread
        (a bounded run closes thousands of windows at once)."""
        return -(-end_ms // self.batch_ms) * self.batch_ms


def _at(ms: int) -> Timestamp:
    return Timestamp(micros=ms * 1000)


class InCanonicalOrder(beam.PTransform):
    """Threads -> the same Threads, released in (window end, key) order, a batch of event time at a time."""

    def __init__(self, batch_s: float = 600):
        super().__init__()
        self.batch_ms = int(batch_s * 1000)

    def expand(self, threads):
        return threads | "OneKey" >> beam.Map(lambda t: ("order", t)) | "Release" >> beam.ParDo(_Release(self.batch_ms))

"""Put closed threads into one canonical order: window end, then key.

Dedup decides "first occurrence wins", so its input order decides the survivors. Windows close in
different orders on different runners (the FnApiRunner closes every window at once at the end of a
bounded read; Prism closes them as the watermark moves) and after a restart. Releasing each thread
once the watermark passes its window end, sorted by (end, key), gives every run the same order:
a thread cannot reach this step after the watermark passed its end, since it carries that end as
its timestamp. One key, so one ordered sequence; the buffer holds only threads awaiting the watermark.

The buffer is bag state, which every portable runner supports (Flink's has no ordered-list state): a release
reads it, emits what is due sorted by (end, key) and writes back the rest. The rest is only what awaits the
watermark (a bounded run's final watermark releases everything at once), so the rewrite stays small.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import PickleCoder, VarIntCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from pipelines.model import Thread


class _Release(beam.DoFn):
    def __init__(self, batch_ms: int):
        self.batch_ms = batch_ms

    WAITING = BagStateSpec("waiting", PickleCoder())
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
        waiting.add(thread)
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
        limit_ms = fired.micros // 1000  # everything ending at or before the fired millisecond
        ready, rest = [], []
        for thread in waiting.read():
            (ready if thread.end_ms <= limit_ms else rest).append(thread)
        waiting.clear()
        for thread in rest:
            waiting.add(thread)
        next_end.clear()
        if rest:
            due = self._due(min(t.end_ms for t in rest))
            next_end.write(due)
            release.set(_at(due))
        yield from sorted(ready, key=lambda t: (t.end_ms, t.key))

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

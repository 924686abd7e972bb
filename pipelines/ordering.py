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
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from pipelines.windowing import Thread


class _Release(beam.DoFn):
    BUFFER = BagStateSpec("threads", PickleCoder())
    NEXT = ReadModifyWriteStateSpec("next_end_ms", VarIntCoder())
    RELEASE = TimerSpec("release", TimeDomain.WATERMARK)

    def process(self, kv, buffer=beam.DoFn.StateParam(BUFFER), next_end=beam.DoFn.StateParam(NEXT),
                release=beam.DoFn.TimerParam(RELEASE)):
        thread: Thread = kv[1]
        buffer.add(thread)
        if next_end.read() is None or thread.end_ms < next_end.read():
            next_end.write(thread.end_ms)
            release.set(Timestamp.of(thread.end_ms / 1000))

    @on_timer(RELEASE)
    def on_release(self, fired=beam.DoFn.TimestampParam, buffer=beam.DoFn.StateParam(BUFFER),
                   next_end=beam.DoFn.StateParam(NEXT), release=beam.DoFn.TimerParam(RELEASE)):
        fired_ms = fired.micros // 1000
        threads = sorted(buffer.read(), key=lambda t: (t.end_ms, t.key))
        ready = [t for t in threads if t.end_ms <= fired_ms]
        waiting = [t for t in threads if t.end_ms > fired_ms]
        buffer.clear()
        next_end.clear()
        for t in waiting:
            buffer.add(t)
        if waiting:
            next_end.write(waiting[0].end_ms)
            release.set(Timestamp.of(waiting[0].end_ms / 1000))
        yield from ready


class InCanonicalOrder(beam.PTransform):
    """Threads -> the same Threads, released in (window end, key) order."""

    def expand(self, threads):
        return (threads
                | "OneKey" >> beam.Map(lambda t: ("order", t))
                | "Release" >> beam.ParDo(_Release()))

"""Read Kafka partitions as a splittable DoFn: bounded offset ranges or an unbounded follow.

Beam's ReadFromKafka needs a Java expansion service (downloaded at run time, unreachable here,
and not runnable on the local runners), so this reader uses confluent-kafka directly. It keeps
no process-local state that must survive: the position is the SDF restriction and the
watermark lives in the watermark estimator, so runners can checkpoint and move it.

Admission is a pure function of the event (pipelines/windowing.py): on time iff it reached Kafka
(its Kafka timestamp) at most `allowed_lateness` after its event time, and windowed at its event time; a
later one (within the late horizon) is windowed at its Kafka timestamp. The watermark passes neither: each
partition's is held at (earliest Kafka timestamp of the latest batch) - allowed_lateness - skew.
Kafka timestamps are not monotonic within a partition (several producers,
skewed clocks, relayed times); as long as a record's timestamp is at most `timestamp_skew_s` behind
the latest before it, its event time cannot be behind the watermark, whatever the batch
boundaries. A record further behind is still processed, never dropped: its thread may already have
closed, so it opens a new session of that thread, which reads the earlier part back like any
resumed thread (pipelines/history.py). In follow mode a caught-up, idle partition moves its
watermark with the stream's time minus the same hold (the wall clock while producers stamp about
now), so quiet partitions don't stall the others.

Follow runs end cleanly when a stop file appears (pipelines/follow.py writes it on SIGTERM): every
partition finishes, the watermark reaches the end, and the windows in flight close and commit.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms import window
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.utils.timestamp import Duration, Timestamp

from loopline.config import SourceConfig, WindowConfig
from loopline.metrics import CONSUMER_LAG
from pipelines.model import KafkaRecord

FOLLOW = sys.maxsize  # stop offset of an unbounded slice


def consumer_group(dataset: str) -> str:
    """The Kafka consumer group whose committed offsets mirror a dataset's durable progress
    (pipelines/progress.py commits them; the beam-java reader resumes from them)."""
    return f"loopline.{dataset}"


class PartitionSlice(NamedTuple):
    """What to read from one partition: [start, stop), minus offsets the store already accounted for."""

    topic: str
    partition: int
    start: int
    stop: int
    skip: tuple[tuple[int, int], ...] = ()  # inclusive ranges


class _SliceRestrictions(RestrictionProvider):
    def initial_restriction(self, part: PartitionSlice) -> OffsetRange:
        return OffsetRange(part.start, part.stop)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, part: PartitionSlice, restriction: OffsetRange) -> int:
        return 1 if restriction.stop == FOLLOW else restriction.size()

    def split(self, part, restriction):
        yield restriction  # one reader per partition keeps Kafka reads sequential


def _skipped(skip: tuple[tuple[int, int], ...], offset: int) -> bool:
    return any(first <= offset <= last for first, last in skip)


class _ReadSlice(beam.DoFn):
    """Emit the records of one partition slice, claiming each offset before emitting it."""

    def __init__(self, bootstrap: str, source: SourceConfig, window: WindowConfig):
        self.bootstrap = bootstrap
        self.source = source
        self.hold_ms = int((window.allowed_lateness_s + window.timestamp_skew_s) * 1000)
        self.read = Metrics.counter("loopline", "source.read")
        self.skipped = Metrics.counter("loopline", "source.already_stored")

    def setup(self):
        from loopline.stack.kafka import BrokerWatch

        self._consumers = {}  # a cache only: rebuilt from the restriction when missing
        self._watch = BrokerWatch(self.bootstrap, self.source.unreachable_timeout_s)

    def teardown(self):
        for consumer, _ in self._consumers.values():
            consumer.close()

    def _consumer(self, topic: str, partition: int, position: int):
        from confluent_kafka import Consumer, TopicPartition

        key = (topic, partition)
        consumer, expected = self._consumers.get(key, (None, None))
        if consumer is None:
            consumer = Consumer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": "loopline-reader",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "fetch.max.bytes": 8 * 1024 * 1024,
                    **self._watch.settings(),
                }
            )
        if expected != position:
            consumer.assign([TopicPartition(topic, partition, position)])
        return consumer

    def _stamped(self, records: list[KafkaRecord]):
        """Timestamp each record with the earliest event time it may carry and still be admitted,
        so no runner's watermark can pass an admitted event while it is in flight."""
        for r in records:
            yield window.TimestampedValue(r, Timestamp.of((r.timestamp_ms - self.hold_ms) / 1000))

    @staticmethod
    def _high(consumer, part: PartitionSlice) -> int:
        """The partition's end offset as the last fetch saw it (no broker call); negative before any fetch."""
        from confluent_kafka import TopicPartition

        return consumer.get_watermark_offsets(TopicPartition(part.topic, part.partition), cached=True)[1]

    def _report_lag(self, consumer, part: PartitionSlice, position: int) -> None:
        high = self._high(consumer, part)
        if high >= 0:
            CONSUMER_LAG.labels(part.topic, str(part.partition)).set(max(0, high - position))

    def _read_batch(self, part: PartitionSlice, tracker, watermark, position: int) -> tuple[list[KafkaRecord], int, bool]:
        """Claim and return one batch of records from `position`; also the next position, and
        whether a claim was refused (the restriction ended: the runner split or checkpointed it)."""
        consumer = self._consumer(part.topic, part.partition, position)
        records, min_ts = [], None
        # consume() waits out its timeout unless it fills the batch: in a bounded slice, ask for no
        # more than is left so the last batch returns at once
        wanted = min(self.source.batch_size, tracker.current_restriction().stop - position)
        messages = consumer.consume(wanted, timeout=self.source.poll_timeout_s)
        if messages:
            self._watch.reached()
        else:
            self._watch.check()
        for msg in messages:
            if msg.error() is not None:
                raise RuntimeError(f"Kafka read of {part.topic}/{part.partition} failed: {msg.error()}")
            if not tracker.try_claim(msg.offset()):
                consumer.close()
                self._consumers.pop((part.topic, part.partition), None)
                return records, position, True
            position = msg.offset() + 1
            if _skipped(part.skip, msg.offset()):
                self.skipped.inc()
                continue
            ts = msg.timestamp()[1]
            records.append(KafkaRecord(part.topic, part.partition, msg.offset(), ts, msg.key(), msg.value()))
            min_ts = ts if min_ts is None else min(min_ts, ts)
            _STREAM_TIME.saw(ts)
        self._consumers[(part.topic, part.partition)] = (consumer, position)
        self.read.inc(len(records))
        self._report_lag(consumer, part, position)
        if min_ts is not None:
            # No further than the earliest record of this batch: a runner that lets the watermark pass
            # records still in flight (Prism does) must not see any of this batch as late.
            candidate = Timestamp.of((min_ts - self.hold_ms) / 1000)
            if watermark.current_watermark() is None or candidate > watermark.current_watermark():
                watermark.set_watermark(candidate)
        return records, position, False


class _ReadBounded(_ReadSlice):
    def process(
        self,
        part: PartitionSlice,
        tracker=beam.DoFn.RestrictionParam(_SliceRestrictions()),
        watermark=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider()),
    ):
        position = tracker.current_restriction().start
        while position < tracker.current_restriction().stop:
            records, next_position, refused = self._read_batch(part, tracker, watermark, position)
            yield from self._stamped(records)
            if refused:
                return
            if next_position == position and self._caught_up(part, position):
                # nothing left to read below `stop` (e.g. trailing transaction markers): claim the rest
                tracker.try_claim(tracker.current_restriction().stop - 1)
                return
            position = next_position

    def _caught_up(self, part: PartitionSlice, position: int) -> bool:
        """Whether the partition ends at `position`; False while the broker does not answer (reading goes on
        until it does or the watch's bound ends the run)."""
        from confluent_kafka import KafkaException, TopicPartition

        consumer, _ = self._consumers[(part.topic, part.partition)]
        timeout = min(10.0, self.source.unreachable_timeout_s)
        try:
            end = consumer.get_watermark_offsets(TopicPartition(part.topic, part.partition), timeout=timeout)[1]
        except KafkaException as e:
            self._watch(e.args[0])
            self._watch.check()
            return False
        self._watch.reached()
        return end <= position


class _ReadFollow(_ReadSlice):
    def __init__(self, bootstrap: str, source: SourceConfig, window: WindowConfig, stop_file: str | None):
        super().__init__(bootstrap, source, window)
        self.stop_file = stop_file

    def setup(self):
        super().setup()
        self._last_data = {}  # partition -> when it last had data; only decides when an idle-stop run ends

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        part: PartitionSlice,
        tracker=beam.DoFn.RestrictionParam(_SliceRestrictions()),
        watermark=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider()),
    ):
        key = (part.topic, part.partition)
        position = tracker.current_restriction().start
        if self.stop_file and os.path.exists(self.stop_file):
            tracker.try_claim(FOLLOW - 1)  # stop requested: finish this partition; unread offsets stay unaccounted
            return
        records, next_position, refused = self._read_batch(part, tracker, watermark, position)
        yield from self._stamped(records)
        if refused:
            return
        if next_position != position:
            self._last_data[key] = time.monotonic()
            tracker.defer_remainder(Duration(0))
        elif self._idle_too_long(key):
            tracker.try_claim(FOLLOW - 1)  # finish this partition
        else:
            self._advance_while_idle(part, position, watermark)
            tracker.defer_remainder(Duration(self.source.poll_timeout_s))

    def _advance_while_idle(self, part: PartitionSlice, position: int, watermark) -> None:
        """A caught-up partition must not hold every other partition's windows (an ended ticket, say)
        open. What it receives next carries a Kafka timestamp no earlier than the stream's time minus
        the skew, so its watermark may follow the stream's time - hold (see _StreamTime)."""
        from confluent_kafka import TopicPartition

        consumer, _ = self._consumers[(part.topic, part.partition)]
        high = self._high(consumer, part)
        if high < 0:  # nothing fetched yet (an empty partition): ask the broker
            high = consumer.get_watermark_offsets(TopicPartition(part.topic, part.partition), timeout=5)[1]
        now_ms = _STREAM_TIME.now_ms(self.hold_ms)
        if high > position or now_ms is None:
            return  # not caught up, or no record seen yet to tell the stream's time
        candidate = Timestamp.of((now_ms - self.hold_ms) / 1000)
        if watermark.current_watermark() is None or candidate > watermark.current_watermark():
            watermark.set_watermark(candidate)

    def _idle_too_long(self, key) -> bool:
        if self.source.idle_stop_s is None:
            return False
        last = self._last_data.setdefault(key, time.monotonic())
        return time.monotonic() - last > self.source.idle_stop_s


class _StreamTime:
    """The stream's current time as this process's readers see it: the latest Kafka timestamp read, or
    the wall clock while the records read carried about the wall clock's time (live producers). Traffic
    stamped with other times (a replayed or simulated past) keeps its own clock, so records sent after
    a quiet spell are not behind a watermark that ran ahead with the wall clock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._latest_ms: int | None = None
        self._offset_ms = 0  # wall clock - latest Kafka timestamp, when that was read

    def saw(self, kafka_ms: int) -> None:
        with self._lock:
            if self._latest_ms is None or kafka_ms >= self._latest_ms:
                self._latest_ms, self._offset_ms = kafka_ms, int(time.time() * 1000) - kafka_ms

    def now_ms(self, live_within_ms: int) -> int | None:
        with self._lock:
            if self._latest_ms is None:
                return None
            if abs(self._offset_ms) <= live_within_ms:
                return max(self._latest_ms, int(time.time() * 1000))
            return self._latest_ms


_STREAM_TIME = _StreamTime()


def from_java_record(row) -> KafkaRecord:
    """A record from Beam's Java ReadFromKafka (with_metadata=True) as the pipeline's KafkaRecord."""
    return KafkaRecord(row.topic, row.partition, row.offset, row.timestamp, row.key, row.value)


class ReadKafka(beam.PTransform):
    """Records from the given partition slices: bounded if every slice has a stop, else follow.

    source.implementation "beam-java" swaps in Beam's ReadFromKafka (follow mode only) for
    Flink/Dataflow deployments that run its Java expansion service; it resumes from the dataset's
    consumer group, which the store sink keeps at the durable prefix (pipelines/sink.py).
    """

    def __init__(
        self,
        bootstrap: str,
        slices: list[PartitionSlice],
        source: SourceConfig,
        window: WindowConfig,
        dataset: str,
        stop_file: str | None = None,
    ):
        super().__init__()
        self.bootstrap, self.slices, self.source, self.window, self.dataset = bootstrap, slices, source, window, dataset
        self.stop_file = stop_file

    def expand(self, pbegin):
        follow = any(s.stop == FOLLOW for s in self.slices)
        if self.source.implementation == "beam-java":
            return pbegin | "ReadFromKafka" >> self._java(follow)
        reader = (
            _ReadFollow(self.bootstrap, self.source, self.window, self.stop_file)
            if follow
            else _ReadBounded(self.bootstrap, self.source, self.window)
        )
        return pbegin | "Partitions" >> beam.Create(self.slices) | "Read" >> beam.ParDo(reader)

    def _java(self, follow: bool) -> beam.PTransform:
        from apache_beam.io.kafka import ReadFromKafka

        if not follow:
            raise ValueError("source.implementation=beam-java reads unbounded only; use the python source for bounded runs")
        skips = {(s.topic, s.partition): s.skip for s in self.slices}
        read = ReadFromKafka(
            consumer_config={
                "bootstrap.servers": self.bootstrap,
                "group.id": consumer_group(self.dataset),
                "auto.offset.reset": "earliest",
                "enable.auto.commit": "false",
            },
            topics=self.source.topics,
            with_metadata=True,
            timestamp_policy=ReadFromKafka.create_time_policy,
            expansion_service=self.source.expansion_service,
        )
        return (
            read
            | "ToKafkaRecord" >> beam.Map(from_java_record)
            | "SkipStored" >> beam.Filter(lambda r: not _skipped(skips.get((r.topic, r.partition), ()), r.offset))
        )

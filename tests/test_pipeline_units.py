"""Pipeline pieces that need no broker: stage guards, session cutting, the Java-source adapter."""

from __future__ import annotations

import collections
import json

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from loopline.config import SourceConfig, WindowConfig
from pipelines.deadletter import DEAD, Guarded
from pipelines.decode import Event
from pipelines.source import KafkaRecord, PartitionSlice, ReadKafka, from_java_record
from pipelines.windowing import split_sessions


def _event(offset: int, t_ms: int) -> Event:
    return Event("chat", "chat:c", t_ms, {}, KafkaRecord("events.chat", 0, offset, t_ms, None, b"{}"))


class _Fragile(Guarded):
    stage = "fragile"

    def inputs(self, rec):
        return [rec]

    def handle(self, rec):
        yield rec.offset
        if rec.offset == 2:
            raise ValueError("card 4111 1111 1111 1111 looked odd")  # partial output must not escape


def test_a_stage_that_raises_dead_letters_that_element_and_goes_on(tmp_path):
    recs = [KafkaRecord("events.chat", 0, i, 0, None, b"x") for i in range(4)]
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        out = p | beam.Create(recs) | beam.ParDo(_Fragile()).with_outputs(DEAD, main="ok")
        out.ok | "OkList" >> beam.combiners.ToList() | "OkW" >> beam.Map(
            lambda xs: (tmp_path / "ok.json").write_text(json.dumps(sorted(xs))))
        out[DEAD] | "DlList" >> beam.combiners.ToList() | "DlW" >> beam.Map(
            lambda xs: (tmp_path / "dead.json").write_text(json.dumps([[d["offset"], d["stage"], d["reason"], d["detail"]] for d in xs])))
    assert json.loads((tmp_path / "ok.json").read_text()) == [0, 1, 3]
    [[offset, stage, reason, detail]] = json.loads((tmp_path / "dead.json").read_text())
    assert (offset, stage, reason) == (2, "fragile", "stage_error") and detail.startswith("ValueError")


def test_sessions_split_where_event_time_jumps_by_the_gap():
    events = [_event(3, 10_000), _event(1, 0), _event(2, 5_000), _event(4, 30_000), _event(5, 39_999)]
    sessions = split_sessions(events, gap_ms=10_000)
    assert [[e.source.offset for e in s] for s in sessions] == [[1, 2, 3], [4, 5]]


def test_java_kafka_rows_map_to_kafka_records():
    Row = collections.namedtuple("Row", "topic partition offset timestamp key value headers")
    rec = from_java_record(Row("events.chat", 2, 41, 1_793_000_000_000, b"c-1", b"{}", []))
    assert rec == KafkaRecord("events.chat", 2, 41, 1_793_000_000_000, b"c-1", b"{}", False)


def test_java_source_refuses_bounded_runs():
    read = ReadKafka("127.0.0.1:1", [PartitionSlice("events.chat", 0, 0, 10)], SourceConfig(implementation="beam-java"),
                     WindowConfig(), "live")
    with pytest.raises(ValueError, match="unbounded only"):
        read._java(follow=False)


def test_threads_are_released_in_window_end_then_key_order(tmp_path):
    from apache_beam.transforms import window

    from pipelines.ordering import InCanonicalOrder
    from pipelines.windowing import Thread

    threads = [Thread(f"chat:{k}", 0, end, ()) for k, end in [("b", 3000), ("a", 3000), ("c", 1000), ("d", 2000)]]
    out = tmp_path / "order.jsonl"
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        (p | beam.Create(threads)
         | beam.Map(lambda t: window.TimestampedValue(t, t.end_ms / 1000))
         | InCanonicalOrder()
         | beam.Map(lambda t: open(out, "a").write(t.key + "\n")))
    assert out.read_text().split() == ["chat:c", "chat:d", "chat:a", "chat:b"]

"""Pipeline pieces that need no broker: stage guards, session cutting, the Java-source adapter."""

from __future__ import annotations

import collections
import json

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from loopline.config import SourceConfig, WindowConfig
from pipelines import deadletter
from pipelines.guard import DEAD, Guarded, safe_detail
from pipelines.model import Event, KafkaRecord
from pipelines.source import PartitionSlice, ReadKafka, from_java_record
from pipelines.windowing import split_sessions

SECRET = "4111 1111 1111 1111"


def _event(offset: int, t_ms: int) -> Event:
    return Event("chat", "chat:c", t_ms, {}, KafkaRecord("events.chat", 0, offset, t_ms, None, b"{}"))


class _Fragile(Guarded):
    stage = "fragile"

    def inputs(self, rec):
        return [rec]

    def handle(self, rec):
        yield rec.offset
        if rec.offset == 2:
            raise ValueError(f"card {SECRET} looked odd")  # partial output must not escape


def test_a_stage_that_raises_dead_letters_that_element_and_goes_on(tmp_path):
    recs = [KafkaRecord("events.chat", 0, i, 0, None, b"x") for i in range(4)]
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        out = p | beam.Create(recs) | beam.ParDo(_Fragile()).with_outputs(DEAD, main="ok")
        (
            out.ok
            | "OkList" >> beam.combiners.ToList()
            | "OkW" >> beam.Map(lambda xs: (tmp_path / "ok.json").write_text(json.dumps(sorted(xs))))
        )
        (
            out[DEAD]
            | "DlList" >> beam.combiners.ToList()
            | "DlW" >> beam.Map(lambda xs: (tmp_path / "dead.bin").write_bytes(b"".join(deadletter.encode(d) for d in xs)))
        )
    assert json.loads((tmp_path / "ok.json").read_text()) == [0, 1, 3]
    published = (tmp_path / "dead.bin").read_bytes()  # the bytes PublishDeadLetters sends to the topic
    letter = deadletter.decode(published)
    assert (letter["offset"], letter["stage"], letter["reason"]) == (2, "fragile", "stage_error")
    assert letter["detail"].startswith("ValueError at test_pipeline_units.py:") and "in handle" in letter["detail"]
    for form in (SECRET, SECRET.replace(" ", ""), "looked odd"):
        assert form.encode() not in published, "the exception message reached the dead-letter topic"


def test_a_key_error_names_a_schema_field_but_never_a_value():
    def fail(key):
        try:
            {}[key]
        except KeyError as e:
            return safe_detail(e)

    assert fail("sender_role") == "KeyError: 'sender_role'"
    assert SECRET not in fail(SECRET) and fail(SECRET).startswith("KeyError at ")


def test_sessions_split_where_event_time_jumps_by_the_gap():
    events = [_event(3, 10_000), _event(1, 0), _event(2, 5_000), _event(4, 30_000), _event(5, 39_999)]
    sessions = split_sessions(events, gap_ms=10_000)
    assert [[e.source.offset for e in s] for s in sessions] == [[1, 2, 3], [4, 5]]


def test_java_kafka_rows_map_to_kafka_records():
    Row = collections.namedtuple("Row", "topic partition offset timestamp key value headers")
    rec = from_java_record(Row("events.chat", 2, 41, 1_793_000_000_000, b"c-1", b"{}", []))
    assert rec == KafkaRecord("events.chat", 2, 41, 1_793_000_000_000, b"c-1", b"{}")


def test_java_source_refuses_bounded_runs():
    read = ReadKafka(
        "127.0.0.1:1", [PartitionSlice("events.chat", 0, 0, 10)], SourceConfig(implementation="beam-java"), WindowConfig(), "live"
    )
    with pytest.raises(ValueError, match="unbounded only"):
        read._java(follow=False)


def test_threads_are_released_in_window_end_then_key_order(tmp_path):
    from apache_beam.transforms import window

    from pipelines.model import Thread
    from pipelines.ordering import InCanonicalOrder

    threads = [Thread(f"chat:{k}", 0, end, ()) for k, end in [("b", 3000), ("a", 3000), ("c", 1000), ("d", 2000)]]
    out = tmp_path / "order.jsonl"
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        (
            p
            | beam.Create(threads)
            | beam.Map(lambda t: window.TimestampedValue(t, t.end_ms / 1000))
            | InCanonicalOrder()
            | beam.Map(lambda t: open(out, "a").write(t.key + "\n"))
        )
    assert out.read_text().split() == ["chat:c", "chat:d", "chat:a", "chat:b"]

"""Stage guards: a stage that raises dead-letters that element and goes on, and its detail never holds a value."""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import deadletter
from pipelines.guard import DEAD, Guarded, safe_detail
from pipelines.model import KafkaRecord

SECRET = "4111 1111 1111 1111"


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
    assert letter["detail"].startswith("ValueError at test_guard.py:") and "in handle" in letter["detail"]
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

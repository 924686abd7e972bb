"""Decode and validate raw Kafka records against schemas/ into typed events.

The catalog (loopline/catalog.py) says per topic which kind, schema and window key its events have.
Checks run cheapest first: size, UTF-8, JSON, the topic's Avro schema, then lone surrogates in
strings (JSON can carry "\\ud800", no later stage can use it). Any failure becomes a dead letter with a
machine-friendly reason (oversized, invalid_utf8, invalid_json, schema_mismatch, invalid_text,
unknown_topic; a null value is a schema_mismatch); the stream goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics
from fastavro.validation import ValidationError

from loopline import catalog, schemas
from loopline.config import DecodeConfig
from pipelines.guard import DEAD, Guarded, dead_letter, safe_detail
from pipelines.jsonlines import lone_surrogate
from pipelines.model import Event, KafkaRecord


class _Decode(Guarded):
    stage = "decode"

    def __init__(self, config: DecodeConfig):
        self.config = config
        self.decoded = Metrics.counter("loopline", "decode.ok")

    def inputs(self, rec: KafkaRecord):
        return [rec]

    def handle(self, rec: KafkaRecord):
        try:
            source, record = _parse(rec, self.config.max_event_bytes)
        except Rejected as r:
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(rec, self.stage, r.reason, r.detail))
            return
        self.decoded.inc()
        yield Event(source.kind, f"{source.kind}:{record[source.key]}", record["event_time"], record, rec)


class Rejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def _parse(rec: KafkaRecord, max_bytes: int) -> tuple[catalog.Source, dict]:
    """The catalog source of `rec`'s topic and the validated record in `rec`, or Rejected saying why not."""
    try:
        source = catalog.by_topic(rec.topic)
    except KeyError:
        raise Rejected("unknown_topic", f"no schema for topic {rec.topic}") from None
    if rec.value is None:
        raise Rejected("schema_mismatch", "null value (a Kafka tombstone) where an event was expected")
    if len(rec.value) > max_bytes:
        raise Rejected("oversized", f"{len(rec.value)} bytes > limit {max_bytes}")
    try:
        text = rec.value.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejected("invalid_utf8", f"{e.reason} at byte {e.start}") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise Rejected("invalid_json", f"{e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(record, dict):
        raise Rejected("schema_mismatch", f"expected a JSON object, got {type(record).__name__}")
    try:
        schemas.validate(source.schema, record)
    except ValidationError as e:
        raise Rejected("schema_mismatch", safe_detail(e)) from None
    for name, value in _strings(record):  # valid JSON, but half a UTF-16 pair is no text (nor input for spaCy)
        if (at := lone_surrogate(value)) is not None:
            raise Rejected("invalid_text", f"lone surrogate in {name} at character {at}")
    return source, record


def _strings(value, name: str = "") -> Iterator[tuple[str, str]]:
    """(field path, string) of every string in a decoded JSON value."""
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, dict):
        for key, v in value.items():
            yield from _strings(v, f"{name}.{key}" if name else key)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{name}[{i}]")


class DecodeEvents(beam.PTransform):
    """KafkaRecords -> Events (main output) and dead letters (tag DEAD)."""

    def __init__(self, config: DecodeConfig):
        super().__init__()
        self.config = config

    def expand(self, records):
        return records | "Decode" >> beam.ParDo(_Decode(self.config)).with_outputs(DEAD, main="events")

"""Decode and validate raw Kafka records against schemas/ into typed events.

Checks run cheapest first: size, UTF-8, JSON, then the topic's Avro schema. Any failure becomes
a dead letter with a machine-friendly reason (oversized, invalid_utf8, invalid_json,
schema_mismatch, unknown_topic); the stream goes on.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from fastavro.validation import ValidationError

from loopline import schemas
from loopline.config import DecodeConfig
from pipelines.deadletter import DEAD, Guarded, dead_letter, safe_detail
from pipelines.source import KafkaRecord

# topic -> (kind, field naming the thread a message belongs to)
KINDS = {
    "events.chat": ("chat", "conversation_id"),
    "events.email": ("email", "thread_id"),
    "events.ticket": ("ticket", "ticket_id"),
    "events.feedback": ("feedback", "response_id"),
    "events.deletion": ("deletion", "subject_id"),
}


class Event(NamedTuple):
    kind: str            # chat | email | ticket | feedback | deletion
    thread: str          # the window key: "<kind>:<conversation/thread/ticket id>"
    event_time_ms: int
    record: dict         # the validated schema record, as it arrived
    source: KafkaRecord  # where it came from (lineage, raw bytes for dead letters)
    # Filled in by the curation stages (each returns a new Event via _replace):
    text: str | None = None           # clean: the message body as curation has it so far; "" = no content
    pii_counts: tuple = ()            # scrub: ((entity type, count), ...) masked in `text`
    duplicate_of: str | None = None   # dedup: doc id of the earlier message this one repeats
    duplicate_kind: str | None = None # dedup: exact | near | semantic


class _Decode(Guarded):
    stage = "decode"

    def __init__(self, config: DecodeConfig):
        self.config = config
        self.decoded = Metrics.counter("loopline", "decode.ok")

    def inputs(self, rec: KafkaRecord):
        return [rec]

    def handle(self, rec: KafkaRecord):
        try:
            record = _parse(rec, self.config.max_event_bytes)
        except Rejected as r:
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(rec, self.stage, r.reason, r.detail))
            return
        kind, thread_field = KINDS[rec.topic]
        self.decoded.inc()
        yield Event(kind, f"{kind}:{record[thread_field]}", record["event_time"], record, rec)


class Rejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def _parse(rec: KafkaRecord, max_bytes: int) -> dict:
    """The validated record in `rec`, or Rejected saying why not."""
    if rec.topic not in KINDS:
        raise Rejected("unknown_topic", f"no schema for topic {rec.topic}")
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
        schemas.validate(schemas.TOPIC_SCHEMAS[rec.topic], record)
    except ValidationError as e:
        raise Rejected("schema_mismatch", safe_detail(e)) from None
    return record


class DecodeEvents(beam.PTransform):
    """KafkaRecords -> Events (main output) and dead letters (tag DEAD)."""

    def __init__(self, config: DecodeConfig):
        super().__init__()
        self.config = config

    def expand(self, records):
        return records | "Decode" >> beam.ParDo(_Decode(self.config)).with_outputs(DEAD, main="events")

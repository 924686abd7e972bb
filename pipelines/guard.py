"""How a stage fails: nothing it can't process is dropped, and nothing crashes the stream.

Every stage emits a dead letter (schemas/loopline.DeadLetter.avsc, built by `dead_letter`) on the DEAD tag
for a record it rejects, and `Guarded` turns an exception on one element into dead letters for that
element's inputs; `ThreadStage` is the same for stages over whole Threads. Details never carry payload
text: raw bytes stay in `raw` only. Publishing them is pipelines/deadletter.py's job. No Kafka, no store.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics import Metrics

from loopline import schemas
from loopline.metrics import STAGE_IN, STAGE_OUT
from pipelines.model import KafkaRecord, Thread

DEAD = "dead"


def dead_letter(rec: KafkaRecord, stage: str, reason: str, detail: str | None = None) -> dict:
    """A DeadLetter record for `rec`, rejected by `stage` for `reason` (a machine-friendly word)."""
    return {
        "raw": rec.value if rec.value is not None else b"",  # a tombstone has no bytes to keep
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        "stage": stage,
        "reason": reason,
        "detail": detail,
        "time": int(time.time() * 1000),
    }


def safe_detail(error: Exception) -> str:
    """What went wrong, never a value from the payload (which may be PII or a secret): the exception
    type and where it was raised, or the schema field at fault. Exception messages are withheld
    because code anywhere (ours, spaCy's, fastavro's) may quote the text it choked on."""
    errors = getattr(error, "errors", None)
    if errors and hasattr(errors[0], "field"):  # fastavro validation: describe fields, not their values
        return "; ".join(_describe(e.field, e.schema, e.datum) for e in errors)[:500]
    if isinstance(error, schemas.UnknownFields):
        return f"fields not in the schema: {', '.join(error.fields)}"[:500]
    if isinstance(error, KeyError) and error.args and error.args[0] in _schema_fields():
        return f"{type(error).__name__}: {error.args[0]!r}"
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return f"{type(error).__name__}{where} (message withheld: it may quote the payload)"


@functools.cache
def _schema_fields() -> frozenset[str]:
    """Every field name the schemas define: safe to name in a detail, unlike a value."""

    def walk(schema) -> set[str]:
        if isinstance(schema, dict):
            own = {f["name"] for f in schema.get("fields", ())}
            return own.union(*(walk(v) for v in schema.values()))
        if isinstance(schema, list):
            return set().union(*(walk(v) for v in schema))
        return set()

    return frozenset().union(*(walk(schemas.raw(name)) for name in schemas.names()))


def _describe(field: str, schema, datum) -> str:
    if isinstance(schema, dict) and schema.get("type") == "record" and isinstance(datum, dict):
        missing = [f["name"] for f in schema["fields"] if f["name"] not in datum]
        return f"{schema['name']}: missing required field(s) {', '.join(missing)}" if missing else f"{schema['name']}: invalid"
    if isinstance(schema, dict) and schema.get("type") == "enum":
        return f"{field}: not one of {schema['symbols']}"
    expected = schema.get("type") if isinstance(schema, dict) else schema
    return f"{field}: expected {expected}, got {type(datum).__name__}"


class Guarded(beam.DoFn):
    """A DoFn whose failure on one element dead-letters that element's inputs and carries on.

    Subclasses implement `handle(element)` and `inputs(element)` (the KafkaRecords behind it).
    """

    stage = "unknown"

    def handle(self, element) -> Iterable:
        raise NotImplementedError

    def inputs(self, element) -> list[KafkaRecord]:
        raise NotImplementedError

    def process(self, element, *args, **kwargs):
        inputs = self.inputs(element)
        STAGE_IN.labels(self.stage).inc(len(inputs))
        try:
            # all or nothing: a half-emitted element plus its dead letter would count its inputs twice
            outputs = list(self.handle(element, *args, **kwargs))
        except Exception as e:  # noqa: BLE001 - one bad element must not stop the stream
            Metrics.counter("loopline", f"{self.stage}.errors").inc()
            outputs = [
                beam.pvalue.TaggedOutput(DEAD, dead_letter(rec, self.stage, "stage_error", safe_detail(e))) for rec in inputs
            ]
        STAGE_OUT.labels(self.stage).inc(
            len(inputs) - sum(isinstance(o, beam.pvalue.TaggedOutput) and o.tag == DEAD for o in outputs)
        )
        yield from outputs


class ThreadStage(Guarded):
    """A guarded stage over whole Threads: if it fails on one, every message of that thread is dead-lettered."""

    def inputs(self, thread: Thread) -> list[KafkaRecord]:
        return [e.source for e in thread.events]

"""Dead letters: nothing the pipeline can't process is dropped or crashes it.

Every stage emits a `DeadLetter` (schemas/loopline.DeadLetter.avsc) on the DEAD tag for a record
it rejects, and `Guarded` turns an exception on one element into dead letters for that element's
inputs. `PublishDeadLetters` sends them to the `deadletter` topic (Avro binary, keyed
topic/partition/offset) and then accounts their offsets in the store, so a restart neither
re-reads nor loses them. Details never carry payload text: raw bytes stay in `raw` only.
"""

from __future__ import annotations

import functools
import io
import time
import traceback
from pathlib import Path
from typing import Iterable

import apache_beam as beam
import fastavro
from apache_beam.metrics import Metrics

from loopline import schemas
from loopline.metrics import DEAD_LETTERS, STAGE_IN, STAGE_OUT
from pipelines.progress import ProgressCommitter
from pipelines.source import KafkaRecord

DEAD = "dead"


def dead_letter(rec: KafkaRecord, stage: str, reason: str, detail: str | None = None) -> dict:
    return {"raw": rec.value, "topic": rec.topic, "partition": rec.partition, "offset": rec.offset,
            "stage": stage, "reason": reason, "detail": detail, "time": int(time.time() * 1000)}


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
            outputs = [beam.pvalue.TaggedOutput(DEAD, dead_letter(rec, self.stage, "stage_error", safe_detail(e)))
                       for rec in inputs]
        STAGE_OUT.labels(self.stage).inc(len(inputs) - sum(isinstance(o, beam.pvalue.TaggedOutput) and o.tag == DEAD
                                                           for o in outputs))
        yield from outputs


def encode(letter: dict) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schemas.parsed("DeadLetter"), letter)
    return buf.getvalue()


def decode(payload: bytes) -> dict:
    return fastavro.schemaless_reader(io.BytesIO(payload), schemas.parsed("DeadLetter"))


class _Publish(beam.DoFn):
    def __init__(self, bootstrap: str, topic: str, store_root: str, dataset: str):
        self.bootstrap, self.topic, self.store_root, self.dataset = bootstrap, topic, store_root, dataset

    def setup(self):
        from confluent_kafka import Producer

        from loopline.store import CuratedStore

        self._producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": True,
                                   "linger.ms": 20, "message.max.bytes": 4_000_000})
        self._store = CuratedStore(self.store_root, self.dataset)
        self._progress = ProgressCommitter(self.bootstrap, self.dataset)

    def teardown(self):
        self._progress.close()

    def start_bundle(self):
        self._batch: list[dict] = []
        self._errors: list[str] = []

    def process(self, letter: dict):
        schemas.validate("DeadLetter", letter)
        key = f"{letter['topic']}/{letter['partition']}/{letter['offset']}".encode()
        self._producer.produce(self.topic, key=key, value=encode(letter), on_delivery=self._delivered)
        self._producer.poll(0)
        self._batch.append(letter)
        Metrics.counter("loopline", f"deadletter.{letter['reason']}").inc()

    def _delivered(self, err, msg):
        if err is not None:
            self._errors.append(err.str())

    def finish_bundle(self):
        if not self._batch:
            return
        left = self._producer.flush(60)
        if left or self._errors:
            # Raising fails the bundle: the runner retries it, and nothing is accounted as done.
            raise RuntimeError(f"dead-letter topic {self.topic} did not acknowledge {left + len(self._errors)} "
                               f"records: {self._errors[:3]}")
        self._store.commit([], dead_letters=[(d["topic"], d["partition"], d["offset"], d["reason"]) for d in self._batch])
        self._progress.commit(self._store)
        for d in self._batch:
            DEAD_LETTERS.labels(d["reason"]).inc()


class PublishDeadLetters(beam.PTransform):
    """Dead letters from every stage -> Kafka (acks=all), then their offsets marked handled in the store.

    Applied to a tuple of PCollections; each is moved to the global window first, since stages
    after windowing emit dead letters in session windows and Flatten needs one windowing.
    """

    def __init__(self, bootstrap: str, topic: str, store_root: str, dataset: str):
        super().__init__()
        self.args = (bootstrap, topic, str(store_root), dataset)

    def expand(self, stage_letters):
        from apache_beam.transforms import window

        global_letters = [letters | f"Global{i}" >> beam.WindowInto(window.GlobalWindows())
                          for i, letters in enumerate(stage_letters)]
        return (global_letters
                | "Flatten" >> beam.Flatten()
                | "Publish" >> beam.ParDo(_Publish(*self.args)))

"""Turn a window's thread into the store records it yields, as one all-or-nothing `Unit`.

Ids derive from lineage (topic/partition/offset), and `created_at` is the window's end in event
time, so reprocessing the same offsets — after a crash, or in a replay — yields identical records.
"""

from __future__ import annotations

import hashlib

import apache_beam as beam
from apache_beam.metrics import Metrics

from loopline.store import Unit, subject_hash
from pipelines.deadletter import Guarded
from pipelines.decode import Event
from pipelines.windowing import Thread

SUBJECT_FIELDS = {"chat": "sender_id", "email": "from_address", "ticket": "author_id"}


def lineage(events) -> list[dict]:
    return [{"topic": e.source.topic, "partition": e.source.partition, "offset": e.source.offset} for e in events]


def record_id(events) -> str:
    """Stable id of whatever was derived from exactly these inputs."""
    coords = ",".join(f"{e.source.topic}/{e.source.partition}/{e.source.offset}" for e in events)
    return hashlib.sha256(coords.encode()).hexdigest()[:32]


def message_text(event: Event) -> str:
    r = event.record
    if event.kind == "email":
        return r["body_text"] if r.get("body_text") is not None else (r.get("body_html") or "")
    return r["text"]


def thread_subjects(thread: Thread) -> list[str]:
    """Hashes of everyone in the thread: a record derived from a thread may carry any participant's data,
    so forgetting one participant must remove it."""
    ids = set()
    for e in thread.events:
        if e.kind in SUBJECT_FIELDS:
            ids.add(e.record[SUBJECT_FIELDS[e.kind]])
        if e.kind == "email":
            ids.update(e.record["to_addresses"])
    return sorted(subject_hash(i) for i in ids)


def _document(event: Event, thread: Thread, subjects: list[str], version: str) -> dict:
    text = message_text(event)
    return {
        "doc_id": record_id([event]),
        "text": text,
        "source_kind": event.kind,
        "lineage": lineage([event]),
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
        "pii_entity_counts": {},  # filled by the PII stage once it runs before this one
        "subject_hashes": subjects,
        "window": {"key": thread.key, "start": thread.start_ms, "end": thread.end_ms},
        "created_at": thread.end_ms,
        "pipeline_version": version,
    }


def _feedback_example(event: Event, thread: Thread, version: str) -> dict:
    r = event.record
    return {
        "example_id": record_id([event]),
        "prompt": r["prompt"],
        "response": r["response"],
        "desirable": r["rating"] == "up",
        "adapter_version": r["adapter_version"],
        "comment": r.get("comment"),
        "event_time": r["event_time"],
        "lineage": lineage([event]),
        "created_at": thread.end_ms,
        "pipeline_version": version,
    }


class _ToUnit(Guarded):
    stage = "records"

    def __init__(self, version: str):
        self.version = version
        self.units = Metrics.counter("loopline", "records.units")

    def inputs(self, thread: Thread):
        return [e.source for e in thread.events]

    def handle(self, thread: Thread):
        records: dict[str, list[dict]] = {}
        subjects = thread_subjects(thread)
        for event in thread.events:
            if event.kind == "feedback":
                records.setdefault("FeedbackExample", []).append(_feedback_example(event, thread, self.version))
            else:
                records.setdefault("CuratedDocument", []).append(_document(event, thread, subjects, self.version))
        self.units.inc()
        yield Unit(records=records, offsets=tuple((e.source.topic, e.source.partition, e.source.offset)
                                                  for e in thread.events))


class ThreadsToRecords(beam.PTransform):
    """Threads -> Units (main) and dead letters (tag DEAD) for threads that fail to convert."""

    def __init__(self, version: str):
        super().__init__()
        self.version = version

    def expand(self, threads):
        from pipelines.deadletter import DEAD

        return threads | "ToUnit" >> beam.ParDo(_ToUnit(self.version)).with_outputs(DEAD, main="units")

"""Turn a window's thread into the store records it yields, as one all-or-nothing `Unit`.

Documents are the curated (cleaned, scrubbed) messages minus duplicates and empty ones; pairs
come from the pairs stage; every event's offset is in the unit, stored or not.

Ids derive from lineage (topic/partition/offset), and `created_at` is the window's end in event
time, so reprocessing the same offsets — after a crash, or in a replay — yields identical records.
"""

from __future__ import annotations

import hashlib

import apache_beam as beam
from apache_beam.metrics import Metrics

from loopline.store import Unit, subject_hash
from pipelines.deadletter import DEAD
from pipelines.decode import Event
from pipelines.history import HistoryMessage
from pipelines.windowing import Thread, ThreadStage

SUBJECT_FIELDS = {"chat": "sender_id", "email": "from_address", "ticket": "author_id"}


def lineage(events) -> list[dict]:
    """Kafka coordinates of Events, or of HistoryMessages (messages of earlier windows), which name them alike."""
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
        if e.kind == "ticket" and e.record.get("author_email"):
            ids.add(e.record["author_email"])
    return sorted(subject_hash(i) for i in ids)


def thread_links(thread: Thread) -> tuple[tuple[str, str], ...]:
    """Links between one person's ids seen in the thread, as subject hashes (pipelines/links.py): a ticket
    event's author_id and the author_email the ticket system knows for it."""
    return tuple(sorted({(subject_hash(e.record["author_id"]), subject_hash(e.record["author_email"]))
                         for e in thread.events if e.kind == "ticket" and e.record.get("author_email")}))


def pair_subjects(pair, subjects: list[str]) -> list[str]:
    """A pair's subjects: its window's (`subjects`), plus, when prompts come from earlier windows of the
    thread (the thread history), everyone in the thread up to those windows: the pair carries their data too."""
    earlier = {s for m in pair.prompts if isinstance(m, HistoryMessage) for s in m.subjects}
    return sorted(earlier.union(subjects)) if earlier else subjects


def curated_text(event: Event) -> str:
    """The message text after curation, or the raw body when no curation stage ran."""
    return event.text if event.text is not None else message_text(event)


def _pii_counts(events) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in events:
        for kind, n in e.pii_counts:
            counts[kind] = counts.get(kind, 0) + n
    return counts


def _window(thread: Thread) -> dict:
    return {"key": thread.key, "start": thread.start_ms, "end": thread.end_ms}


def _document(event: Event, thread: Thread, subjects: list[str], version: str) -> dict:
    text = curated_text(event)
    return {
        "doc_id": record_id([event]),
        "text": text,
        "source_kind": event.kind,
        "lineage": lineage([event]),
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
        "pii_entity_counts": _pii_counts([event]),
        "subject_hashes": subjects,
        "window": _window(thread),
        "created_at": thread.end_ms,
        "pipeline_version": version,
    }


def _pair(pair, thread: Thread, subjects: list[str], version: str) -> dict:
    events = [*pair.prompts, pair.response]
    instruction = "\n\n".join(curated_text(e) for e in pair.prompts)
    output = curated_text(pair.response)
    normalized = " ".join(f"{instruction}\n{output}".lower().split())
    return {
        "pair_id": record_id(events),
        "instruction": instruction,
        "input": None,
        "output": output,
        "task": pair.task,
        "quality_score": pair.quality,
        "source_kind": pair.response.kind,
        "lineage": lineage(events),
        "content_hash": hashlib.sha256(normalized.encode()).hexdigest(),
        "pii_entity_counts": _pii_counts(events),
        "subject_hashes": subjects,
        "window": _window(thread),
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


class _ToUnit(ThreadStage):
    stage = "records"

    def __init__(self, version: str):
        self.version = version
        self.units = Metrics.counter("loopline", "records.units")

    def handle(self, thread: Thread):
        records: dict[str, list[dict]] = {}
        subjects = thread_subjects(thread)
        for event in thread.events:
            if event.kind == "feedback":
                records.setdefault("FeedbackExample", []).append(_feedback_example(event, thread, self.version))
            elif event.duplicate_of is None and curated_text(event).strip():
                records.setdefault("CuratedDocument", []).append(_document(event, thread, subjects, self.version))
        for pair in thread.pairs:
            records.setdefault("CuratedPair", []).append(_pair(pair, thread, pair_subjects(pair, subjects), self.version))
        self.units.inc()
        yield Unit(records=records, offsets=tuple((e.source.topic, e.source.partition, e.source.offset)
                                                  for e in thread.events),
                   arrivals_ms=tuple(e.source.timestamp_ms for e in thread.events), links=thread_links(thread))


class ThreadsToRecords(beam.PTransform):
    """Threads -> Units (main) and dead letters (tag DEAD) for threads that fail to convert."""

    def __init__(self, version: str):
        super().__init__()
        self.version = version

    def expand(self, threads):
        return threads | "ToUnit" >> beam.ParDo(_ToUnit(self.version)).with_outputs(DEAD, main="units")

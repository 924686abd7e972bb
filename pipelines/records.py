"""Turn a window's thread into the store records it yields, as one all-or-nothing `Unit`.

Documents are the curated (cleaned, scrubbed) messages minus duplicates and empty ones; pairs
come from the pairs stage; every event's offset is in the unit, stored or not, and every event's identity
(pipelines/identity.py), so the store stores an event it already has (a re-send) never again.

Ids derive from lineage (topic/partition/offset), and `created_at` is the window's end in event
time, so reprocessing the same offsets — after a crash, or in a replay — yields identical records.
"""

from __future__ import annotations

import hashlib

import apache_beam as beam
from apache_beam.metrics import Metrics

from loopline.config import PairsConfig
from loopline.store import Unit, subject_hash
from pipelines.guard import DEAD, ThreadStage
from pipelines.identity import identities
from pipelines.model import Event, HistoryMessage, Pair, Thread, curated_text, lineage, record_id
from pipelines.subjects import thread_subjects
from pipelines.tasks import TaskLabeler


def thread_links(thread: Thread) -> tuple[tuple[str, str], ...]:
    """Links between one person's ids seen in the thread, as subject hashes (pipelines/links.py): a ticket
    event's author_id and the author_email the ticket system knows for it."""
    return tuple(
        sorted(
            {
                (subject_hash(e.record["author_id"]), subject_hash(e.record["author_email"]))
                for e in thread.events
                if e.kind == "ticket" and e.record.get("author_email")
            }
        )
    )


def pair_subjects(pair: Pair, subjects: list[str]) -> list[str]:
    """A pair's subjects: its window's (`subjects`), plus, when prompts come from earlier windows of the
    thread (the thread history), everyone in the thread up to those windows: the pair carries their data too."""
    earlier = {s for m in pair.prompts if isinstance(m, HistoryMessage) for s in m.subjects}
    return sorted(earlier.union(subjects)) if earlier else subjects


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


def _pair(pair: Pair, thread: Thread, subjects: list[str], version: str) -> dict:
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


def _feedback_example(event: Event, thread: Thread, version: str, task: str) -> dict:
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
        "task": task,
    }


class _ToUnit(ThreadStage):
    stage = "records"

    def __init__(self, version: str, pairs: PairsConfig | None = None):
        self.version, self.pairs = version, pairs or PairsConfig()
        self.units = Metrics.counter("loopline", "records.units")
        self._labeler: TaskLabeler | None = None

    def task(self, prompt: str, response: str | None) -> str:
        """Feedback gets the task its prompt and response would get as a pair (the same labeler)."""
        if self._labeler is None:
            self._labeler = TaskLabeler(self.pairs)
        return self._labeler.label([prompt], [response] if response else None)[0]

    def handle(self, thread: Thread):
        records: dict[str, list[dict]] = {}
        subjects = thread_subjects(thread)
        for event in thread.events:
            if event.duplicate_of is not None:
                continue  # a duplicate or a re-sent copy (pipelines/identity.py): its offset is all it adds
            if event.kind == "feedback":
                task = self.task(event.record["prompt"], event.record.get("response"))
                example = _feedback_example(event, thread, self.version, task)
                records.setdefault("FeedbackExample", []).append(example)
            elif curated_text(event).strip():
                records.setdefault("CuratedDocument", []).append(_document(event, thread, subjects, self.version))
        for pair in thread.pairs:
            records.setdefault("CuratedPair", []).append(_pair(pair, thread, pair_subjects(pair, subjects), self.version))
        self.units.inc()
        yield Unit(
            records=records,
            offsets=tuple((e.source.topic, e.source.partition, e.source.offset) for e in thread.events),
            arrivals_ms=tuple(e.source.timestamp_ms for e in thread.events),
            links=thread_links(thread),
            identities=identities(thread),
        )


class ThreadsToRecords(beam.PTransform):
    """Threads -> Units (main) and dead letters (tag DEAD) for threads that fail to convert."""

    def __init__(self, version: str, pairs: PairsConfig | None = None):
        super().__init__()
        self.version, self.pairs = version, pairs or PairsConfig()  # pairs: the task keywords (pipeline.pairs)

    def expand(self, threads):
        return threads | "ToUnit" >> beam.ParDo(_ToUnit(self.version, self.pairs)).with_outputs(DEAD, main="units")

"""The pipeline's data, on the floor below every stage: what flows from Kafka to the curated store.

A KafkaRecord is decoded into an Event; windowing gathers one key's Events into a Thread; the curation
stages return new Events and Threads (`_replace`); the pairs stage adds Pairs, whose prompts may be
HistoryMessages (messages of earlier windows of the thread, from pipelines/history.py). Also here: the
ids every stage derives alike (lineage, record ids) and a message's text, read through the catalog.
Plain NamedTuples, so Beam pickles them and tests build them by hand. No Beam, no Kafka, no store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import NamedTuple

from loopline import catalog

PiiCounts = tuple[tuple[str, int], ...]  # ((entity type, count), ...) masked in a text


class KafkaRecord(NamedTuple):
    """One record as read from Kafka: where it is, when Kafka got it, and its raw bytes."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None  # None: a tombstone, which decode dead-letters


class Event(NamedTuple):
    """A decoded, schema-valid event of one catalog source (loopline/catalog.py)."""

    kind: str  # the source's kind: chat | email | ticket | feedback | deletion | ...
    thread: str  # the window key: "<kind>:<value of the source's key field>"
    event_time_ms: int  # when it happened, as the source says: records and pairing go by it, late or not
    record: dict  # the validated schema record, as it arrived
    source: KafkaRecord  # where it came from (lineage, raw bytes for dead letters)
    # Filled in by the curation stages (each returns a new Event via _replace):
    text: str | None = None  # clean: the message body as curation has it so far; "" = no content
    pii_counts: PiiCounts = ()  # scrub: masked in `text`
    duplicate_of: str | None = None  # dedup, identity: doc id of the earlier message this one repeats
    duplicate_kind: str | None = None  # dedup: exact | near | semantic; identity: resend (a copy of the event)
    # Set by windowing for a late event (pipelines/windowing.py): the time it is windowed at, its arrival, so its
    # window opens where the watermark has not passed; None: windowed at its event time.
    late_window_ms: int | None = None


class Coordinates(NamedTuple):
    """Where a message came from in Kafka: its identity, and what lineage and record ids are made of."""

    topic: str
    partition: int
    offset: int


class HistoryMessage(NamedTuple):
    """A curated message as the thread history keeps it. `source` and `text`, `kind`, `pii_counts` are named as
    on an Event, so lineage, record ids and record texts treat both alike."""

    key: str  # the thread (window) key, "<kind>:<id>"
    source: Coordinates
    window_end_ms: int  # end of the session window it was curated in
    event_time_ms: int
    kind: str  # a conversation kind of the catalog
    role: str | None  # customer | agent | bot | system; None: not known
    author: str  # hash of the author's id / address (equality only)
    text: str  # the text as curation left it (cleaned, PII scrubbed); "" = no content
    usable: bool  # False: empty, a duplicate or an auto-reply, never in a pair
    event_type: str | None = None  # ticket: opened | comment | resolved | closed
    message_ref: str | None = None  # email: hash of its Message-ID
    reply_to_ref: str | None = None  # email: hash of its In-Reply-To
    recipients: tuple[str, ...] = ()  # email: hashes of its To addresses (as `author`)
    pii_counts: PiiCounts = ()  # masked in `text`
    subjects: tuple[str, ...] = ()  # subject hashes of everyone in its thread: its window and the earlier ones
    identity: str | None = None  # the event's identity hash (pipelines/identity.py), so a later copy is known


Message = Event | HistoryMessage  # a message of the window being processed, or of an earlier one of its thread


class Pair(NamedTuple):
    """A prompt/response pair (pipelines/pairs.py)."""

    prompts: tuple[Message, ...]  # customer messages, in event order; earlier windows' ones are HistoryMessages
    response: Event  # an agent's message, always of the thread being processed
    quality: float  # in [0, 1]
    task: str  # a task label (pipelines/tasks.py: pairs.task_method), or "other"


class Thread(NamedTuple):
    """All admitted events of one conversation/thread/ticket in one session window, in event order. `start_ms` and
    `end_ms` are in window time (pipelines/windowing.py): a late unit's window is where its events arrived."""

    key: str
    start_ms: int
    end_ms: int
    events: tuple[Event, ...]
    pairs: tuple[Pair, ...] = ()  # set by the pairs stage


def window_time(event: Event) -> int:
    """The time windowing places an event at: its arrival if it came late, else its event time."""
    return event.event_time_ms if event.late_window_ms is None else event.late_window_ms


def event_order(message: Message) -> tuple:
    """Event order of messages of a thread, whatever windows they were curated in: event time, then Kafka coordinates."""
    return (message.event_time_ms, message.source.topic, message.source.partition, message.source.offset)


def lineage(messages: Iterable[Message]) -> list[dict]:
    """Kafka coordinates of Events or HistoryMessages, as records carry them."""
    return [{"topic": m.source.topic, "partition": m.source.partition, "offset": m.source.offset} for m in messages]


def record_id(messages: Iterable[Message]) -> str:
    """Stable id of whatever was derived from exactly these inputs: reprocessing them yields the same id."""
    coords = ",".join(f"{m.source.topic}/{m.source.partition}/{m.source.offset}" for m in messages)
    return hashlib.sha256(coords.encode()).hexdigest()[:32]


def message_body(event: Event) -> tuple[str | None, str | None]:
    """(text, html) of a message: its text body when it has one (what the sender typed), else its HTML body."""
    source = catalog.by_kind(event.kind)
    if source.body is None:
        raise ValueError(f"{event.kind} events carry no message")
    text = event.record[source.body]  # a validated event always has it: a missing one is a stage error
    if text is not None or source.body_html is None:
        return text, None
    return None, event.record.get(source.body_html)


def message_text(event: Event) -> str:
    """The raw message body as text: its text body, else its HTML body as is, else ""."""
    text, html = message_body(event)
    return text if text is not None else (html or "")


def curated_text(event: Event) -> str:
    """The message text after curation, or the raw body when no curation stage ran."""
    return event.text if event.text is not None else message_text(event)

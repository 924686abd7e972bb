"""The catalog of sources: one table saying, per Kafka topic, what its events are and where their fields are.

Config, schemas, decode, the curation stages, records, the simulator and the CLI all read this table, so
adding a source kind (say, voice-call transcripts) means one `Source` here, one schema in schemas/ and
the simulator's generator for it. Beam-free and Kafka-free: the trainer and the server may import it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """One input topic and how to read its events."""

    kind: str  # short name used everywhere else: Event.kind, windows, reports
    topic: str  # the Kafka topic
    schema: str  # Avro record name in schemas/ (JSON-encoded on the wire)
    event_id: str  # field naming the event itself
    key: str  # field naming the window key: conversation, thread, ticket, ...
    text_fields: tuple[str, ...] = ()  # fields holding free text (cleaned, scrubbed, simulated PII)
    body: str | None = None  # field holding a message's text body (what is cleaned, scrubbed, paired)
    body_html: str | None = None  # field holding its HTML body, read when `body` is null
    author: str | None = None  # field naming who wrote it (also a deletion subject)
    participants: tuple[str, ...] = ()  # other fields naming people (recipients, a known address): deletion subjects
    role: str | None = None  # field stating the author's role; None: roles are inferred
    roles: tuple[str, ...] = ()  # values `role` may take
    customer_role: str = "customer"  # the role whose messages are prompts
    conversation: bool = False  # a message in a conversation: windowed, cleaned, scrubbed, deduped, paired

    @property
    def subject_fields(self) -> tuple[str, ...]:
        """Fields whose values are a person's ids, so a deletion of that person reaches the record."""
        return ((self.author,) if self.author else ()) + self.participants


SOURCES: tuple[Source, ...] = (
    Source(
        "chat",
        "events.chat",
        "ChatEvent",
        event_id="message_id",
        key="conversation_id",
        text_fields=("text",),
        body="text",
        author="sender_id",
        role="sender_role",
        roles=("customer", "agent", "bot"),
        conversation=True,
    ),
    Source(
        "email",
        "events.email",
        "EmailEvent",
        event_id="message_id",
        key="thread_id",
        text_fields=("subject", "body_text", "body_html"),
        body="body_text",
        body_html="body_html",
        author="from_address",
        participants=("to_addresses",),
        conversation=True,
    ),
    Source(
        "ticket",
        "events.ticket",
        "TicketEvent",
        event_id="event_id",
        key="ticket_id",
        text_fields=("text",),
        body="text",
        author="author_id",
        participants=("author_email",),
        role="author_role",
        roles=("customer", "agent", "system"),
        conversation=True,
    ),
    Source(
        "feedback",
        "events.feedback",
        "FeedbackEvent",
        event_id="response_id",
        key="response_id",
        text_fields=("prompt", "response", "comment"),
    ),
    Source("deletion", "events.deletion", "DeletionEvent", event_id="subject_id", key="subject_id"),
)
DEADLETTER_TOPIC = "deadletter"
DEADLETTER_SCHEMA = "DeadLetter"


def by_topic(topic: str) -> Source:
    for source in SOURCES:
        if source.topic == topic:
            return source
    raise KeyError(f"no source reads topic {topic!r}; known: {', '.join(topics())}")


def by_kind(kind: str) -> Source:
    for source in SOURCES:
        if source.kind == kind:
            return source
    raise KeyError(f"no source of kind {kind!r}; known: {', '.join(s.kind for s in SOURCES)}")


def topics() -> list[str]:
    """Every event topic, in catalog order."""
    return [s.topic for s in SOURCES]


def conversations() -> tuple[Source, ...]:
    """The message sources: the ones windowed into threads and curated into documents and pairs."""
    return tuple(s for s in SOURCES if s.conversation)


def conversation_kinds() -> tuple[str, ...]:
    return tuple(s.kind for s in conversations())

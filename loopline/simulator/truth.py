"""The ground truth: messages as drafted, events on their way out, and the truth record each event carries."""

from __future__ import annotations

from dataclasses import dataclass

from loopline import catalog
from loopline.simulator.compose import Question
from loopline.simulator.people import Persona


@dataclass(frozen=True)
class SimEvent:
    """One generated event: what a producer sends (topic, key, value) and what a perfect pipeline makes of it."""

    topic: str
    key: bytes | None
    value: bytes
    truth: dict


@dataclass
class Draft:
    """One message of a thread as generated; Threads turns it into wire bytes + truth."""

    source: catalog.Source
    key: str
    record: dict
    role: str
    time: int
    clean: str | None
    task: str | None
    subject_ids: list[str]
    answers: list[str] | None = None
    auto_reply: bool = False
    duplicate_of: str | None = None
    duplicate_kind: str | None = None
    variation: str | None = None
    pii: list | None = None  # preset for exact duplicates (text identical to the original)
    mojibake: bool = False

    @property
    def id(self) -> str:
        return self.record[self.source.event_id]


@dataclass(eq=False)
class Thread:
    """A scheduled thread: counts unsent events so it can become a duplicate original once all are out."""

    kind: str
    persona: Persona
    question: Question
    main_id: str
    drafts: list[Draft]
    start: int
    subject: str | None
    original: bool
    remaining: int = 0


@dataclass(eq=False)
class Out:
    """An event waiting in the send heap; persona and thread are settled when it is sent."""

    arrival: int
    topic: str
    key: bytes | None
    value: bytes
    truth: dict
    persona: Persona | None = None
    thread: Thread | None = None


def truth_record(source: catalog.Source, timing: dict, persona: Persona | None = None, **fields) -> dict:
    """`persona`: the customer person the event comes from (None for agent/bot/system messages)."""
    truth = {
        "seq": None,
        "topic": source.topic,
        "kind": source.kind,
        "malformed": None,
        "id": None,
        "thread_id": None,
        "role": None,
        **timing,
        "task": None,
        "subject_ids": [],
        "pii": [],
        "duplicate_of": None,
        "duplicate_kind": None,
        "variation": None,
        "auto_reply": False,
        "mojibake": False,
        "expected_clean": None,
        "answers": None,
        "person": persona.person_id if persona else None,
        "person_ids": sorted(persona.ids) if persona else [],
        "deletion_subject": None,
        "deletion_person": None,
        "deletion_person_ids": None,
    }
    truth.update(fields)
    return truth

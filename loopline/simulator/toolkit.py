"""What a conversation generator is given, and what it must provide: the contract of one generator per kind."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from loopline import catalog
from loopline.simulator.arrival import ReplyGaps
from loopline.simulator.compose import Composer, Question
from loopline.simulator.people import Agent, People, Persona
from loopline.simulator.truth import Draft

if TYPE_CHECKING:
    from loopline.simulator.generate import SimConfig


@dataclass(frozen=True)
class Toolkit:
    """Shared by every generator. One random stream for all of them, so one seed fixes every byte."""

    rng: random.Random
    cfg: SimConfig
    people: People
    composer: Composer
    gaps: ReplyGaps


class ConversationGenerator(Protocol):
    """Generates the threads of one catalog conversation kind (chat, email, ticket, ...)."""

    source: ClassVar[catalog.Source]
    signed_odds: ClassVar[float]  # odds a fresh question carries the customer's signature
    bad_enum: ClassVar[tuple[str, str] | None]  # (field, value outside its enum) for schema-mismatch payloads

    def __init__(self, tools: Toolkit) -> None: ...

    def thread_id(self) -> str:
        """A fresh value for the thread's key field (`source.key`)."""

    def message_id(self, like: str | None = None) -> str:
        """A fresh value for `source.event_id`; `like`: the id of the message this one re-syncs."""

    def thread(
        self, t: int, persona: Persona, agent: Agent, q: Question, subject: str | None
    ) -> tuple[list[Draft], Draft, str | None]:
        """A whole thread starting at `t` asking `q`: its drafts, the main question's draft, its subject."""

    def standalone(self, persona: Persona, q: Question, t: int) -> tuple[dict, str]:
        """A lone first message asking `q` (malformed events start from one), and its main text field."""

    def resync(self, record: dict, new_ids: dict[str, str], channel: str) -> None:
        """Fix up a re-synced copy's record (exact duplicate): references to renamed messages, its channel."""

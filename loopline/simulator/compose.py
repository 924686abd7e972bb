"""Composing what people write: a customer's question as parts (so a near-duplicate can change one), the
values of its template slots (the customer's own PII among them), and the agent's reply that echoes them."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loopline.simulator.people import Agent, Persona
from loopline.simulator.strings import ascii_word, date_phrase, template_fields
from loopline.simulator.text import answers, details, questions

if TYPE_CHECKING:
    from loopline.simulator.generate import SimConfig

PII_SLOTS = {
    "name": "PERSON",
    "first_name": "PERSON",
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "address": "STREET_ADDRESS",
    "card": "CREDIT_CARD",
    "iban": "IBAN_CODE",
    "ssn": "US_SSN",
    "ip": "IP_ADDRESS",
    "account": "ACCOUNT_NUMBER",
    "order": "ORDER_NUMBER",
    "hostname": "HOSTNAME",
    "api_key": "API_KEY",
}


class Slots(dict):
    """Slot values of one question, drawn on first use so a template only costs what it needs;
    the agent's answer reads the same dict, which is how it echoes the customer's details."""

    def __init__(self, composer: Composer, persona: Persona, time_ms: int):
        super().__init__()
        self.composer, self.persona, self.time_ms = composer, persona, time_ms

    def __missing__(self, key: str) -> str:
        value = self[key] = self.composer.slot_value(key, self.persona, self.time_ms)
        return value

    def extra_pii(self) -> list[tuple[str, str]]:
        return [(PII_SLOTS[k], v) for k, v in self.items() if k in ("hostname", "api_key")]


@dataclass
class Question:
    """A customer question as parts, so a near-duplicate can change exactly one aspect and re-render."""

    task: str
    greeting: str | None
    parts: list[tuple[str, str]]  # (role, template): context / problem / detail / urgency
    closing: str
    slots: Slots
    signed: bool  # signature block (and for email footer/disclaimer) present
    case: str = "as_is"  # or "lower"
    spacing: str = " "  # between sentences of a paragraph

    def sentences(self) -> list[str]:
        return [tpl.format_map(self.slots) for _, tpl in self.parts]

    def _cased(self, s: str) -> str:
        return s.lower() if self.case == "lower" else s

    def chat_text(self) -> str:
        return self._cased(self.spacing.join([g for g in [self.greeting] if g] + self.sentences() + [self.closing]))

    def blocks(self) -> list[str]:
        """Greeting, paragraphs, closing: details and urgency start new paragraphs."""
        paragraphs: list[list[str]] = []
        previous = None
        for (role, _), sentence in zip(self.parts, self.sentences()):
            if not paragraphs or role == "urgency" or (role == "detail" and previous != "detail"):
                paragraphs.append([])
            paragraphs[-1].append(sentence)
            previous = role
        blocks = ([self.greeting] if self.greeting else []) + [self.spacing.join(p) for p in paragraphs]
        return [self._cased(b) for b in blocks + [self.closing]]


class Composer:
    """Questions, slot values and agent replies, all drawn from the run's one random stream."""

    def __init__(self, rng: random.Random, cfg: SimConfig):
        self.rng, self.cfg = rng, cfg

    def question(self, persona: Persona, task: str, t: int, signed_odds: float = 0.0) -> Question:
        """Independent random choices per part, so two questions of one task rarely share phrasing."""
        parts = [("context", self.rng.choice(questions.CONTEXT[task])), ("problem", self.rng.choice(questions.PROBLEMS[task]))]
        if self.rng.random() < 0.3:
            parts.reverse()
        parts += [("detail", d) for d in self.rng.sample(questions.DETAILS[task], self.rng.choice((1, 2, 2)))]
        if self.rng.random() < 0.35:
            parts.append(("urgency", self.rng.choice(questions.URGENCY)))
        greeting = self.rng.choice(questions.GREETINGS) if self.rng.random() < 0.85 else None
        return Question(
            task,
            greeting,
            parts,
            self.rng.choice(questions.CLOSINGS),
            Slots(self, persona, t),
            signed=self.rng.random() < signed_odds,
        )

    def reply_parts(self, q: Question, persona: Persona, agent: Agent) -> tuple[str, str, list[str], str]:
        """Greeting, self-introduction, answer sentences, closing: the answer echoes the question's details."""
        greeting = self.rng.choice(answers.AGENT_GREETINGS).format(first_name=persona.first_name, name=persona.name)
        intro = self.rng.choice(answers.AGENT_INTROS).format(agent_first=agent.first_name)
        return greeting, intro, self.answer_sentences(q.task, q.slots), self.rng.choice(answers.AGENT_CLOSINGS)

    def answer_sentences(self, task: str, slots: Slots) -> list[str]:
        pool = answers.ANSWERS[task]
        echo = [a for a in pool if template_fields(a) and template_fields(a) <= slots.keys()]
        first = self.rng.choice(echo) if echo and self.rng.random() < 0.7 else self.rng.choice(pool)
        picks = [first] + ([self.rng.choice([a for a in pool if a != first])] if self.rng.random() < 0.4 else [])
        return [a.format_map(slots) for a in picks]

    def slot_value(self, key: str, persona: Persona, t: int) -> str:
        """A value for template slot `key`; persona slots return that customer's own PII."""
        if key == "order":
            return self.rng.choice(persona.orders)
        if key == "email":
            return self.rng.choice(persona.emails)
        if key in PII_SLOTS and key not in ("hostname", "api_key"):
            return getattr(persona, key)
        rng = self.rng
        cur = details.CURRENCY[persona.locale]
        org = ascii_word(persona.company.split()[0]) if persona.company else self.cfg.tenant
        make = {
            "product": lambda: rng.choice(details.PRODUCTS),
            "plan": lambda: rng.choice(details.PLANS),
            "amount": lambda: f"{cur}{rng.randint(5, 2500)}.{rng.randrange(100):02d}",
            "amount2": lambda: f"{cur}{rng.randint(5, 2500)}.{rng.randrange(100):02d}",
            "date": lambda: date_phrase(rng, t - rng.randint(1, 30) * 86_400_000),
            "error": lambda: rng.choice(details.ERROR_CODES),
            "device": lambda: rng.choice(details.DEVICES),
            "browser": lambda: rng.choice(details.BROWSERS),
            "carrier": lambda: rng.choice(details.CARRIERS),
            "tracking": lambda: f"{rng.choice(('1Z', 'JD', 'LX', 'CP'))}{rng.randrange(10**12):012d}",
            "count": lambda: str(rng.randint(2, 60)),
            "version": lambda: f"{rng.randint(3, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            "ref": lambda: f"CS-{rng.randrange(10**6):06d}",
            "days": lambda: str(rng.choice((3, 5, 7, 10))),
            "kb": lambda: f"KB-{rng.randint(1000, 9999)}",
            "hostname": lambda: f"{rng.choice(details.HOST_ROLES)}-{rng.randint(1, 12)}.corp.{org}.internal",
            "api_key": self._api_key,
        }
        return make[key]()

    def _api_key(self) -> str:
        prefix = self.rng.choice(details.API_KEY_PREFIXES)
        alnum = string.ascii_letters + string.digits
        if prefix == "AKIA":
            return prefix + "".join(self.rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
        if prefix == "xoxb-":
            return f"xoxb-{self.rng.randrange(10**12)}-{self.rng.randrange(10**12)}-" + "".join(
                self.rng.choice(alnum) for _ in range(24)
            )
        return prefix + "".join(self.rng.choice(alnum) for _ in range(36 if prefix == "ghp_" else 24))

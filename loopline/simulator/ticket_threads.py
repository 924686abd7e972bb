"""Ticket threads: opened by the customer, sometimes a clarifying round, resolved by an agent, closed by the
workflow. About half of the tickets know the requester's email address."""

from __future__ import annotations

import hashlib

from loopline import catalog
from loopline.simulator.compose import Question
from loopline.simulator.people import Agent, Persona
from loopline.simulator.strings import ascii_word, random_hex
from loopline.simulator.text import details, tickets
from loopline.simulator.toolkit import Toolkit
from loopline.simulator.truth import Draft


class TicketThreads:
    source = catalog.by_kind("ticket")
    signed_odds = 0.3
    bad_enum = ("event_type", "reopened")  # a value outside the schema's enum

    def __init__(self, tools: Toolkit):
        self.rng, self.composer, self.gaps = tools.rng, tools.composer, tools.gaps
        self.ticket_seq = self.rng.randrange(100_000, 900_000)

    def thread_id(self) -> str:
        self.ticket_seq += 1
        return f"TCK-{self.ticket_seq}"

    def message_id(self, like: str | None = None) -> str:
        return f"tev-{random_hex(self.rng, 16)}"

    def thread(self, t: int, persona: Persona, agent: Agent, q: Question, subject: str | None) -> tuple[list[Draft], Draft, None]:
        ticket = self.thread_id()
        product = self.rng.choice(details.PRODUCTS)
        tags = [
            q.task,
            self.rng.choice(tickets.TICKET_PRIORITIES),
            self.rng.choice(tickets.TICKET_SOURCES),
            ascii_word(product.split()[0]),
        ]
        drafts: list[Draft] = []
        clock = [t]
        clarify = self.rng.random() < 0.4
        long_at = self.gaps.long_at(3 if clarify else 1)  # which reply gap (if any) takes hours or days

        def post(event_type, role, author, text, clean=None, **kw) -> Draft:
            if drafts:
                clock[0] += self.gaps.long() if len(drafts) - 1 == long_at else self.rng.randint(60_000, 1_800_000)
            record = {
                "ticket_id": ticket,
                "event_id": self.message_id(),
                "event_type": event_type,
                "author_role": role,
                "author_id": author,
                "text": text,
                "event_time": clock[0],
                "product": product,
                "tags": tags,
            }
            email = self._author_email(ticket, persona) if role == "customer" else None
            if email is not None:
                record["author_email"] = email
            d = Draft(
                self.source,
                ticket,
                record,
                role,
                clock[0],
                text if clean is None else clean,
                q.task,
                ([author] + ([email] if email else [])) if role == "customer" else [],
                **kw,
            )
            drafts.append(d)
            return d

        cid = persona.customer_id
        clean = "\n\n".join(q.blocks())
        opened = post("opened", "customer", cid, clean + self._signature(persona, q), clean)
        prompts = [opened]
        if clarify:
            ask = f"Hi {persona.first_name}, {self.rng.choice(tickets.TICKET_CLARIFY)} Thanks, {agent.first_name}"
            post("comment", "agent", agent.agent_id, ask)
            prompts.append(post("comment", "customer", cid, self.rng.choice(tickets.TICKET_CUSTOMER_REPLIES).format_map(q.slots)))
        greeting, intro, answer, closing = self.composer.reply_parts(q, persona, agent)
        note = self.rng.choice(tickets.TICKET_RESOLUTIONS[q.task]).format_map(q.slots)
        resolution = " ".join([greeting] + answer + [closing]) + f"\n\nResolution: {note}"
        post("resolved", "agent", agent.agent_id, resolution, answers=[p.id for p in prompts])
        if self.rng.random() < 0.8:
            post("closed", "system", "system", self.rng.choice(tickets.TICKET_CLOSE_TEXTS))
        return drafts, opened, None

    def standalone(self, persona: Persona, q: Question, t: int) -> tuple[dict, str]:
        return {
            "ticket_id": self.thread_id(),
            "event_id": self.message_id(),
            "event_type": "opened",
            "author_role": "customer",
            "author_id": persona.customer_id,
            "text": "\n\n".join(q.blocks()),
            "event_time": t,
            "product": self.rng.choice(details.PRODUCTS),
            "tags": [q.task],
        }, "text"

    def resync(self, record: dict, new_ids: dict[str, str], channel: str) -> None:
        """A ticket copy refers to nothing by id and has no channel."""

    @staticmethod
    def _author_email(ticket: str, persona: Persona) -> str | None:
        """About half of the tickets know the requester's email (one of the person's addresses). Decided by a
        hash of the ticket id, not the rng, so every other draw (and so every other byte) stays as it was."""
        h = int.from_bytes(hashlib.sha256(f"author_email:{ticket}".encode()).digest()[:8], "big")
        return persona.emails[(h >> 1) % len(persona.emails)] if h % 2 == 0 else None

    @staticmethod
    def _signature(persona: Persona, q: Question) -> str:
        """Tickets opened by email keep the customer's sign-off and signature in the text."""
        if not q.signed:
            return ""
        tail = f"\n\n{persona.signoff}\n" + "\n".join(persona.signature_lines())
        return tail + (f"\n\n{persona.mobile_footer}" if persona.mobile_footer else "")

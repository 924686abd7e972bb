"""Chat conversations: small talk, the question, the agent's answer (sometimes in two turns), fillers,
follow-ups, and for chat_resume_fraction a customer who comes back hours later."""

from __future__ import annotations

from loopline import catalog
from loopline.simulator.compose import Question
from loopline.simulator.people import Agent, Persona
from loopline.simulator.strings import random_hex
from loopline.simulator.text import answers, chat, questions
from loopline.simulator.toolkit import Toolkit
from loopline.simulator.truth import Draft

CHANNELS = ("web", "whatsapp", "slack", "teams")


class ChatThreads:
    source = catalog.by_kind("chat")
    signed_odds = 0.0
    bad_enum = ("sender_role", "supervisor")  # a value outside the schema's enum

    def __init__(self, tools: Toolkit):
        self.rng, self.cfg, self.composer, self.gaps = tools.rng, tools.cfg, tools.composer, tools.gaps

    def thread_id(self) -> str:
        return f"conv-{random_hex(self.rng, 16)}"

    def message_id(self, like: str | None = None) -> str:
        return f"msg-{random_hex(self.rng, 16)}"

    def thread(self, t: int, persona: Persona, agent: Agent, q: Question, subject: str | None) -> tuple[list[Draft], Draft, None]:
        conv = self.thread_id()
        channel = self.rng.choice(CHANNELS)
        drafts: list[Draft] = []
        clock = [t]

        resume = self.rng.random() < self.cfg.chat_resume_fraction  # the customer comes back hours later

        def say(role, sender, text, clean=None, gap=True, long=False, **kw) -> Draft:
            if gap and drafts:
                clock[0] += self.gaps.long() if long else self.rng.randint(5_000, 90_000)
            record = {
                "conversation_id": conv,
                "message_id": self.message_id(),
                "sender_role": role,
                "sender_id": sender,
                "text": text,
                "event_time": clock[0],
                "channel": channel,
                "tenant": self.cfg.tenant,
            }
            d = Draft(
                self.source,
                conv,
                record,
                role,
                clock[0],
                text if clean is None else clean,
                q.task,
                [sender] if role == "customer" else [],
                **kw,
            )
            drafts.append(d)
            return d

        cid, bot = persona.customer_id, f"bot-{self.cfg.tenant}"
        prompts = []
        if self.rng.random() < 0.25:
            prompts.append(say("customer", cid, self.rng.choice(chat.CHAT_HELLOS)))
        if self.rng.random() < 0.5:
            clock[0] += self.rng.randint(1_000, 3_000) if drafts else 0
            say("bot", bot, self.rng.choice(chat.BOT_GREETINGS), gap=False)
        clean = q.chat_text()
        text = clean + ("\n\n" + "\n".join(["--"] + persona.signature_lines()) if q.signed else "")
        main = say("customer", cid, text, clean)
        prompts.append(main)
        if self.rng.random() < 0.25:
            prompts.append(say("customer", cid, self.rng.choice(chat.CHAT_EXTRA_TURNS).format_map(q.slots)))
        greeting, intro, answer, closing = self.composer.reply_parts(q, persona, agent)
        if self.rng.random() < 0.35:
            say("agent", agent.agent_id, f"{greeting} {intro}")
            say("agent", agent.agent_id, " ".join(answer + [closing]), answers=[p.id for p in prompts])
        else:
            say("agent", agent.agent_id, " ".join([greeting, intro] + answer + [closing]), answers=[p.id for p in prompts])
        if self.rng.random() < 0.4:
            say("customer", cid, self.rng.choice(chat.CHAT_FILLERS))
        if resume or self.rng.random() < 0.25:
            ask = self.rng.choice(questions.FOLLOWUPS[q.task])
            follow = say("customer", cid, f"{self.rng.choice(chat.CHAT_RESUMES)} {ask}" if resume else ask, long=resume)
            say(
                "agent",
                agent.agent_id,
                self.rng.choice(answers.FOLLOWUP_ANSWERS[q.task]).format_map(q.slots),
                answers=[follow.id],
            )
        if self.rng.random() < 0.3:
            say("agent", agent.agent_id, self.rng.choice(chat.CHAT_AGENT_WRAPUPS))
        return drafts, main, None

    def standalone(self, persona: Persona, q: Question, t: int) -> tuple[dict, str]:
        return {
            "conversation_id": self.thread_id(),
            "message_id": self.message_id(),
            "sender_role": "customer",
            "sender_id": persona.customer_id,
            "text": q.chat_text(),
            "event_time": t,
            "channel": self.rng.choice(CHANNELS),
            "tenant": self.cfg.tenant,
        }, "text"

    def resync(self, record: dict, new_ids: dict[str, str], channel: str) -> None:
        record["channel"] = channel

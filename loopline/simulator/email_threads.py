"""Email threads: the customer's mail, the agent's answer quoting it, sometimes a second round, plus
auto-acknowledgements and out-of-office replies. HTML mail sometimes carries no text part at all."""

from __future__ import annotations

from loopline import catalog
from loopline.simulator.compose import Question
from loopline.simulator.mail_render import Mail, MailRenderer
from loopline.simulator.people import Agent, Persona
from loopline.simulator.strings import date_phrase, random_hex
from loopline.simulator.text import answers, mail, questions
from loopline.simulator.toolkit import Toolkit
from loopline.simulator.truth import Draft

MEAN_EMAILS_PER_THREAD = 3.0  # converts the per-email auto-reply fraction to per-thread odds


class EmailThreads:
    source = catalog.by_kind("email")
    signed_odds = 0.95
    bad_enum = None  # no enum field

    def __init__(self, tools: Toolkit):
        self.rng, self.cfg, self.composer, self.gaps = tools.rng, tools.cfg, tools.composer, tools.gaps
        self.people = tools.people
        self.mail = MailRenderer(tools.rng, tools.cfg)
        self.auto_reply_p = tools.cfg.auto_reply_fraction * MEAN_EMAILS_PER_THREAD / 2

    def thread_id(self) -> str:
        return f"thread-{random_hex(self.rng, 16)}"

    def message_id(self, like: str | None = None) -> str:
        """A fresh message id in the domain of `like` (a re-synced copy of it)."""
        return f"<{random_hex(self.rng, 20)}@{like.split('@', 1)[1]}"

    def thread(self, t: int, persona: Persona, agent: Agent, q: Question, subject: str | None) -> tuple[list[Draft], Draft, str]:
        thread_id = self.thread_id()
        subject = subject or self.rng.choice(mail.SUBJECTS[q.task]).format_map(q.slots)
        drafts: list[Draft] = []

        def send(
            sent: Mail, role: str, clean: str, reply_to: Mail | None, answers: list[str] | None = None, auto_reply: bool = False
        ) -> Draft:
            """Auto-replies are plain text; HTML mail sometimes carries no text part at all."""
            body_text, body_html = sent.text, None
            if not auto_reply and self.rng.random() < self.cfg.html_email_fraction:
                body_html = sent.html
                body_text = sent.text if self.rng.random() < 0.7 else None
            record = {
                "message_id": sent.message_id,
                "thread_id": thread_id,
                "in_reply_to": reply_to.message_id if reply_to else None,
                "from_address": sent.address,
                "to_addresses": sent.to,
                "subject": sent.subject,
                "body_text": body_text,
                "body_html": body_html,
                "event_time": sent.time,
                "tenant": self.cfg.tenant,
            }
            subjects = [sent.address] if role == "customer" else []
            d = Draft(self.source, thread_id, record, role, sent.time, clean, q.task, subjects, answers, auto_reply)
            drafts.append(d)
            return d

        blocks = q.blocks()
        followup = self.rng.random() < 0.4
        long_at = self.gaps.long_at(3 if followup else 1)  # which reply gap (if any) takes hours or days
        address = self.rng.choice(persona.emails)  # the whole thread goes from/to this one
        first = self.mail.render(
            persona.client,
            persona.quote_lang,
            persona.name,
            address,
            [self.people.support],
            subject,
            t,
            blocks,
            self.mail.customer_signature(persona, q.signed),
            None,
        )
        main = send(first, "customer", "\n\n".join(blocks), None)
        if self.rng.random() < self.auto_reply_p:
            self._auto_ack(first, send)
        reply, clean = self._agent_mail(first, persona, agent, q, first.time + self._gap(long_at == 0))
        send(reply, "agent", clean, first, answers=[main.id])
        if self.rng.random() < self.auto_reply_p:
            self._out_of_office(reply, persona, send)
        if followup:
            self._followup(reply, persona, agent, q, send, long_at)
        return drafts, main, subject

    def standalone(self, persona: Persona, q: Question, t: int) -> tuple[dict, str]:
        return {
            "message_id": f"<{random_hex(self.rng, 20)}@{mail.MESSAGE_ID_DOMAINS[persona.client]}>",
            "thread_id": self.thread_id(),
            "in_reply_to": None,
            "from_address": self.rng.choice(persona.emails),
            "to_addresses": [self.people.support],
            "subject": self.rng.choice(mail.SUBJECTS[q.task]).format_map(q.slots),
            "body_text": "\n\n".join(q.blocks()),
            "body_html": None,
            "event_time": t,
            "tenant": self.cfg.tenant,
        }, "body_text"

    def resync(self, record: dict, new_ids: dict[str, str], channel: str) -> None:
        """A reply in the copy points at the copy of the message it answers."""
        if record["in_reply_to"]:
            record["in_reply_to"] = new_ids.get(record["in_reply_to"], record["in_reply_to"])

    def _followup(self, reply: Mail, persona: Persona, agent: Agent, q: Question, send, long_at: int | None) -> None:
        """A second round: the customer asks one more thing, quoting the answer; the agent replies."""
        thanks = mail.FOLLOWUP_THANKS["slow_answer" if long_at == 0 else "slow_customer" if long_at == 1 else "quick"]
        asked_blocks = [
            f"Hi {agent.first_name},",
            f"{self.rng.choice(thanks)} {self.rng.choice(questions.FOLLOWUPS[q.task])}",
            self.rng.choice(questions.CLOSINGS),
        ]
        follow = self.mail.render(
            persona.client,
            persona.quote_lang,
            persona.name,
            reply.to[0],
            [agent.email],
            self.mail.reply_subject(reply.subject, persona.quote_lang, persona.client),
            reply.time + self._gap(long_at == 1),
            asked_blocks,
            self.mail.customer_signature(persona, q.signed),
            reply,
        )
        asked = send(follow, "customer", "\n\n".join(asked_blocks), reply)
        answer_blocks = [
            f"Hi {persona.first_name},",
            self.rng.choice(answers.FOLLOWUP_ANSWERS[q.task]).format_map(q.slots),
            self.rng.choice(answers.AGENT_CLOSINGS),
        ]
        second = self.mail.render(
            agent.client,
            "en",
            agent.name,
            agent.email,
            [follow.address],
            self.mail.reply_subject(follow.subject, "en", agent.client),
            follow.time + self._gap(long_at == 2),
            answer_blocks,
            self.mail.agent_signature(agent),
            follow,
        )
        send(second, "agent", "\n\n".join(answer_blocks), follow, answers=[asked.id])

    def _agent_mail(self, question: Mail, persona: Persona, agent: Agent, q: Question, t: int) -> tuple[Mail, str]:
        """The agent's answer to the first email, and its clean text."""
        greeting, intro, answer, closing = self.composer.reply_parts(q, persona, agent)
        blocks = [greeting, " ".join([intro] + answer), closing]
        sent = self.mail.render(
            agent.client,
            "en",
            agent.name,
            agent.email,
            [question.address],
            self.mail.reply_subject(question.subject, "en", agent.client),
            t,
            blocks,
            self.mail.agent_signature(agent),
            question,
        )
        return sent, "\n\n".join(blocks)

    def _auto_ack(self, question: Mail, send) -> None:
        ref = f"CS-{self.rng.randrange(10**6):06d}"
        body = self.rng.choice(mail.AUTO_ACKS).format(ref=ref)
        subject = self.rng.choice(mail.AUTO_ACK_SUBJECTS).format(ref=ref, subject=question.subject)
        when = question.time + self.rng.randint(2_000, 20_000)
        ack = self.mail.render(
            "outlook",
            "en",
            f"{self.cfg.tenant.capitalize()} Support",
            self.people.noreply,
            [question.address],
            subject,
            when,
            [body],
            None,
            None,
        )
        send(ack, "system", body, question, auto_reply=True)

    def _out_of_office(self, reply: Mail, persona: Persona, send) -> None:
        lang = persona.lang if persona.lang in mail.OUT_OF_OFFICE else "en"
        until = date_phrase(self.rng, reply.time + self.rng.randint(2, 14) * 86_400_000)
        body = self.rng.choice(mail.OUT_OF_OFFICE[lang]).format(date=until)
        ooo = self.mail.render(
            persona.client,
            persona.quote_lang,
            persona.name,
            reply.to[0],
            [reply.address],
            mail.OOO_SUBJECT_PREFIX[lang] + reply.subject,
            reply.time + self.rng.randint(5_000, 60_000),
            [body],
            None,
            None,
        )
        send(ooo, "customer", body, reply, auto_reply=True)

    def _gap(self, long: bool = False) -> int:
        return self.gaps.long() if long else self.rng.randint(60_000, 1_800_000)

"""Threads as scheduled events: fresh ones from the kind's generator, exact and near duplicates of completed
ones (a reservoir reaching back into all history), each message turned into wire bytes and ground truth."""

from __future__ import annotations

from dataclasses import replace

from loopline.simulator import pii, variations
from loopline.simulator.arrival import Arrivals
from loopline.simulator.chat_threads import CHANNELS
from loopline.simulator.compose import Question
from loopline.simulator.people import Persona
from loopline.simulator.strings import json_bytes, mojibake
from loopline.simulator.text import questions
from loopline.simulator.toolkit import ConversationGenerator, Toolkit
from loopline.simulator.truth import Draft, Out, Thread, truth_record


class Threads:
    def __init__(self, tools: Toolkit, generators: dict[str, ConversationGenerator], arrivals: Arrivals):
        self.rng, self.cfg, self.people, self.composer = tools.rng, tools.cfg, tools.people, tools.composer
        self.generators, self.arrivals = generators, arrivals
        self.kinds = [kind for kind, _ in self.cfg.thread_shares]
        self.shares = [share for _, share in self.cfg.thread_shares]
        self.reservoir: list[Thread] = []
        self.completed = 0
        self.mojibake_owed = 0

    def start(self, t: int) -> list[Out]:
        """The events of a thread starting at `t`: a duplicate of an earlier one, or a fresh one."""
        r = self.rng.random()
        exact, near = self.cfg.exact_duplicate_fraction, self.cfg.near_duplicate_fraction
        if r < exact + near and self.reservoir:
            original = self.rng.choice(self.reservoir)
            if not original.persona.retired:
                return self._exact_duplicate(t, original) if r < exact else self._near_duplicate(t, original)
        kind = self.pick_kind()
        persona = self.rng.choice(self.people.customers)
        question = self.composer.question(persona, self.rng.choice(questions.TASKS), t, self.generators[kind].signed_odds)
        return self._build(kind, t, persona, question, None, None)

    def pick_kind(self) -> str:
        """A conversation kind, by the configured share of threads."""
        return self.rng.choices(self.kinds, self.shares)[0]

    def remember(self, thread: Thread) -> None:
        """Reservoir sample of completed original threads, so duplicates reach back into all history."""
        if not thread.original or thread.persona.retired:
            return
        self.completed += 1
        if len(self.reservoir) < self.cfg.duplicate_memory:
            self.reservoir.append(thread)
        else:
            j = self.rng.randrange(self.completed)
            if j < self.cfg.duplicate_memory:
                self.reservoir[j] = thread

    def _build(
        self, kind: str, t: int, persona: Persona, q: Question, subject: str | None, near: tuple[str, str] | None
    ) -> list[Out]:
        """A fresh thread (near=None) or a near-duplicate: near=(original main message id, variation)."""
        agent = self.rng.choice(self.people.agents)
        drafts, main, subject = self.generators[kind].thread(t, persona, agent, q, subject)
        if near is not None:
            main.duplicate_of, main.duplicate_kind, main.variation = near[0], "near", near[1]
            for d in drafts:
                d.answers = None
        thread = Thread(kind, persona, q, main.id, drafts, t, subject, original=near is None)
        values = persona.variants + agent.variants + self.people.tenant_variants + pii.variants(q.slots.extra_pii())
        return self._finish(drafts, pii.longest_first(values), persona, thread)

    def _finish(self, drafts: list[Draft], values: pii.Variants, persona: Persona, thread: Thread) -> list[Out]:
        """Wire bytes and truth for each draft; counts the events against persona and thread."""
        outs = []
        for d in drafts:
            if d.pii is None:
                d.mojibake = self._maybe_mojibake(d)
                d.pii = [p for f in d.source.text_fields if d.record.get(f) for p in pii.find(f, d.record[f], values)]
            arrival, timing = self.arrivals.arrive(d.time)
            truth = truth_record(
                d.source,
                timing,
                persona if d.role == "customer" else None,
                id=d.id,
                thread_id=d.record[d.source.key],
                role=d.role,
                task=d.task,
                subject_ids=list(d.subject_ids),
                pii=[dict(p) for p in d.pii],
                duplicate_of=d.duplicate_of,
                duplicate_kind=d.duplicate_kind,
                variation=d.variation,
                auto_reply=d.auto_reply,
                mojibake=d.mojibake,
                expected_clean=d.clean,
                answers={"prompt_ids": d.answers, "task": d.task} if d.answers else None,
            )
            outs.append(Out(arrival, d.source.topic, d.key.encode(), json_bytes(d.record), truth, persona, thread))
        persona.pending += len(outs)
        thread.remaining = len(outs)
        return outs

    def _exact_duplicate(self, t: int, original: Thread) -> list[Out]:
        """The whole thread again under new ids (re-sync / cross-post): texts byte-identical."""
        generator = self.generators[original.kind]
        shift = t - original.start
        new_ids: dict[str, str] = {}
        thread_id = generator.thread_id()
        channel = self.rng.choice(CHANNELS)  # where a re-synced chat arrives; drawn for every kind
        drafts = []
        for d in original.drafts:
            record = dict(d.record, event_time=d.time + shift)
            record[d.source.key] = thread_id
            record[d.source.event_id] = new_ids[d.id] = generator.message_id(d.id)
            generator.resync(record, new_ids, channel)
            drafts.append(
                replace(
                    d,
                    key=thread_id,
                    record=record,
                    time=d.time + shift,
                    answers=None,
                    duplicate_of=d.id,
                    duplicate_kind="exact",
                    variation=None,
                )
            )
        thread = Thread(
            original.kind,
            original.persona,
            original.question,
            new_ids[original.main_id],
            drafts,
            t,
            original.subject,
            original=False,
        )
        return self._finish(drafts, [], original.persona, thread)

    def _near_duplicate(self, t: int, original: Thread) -> list[Out]:
        """The original's question reposted as a new thread with exactly one aspect changed."""
        q, variation = variations.vary(self.rng, original.question)
        return self._build(original.kind, t, original.persona, q, original.subject, (original.main_id, variation))

    def _maybe_mojibake(self, d: Draft) -> bool:
        """Misdecode this message's text fields as a cp1252 connector would. The message was typed with
        smart quotes (as Outlook/Word do), which is what makes most texts change; the clean text keeps them.
        A draw that lands on a text with nothing to garble is owed to the next message that has some."""
        if self.rng.random() < self.cfg.mojibake_fraction:
            self.mojibake_owed += 1
        if not self.mojibake_owed:
            return False
        names = [f for f in (d.source.body, d.source.body_html) if f and d.record.get(f)]  # not the subject
        fixed = {f: d.record[f].replace("&#39;", "’").replace("'", "’") for f in names}
        broken = {f: mojibake(v) for f, v in fixed.items()}
        if any(v is None or v == fixed[f] for f, v in broken.items()):
            return False
        d.record.update(broken)
        d.clean = d.clean.replace("'", "’")
        self.mojibake_owed -= 1
        return True

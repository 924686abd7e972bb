"""Feedback events: a user's rating (and sometimes a comment) of a model response served by some adapter."""

from __future__ import annotations

from loopline import catalog
from loopline.simulator import pii
from loopline.simulator.arrival import Arrivals
from loopline.simulator.strings import json_bytes, random_hex
from loopline.simulator.text import answers, questions
from loopline.simulator.toolkit import Toolkit
from loopline.simulator.truth import Out, truth_record


class FeedbackEvents:
    source = catalog.by_kind("feedback")

    def __init__(self, tools: Toolkit, arrivals: Arrivals, start_ms: int):
        self.rng, self.cfg, self.people, self.composer = tools.rng, tools.cfg, tools.people, tools.composer
        self.arrivals, self.start_ms = arrivals, start_ms

    def make(self, t: int) -> Out:
        """Mostly good answers rated up; a down rating goes with an unhelpful or off-topic response. The
        adapter version follows event time, sometimes one behind (a rating of an older response)."""
        persona = self.rng.choice(self.people.customers)
        task = self.rng.choice(questions.TASKS)
        q = self.composer.question(persona, task, t)
        up = self.rng.random() < 0.7
        if up:
            response = " ".join(self.composer.answer_sentences(task, q.slots) + [self.rng.choice(answers.AGENT_CLOSINGS)])
        elif self.rng.random() < 0.5:
            response = self.rng.choice(answers.UNHELPFUL_RESPONSES)
        else:
            other = self.rng.choice([x for x in questions.TASKS if x != task])
            response = " ".join(self.composer.answer_sentences(other, q.slots))
        comment = None
        if self.rng.random() < 0.4:
            comment = self.rng.choice(answers.FEEDBACK_UP if up else answers.FEEDBACK_DOWN)
        adapter = 1 + (t - self.start_ms) // self.cfg.adapter_period_ms - (self.rng.random() < 0.2)
        record = {
            "response_id": f"resp-{random_hex(self.rng, 16)}",
            "prompt": q.chat_text(),
            "response": response,
            "adapter_version": f"adapter-{max(adapter, 1):04d}",
            "rating": "up" if up else "down",
            "comment": comment,
            "event_time": t,
        }
        values = pii.longest_first(persona.variants + pii.variants(q.slots.extra_pii()))
        spans = [p for f in self.source.text_fields if record[f] for p in pii.find(f, record[f], values)]
        arrival, timing = self.arrivals.arrive(t)
        truth = truth_record(self.source, timing, persona, id=record[self.source.event_id], task=task, pii=spans)
        persona.pending += 1
        return Out(arrival, self.source.topic, record[self.source.key].encode(), json_bytes(record), truth, persona)

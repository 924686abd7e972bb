"""Extract prompt/response pairs from curated threads, with a quality score and a task label.

Per source kind:
  ticket: the customer's opening (plus customer comments) -> the agent's resolution;
  chat:   consecutive customer turns -> the most relevant of the agent messages that follow;
  email:  an inbound customer email -> the agent's reply.
Empty (filler), duplicate and auto-reply messages are never prompts or answers. Quality in [0, 1]:
0 outside the length bounds or for a canned auto-reply, else 0.35 * substance of both sides
(a one-line "thanks" is not a question) + 0.45 * the answer's lexical relevance to the question
+ 0.2 * how much of the answer is left once placeholders are discounted.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from loopline.config import PairsConfig
from pipelines.deadletter import DEAD
from pipelines.decode import Event
from pipelines.windowing import Thread, ThreadStage

_WORD = re.compile(r"[a-z0-9']+")
_PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")
_STOP = frozenset("""a an and are as at be been but by can could do does for from had has have hello hi how i i'm if in
is it its just me my of on or our please so that the their them then there this to was we were what when which who will
with would you your yours thanks thank regards dear team support""".split())


class Pair(NamedTuple):
    prompts: tuple[Event, ...]
    response: Event
    quality: float
    task: str


class PairExtractor:
    """Pure extraction logic, shared by the pipeline stage and tests."""

    def __init__(self, config: PairsConfig):
        self.config = config
        self.auto_reply = re.compile("|".join(config.auto_reply_patterns), re.IGNORECASE)
        self.task_words = {task: [w.lower() for w in words] for task, words in config.task_keywords.items()}

    def text(self, e: Event) -> str:
        return e.text if e.text is not None else (e.record.get("text") or e.record.get("body_text") or "")

    def usable(self, e: Event) -> bool:
        text = self.text(e)
        return bool(text.strip()) and e.duplicate_of is None and not self.auto_reply.search(text)

    def extract(self, thread: Thread) -> list[Pair]:
        events = [e for e in thread.events if e.kind in ("chat", "email", "ticket")]
        if not events:
            return []
        kind = events[0].kind
        raw = {"ticket": self._ticket, "chat": self._chat, "email": self._email}[kind](events)
        return [self._scored(prompts, response) for prompts, response in raw]

    def _ticket(self, events: list[Event]):
        prompts = [e for e in events if e.record["author_role"] == "customer" and self.usable(e)]
        resolved = [e for e in events if e.record["event_type"] == "resolved" and e.record["author_role"] == "agent"
                    and self.usable(e)]
        return [(tuple(prompts), resolved[-1])] if prompts and resolved else []

    def _chat(self, events: list[Event]):
        pairs, prompts, answers = [], [], []
        for e in events + [None]:
            role = e.record["sender_role"] if e is not None else "customer"
            if role == "customer":
                if answers and prompts:
                    pairs.append((tuple(prompts), self._best_answer(prompts, answers)))
                    prompts = []
                answers = []
                if e is not None and self.usable(e):
                    prompts.append(e)
            elif role == "agent" and self.usable(e):
                answers.append(e)
        return pairs

    def _email(self, events: list[Event]):
        """The thread's first sender is the customer; a usable mail from anyone else answers their latest question."""
        customer = events[0].record["from_address"]
        pairs, question = [], None
        for e in events:
            if not self.usable(e):
                continue
            if e.record["from_address"] == customer:
                question = e
            elif question is not None:
                pairs.append(((question,), e))
                question = None
        return pairs

    def _best_answer(self, prompts, answers: list[Event]) -> Event:
        """Of the agent messages after a question, the one that looks most like the answer: relevant
        to it, and substantive (an introduction or a wrap-up is shorter than the answer itself)."""
        return max(answers, key=lambda a: self._relevance(prompts, a) + min(len(self.text(a).split()), 60) / 60)

    def _relevance(self, prompts, answer: Event) -> float:
        q = _content_words(" ".join(self.text(p) for p in prompts))
        a = _content_words(self.text(answer))
        return len(q & a) / len(q) if q and a else 0.0

    def _scored(self, prompts: tuple[Event, ...], response: Event) -> Pair:
        prompt_text = "\n\n".join(self.text(p) for p in prompts)
        answer_text = self.text(response)
        c = self.config
        in_bounds = all(c.min_chars <= len(t) <= c.max_chars for t in (prompt_text, answer_text))
        if not in_bounds or self.auto_reply.search(answer_text):
            quality = 0.0
        else:
            relevance = min(1.0, 3 * self._relevance(prompts, response))
            words = answer_text.split()
            substance = 1 - len(_PLACEHOLDER.findall(answer_text)) / max(1, len(words))
            length = min(1.0, len(prompt_text.split()) / 8) * min(1.0, len(words) / 12)
            quality = round(0.35 * length + 0.45 * relevance + 0.2 * substance, 4)
        return Pair(prompts, response, quality, self.task(prompt_text))

    def task(self, text: str) -> str:
        lowered = text.lower()
        hits = {task: sum(lowered.count(w) for w in words) for task, words in self.task_words.items()}
        best = max(hits, key=lambda t: (hits[t], t)) if hits else "other"
        return best if hits.get(best) else "other"


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(_PLACEHOLDER.sub(" ", text.lower())) if w not in _STOP and len(w) > 2}


class _ExtractPairs(ThreadStage):
    stage = "pairs"

    def __init__(self, config: PairsConfig):
        self.config = config

    def setup(self):
        self._extractor = PairExtractor(self.config)

    def handle(self, thread: Thread):
        extracted = self._extractor.extract(thread)
        kept = [p for p in extracted if p.quality >= self.config.min_quality]
        for p in extracted:
            Metrics.counter("loopline", f"pairs.quality.{min(9, int(p.quality * 10)) / 10:.1f}").inc()
        for p in kept:
            Metrics.counter("loopline", f"pairs.task.{p.task}").inc()
        Metrics.counter("loopline", "pairs.below_min_quality").inc(len(extracted) - len(kept))
        yield thread._replace(pairs=tuple(kept))


class ExtractPairs(beam.PTransform):
    """Threads -> Threads carrying their prompt/response pairs (main "threads"), dead letters (DEAD)."""

    def __init__(self, config: PairsConfig):
        super().__init__()
        self.config = config

    def expand(self, threads):
        return threads | "Extract" >> beam.ParDo(_ExtractPairs(self.config)).with_outputs(DEAD, main="threads")

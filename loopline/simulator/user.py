"""A simulated production user: asks held-out support questions and rates each answer by a fixed rule tied to
the simulator's ground truth, so the feedback loop (serve -> thumbs -> Kafka -> store -> trainer -> serve) can be
run and measured without people.

Held out: questions are composed by the simulator's own composer from a separate seed, so they are never
messages of the traffic the model trains on (the templates they share are the domain, as in production).

The rule: an answer is "up" when it states a resolution of the question's task: the ROUGE-L recall (rouge-score)
of one of the task's ground-truth resolutions (the agent answer templates, slots left out) in the answer reaches
`threshold`, and no other task's resolution is stated better. Greetings and sign-offs neither help nor hurt.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from rouge_score import rouge_scorer

from loopline.simulator.compose import Composer
from loopline.simulator.generate import SimConfig
from loopline.simulator.people import People
from loopline.simulator.text import answers, questions

_SLOT = re.compile(r"\{[a-z_0-9]+\}")


@dataclass(frozen=True)
class Ask:
    task: str
    text: str


class SimulatedUser:
    def __init__(self, seed: int = 424242, threshold: float = 0.5, start_ms: int | None = None):
        rng = random.Random(seed)
        cfg = SimConfig()
        start_ms = start_ms or int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
        self._rng, self._people, self._composer, self._t = rng, People(rng, seed, cfg, start_ms), Composer(rng, cfg), start_ms
        self.threshold = threshold
        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        self._resolutions = {task: [" ".join(_SLOT.sub(" ", a).split()) for a in pool] for task, pool in answers.ANSWERS.items()}

    def questions(self, n: int) -> list[Ask]:
        """n questions, the tasks in turn, each composed like a customer's chat message."""
        asks = []
        for i in range(n):
            task = questions.TASKS[i % len(questions.TASKS)]
            persona = self._rng.choice(self._people.customers)
            asks.append(Ask(task, self._composer.question(persona, task, self._t).chat_text()))
        return asks

    def match(self, task: str, answer: str) -> float:
        """How much of the task's best-stated resolution the answer states: the best ROUGE-L recall."""
        return max(self._scorer.score(r, answer)["rougeL"].recall for r in self._resolutions[task])

    def rate(self, ask: Ask, answer: str) -> str:
        own = self.match(ask.task, answer)
        best_other = max(self.match(task, answer) for task in self._resolutions if task != ask.task)
        return "up" if own >= self.threshold and own >= best_other else "down"

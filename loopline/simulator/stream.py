"""The event stream: threads and single events scheduled in a heap by true arrival, sent in that order.

Threads are generated whole when they start, their messages get an event time and an arrival delay, and
go into a heap keyed by (true) arrival time. Thread start times only grow, so everything in the heap that
arrives before the next start can be sent; memory stays O(threads in flight). Feedback, deletion and
malformed events are single-event items scheduled alongside threads, keeping their configured shares.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

from loopline.simulator.arrival import Arrivals, ReplyGaps
from loopline.simulator.compose import Composer
from loopline.simulator.conversations import conversation_generators
from loopline.simulator.deletions import Deletions
from loopline.simulator.feedback import FeedbackEvents
from loopline.simulator.malformed import MALFORMED_KINDS, MalformedEvents
from loopline.simulator.people import People
from loopline.simulator.threads import Threads
from loopline.simulator.toolkit import Toolkit
from loopline.simulator.truth import Out, SimEvent

if TYPE_CHECKING:
    from loopline.simulator.generate import SimConfig


class TrafficStream:
    def __init__(self, seed: int, start_ms: int, config: SimConfig):
        """Everything that draws from the random stream while being built, in a fixed order: the people,
        then the generators, then the producers' clocks."""
        self.cfg = config
        rng = self.rng = random.Random(seed)
        self.people = People(rng, seed, config, start_ms)
        tools = Toolkit(rng, config, self.people, Composer(rng, config), ReplyGaps(rng, config))
        generators = conversation_generators(tools)
        arrivals = Arrivals(rng, config)
        self.threads = Threads(tools, generators, arrivals)
        self.feedback = FeedbackEvents(tools, arrivals, start_ms)
        self.deletions = Deletions(tools, arrivals)
        self.malformed = MalformedEvents(tools, arrivals, self.threads)
        self.start_ms = start_ms
        self.heap: list[tuple[int, int, Out]] = []
        self.pushed = 0
        self.emitted = 0
        total = config.feedback_fraction + config.deletion_fraction + config.malformed_fraction
        self.single_rates = [
            (kind, frac / (1 - total))
            for kind, frac in (
                ("feedback", config.feedback_fraction),
                ("deletion", config.deletion_fraction),
                ("malformed", config.malformed_fraction),
            )
        ]

    def run(self, count: int) -> Iterator[SimEvent]:
        t = self.start_ms
        while True:
            yield from self._release(t)
            group = self._group(t)
            if self.emitted + len(self.heap) + len(group) + self._reserve(count) > count:
                break
            self._push(group)
            t += 1 + round(self.rng.expovariate(1 / self.cfg.mean_thread_gap_ms))
        self._push(self._fill(count, t))
        yield from self._release(None)

    def _release(self, before: int | None) -> Iterator[SimEvent]:
        """Send everything arriving before `before` (all if None): nothing generated later arrives earlier."""
        while self.heap and (before is None or self.heap[0][0] < before):
            yield self._emit(heapq.heappop(self.heap)[2])

    def _emit(self, out: Out) -> SimEvent:
        out.truth["seq"] = self.emitted
        self.emitted += 1
        if out.persona is not None:
            out.persona.pending -= 1
            out.persona.seen_ids.extend(s for s in out.truth["subject_ids"] if s not in out.persona.seen_ids)
        if out.thread is not None:
            out.thread.remaining -= 1
            if out.thread.remaining == 0:
                self.threads.remember(out.thread)
        return SimEvent(out.topic, out.key, out.value, out.truth)

    def _push(self, outs: list[Out]) -> None:
        for out in outs:
            if out.truth["malformed"] and out.truth["malformed"] not in self.malformed.seen:
                self.malformed.seen.append(out.truth["malformed"])
            heapq.heappush(self.heap, (out.arrival, self.pushed, out))
            self.pushed += 1

    def _reserve(self, count: int) -> int:
        """Slots kept free at the end for malformed kinds not yet sent, so runs of >= 1000 have all four."""
        if count < 1000 or self.cfg.malformed_fraction <= 0:
            return 0
        return len(MALFORMED_KINDS) - len(self.malformed.seen)

    def _group(self, t: int) -> list[Out]:
        """One thread plus the single events that keep their configured share of all events."""
        outs = self.threads.start(t)
        singles = []
        for _ in range(len(outs)):
            for kind, p in self.single_rates:
                if self.rng.random() < p:
                    singles.append((kind, t + self.rng.randrange(self.cfg.mean_thread_gap_ms)))
        made = (self._single(kind, when) for kind, when in singles)
        return outs + [o for o in made if o is not None]

    def _fill(self, count: int, t: int) -> list[Out]:
        """The events still missing from `count`: reserved malformed kinds first, then feedback/malformed."""
        missing = self.malformed.missing()[: self._reserve(count)]
        fb, mal = self.cfg.feedback_fraction, self.cfg.malformed_fraction
        outs = []
        for i in range(count - self.emitted - len(self.heap)):
            when = t + self.rng.randrange(self.cfg.mean_thread_gap_ms)
            if i < len(missing):
                outs.append(self.malformed.make(when, missing[i]))
            elif mal > 0 and self.rng.random() < mal / (fb + mal):
                outs.append(self.malformed.make(when))
            else:
                outs.append(self.feedback.make(when))
        return outs

    def _single(self, kind: str, t: int) -> Out | None:
        if kind == "feedback":
            return self.feedback.make(t)
        if kind == "deletion":
            return self.deletions.make(t)
        return self.malformed.make(t)

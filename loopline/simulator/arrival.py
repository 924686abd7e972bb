"""When things happen: long-tail reply gaps inside a thread, and when an event reaches Kafka.

Several producers with skewed clocks send each topic: the Kafka timestamp (truth `arrival_time`) is the
true arrival (`true_arrival_time`, the send order) plus the sending producer's fixed `clock_skew_ms`.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopline.simulator.generate import SimConfig

LATE_MS = 120_000  # delay (on the producer's clock) from which an event counts as late


class ReplyGaps:
    """Replies that take hours or days, so one thread spans several of the pipeline's session windows."""

    def __init__(self, rng: random.Random, cfg: SimConfig):
        self.rng, self.cfg = rng, cfg

    def long_at(self, gaps: int) -> int | None:
        """Index of the one reply gap (of a thread's `gaps`) that takes hours or days, for
        long_reply_fraction of email/ticket threads; None for the rest."""
        if self.rng.random() < self.cfg.long_reply_fraction:
            return self.rng.randrange(gaps)
        return None

    def long(self) -> int:
        """A reply that waited: log-uniform over long_reply_gap_ms, so hours are common and days rarer."""
        low, high = self.cfg.long_reply_gap_ms
        return round(math.exp(self.rng.uniform(math.log(low), math.log(high))))


class Arrivals:
    """Arrival delays and the producers that stamp them, each with a fixed clock skew drawn once per run."""

    def __init__(self, rng: random.Random, cfg: SimConfig):
        self.rng, self.cfg = rng, cfg
        skew = cfg.producer_clock_skew_ms
        self.clock_offsets = [rng.randrange(-skew, skew) if skew else 0 for _ in range(cfg.producers)]

    def _delay(self) -> int:
        """True arrival delay. A deliberately late one stays late on any producer's clock; a normal one
        plus any clock skew stays below LATE_MS (SimConfig checks), far from the allowed lateness."""
        if self.rng.random() < self.cfg.late_fraction:
            return max(self.rng.randint(*self.cfg.late_delay_ms), LATE_MS + self.cfg.producer_clock_skew_ms)
        return self.rng.randint(0, self.cfg.max_delay_ms)

    def arrive(self, event_time: int) -> tuple[int, dict]:
        """True arrival (the send order) and the timing truth of one event: its producer stamps the Kafka
        timestamp (`arrival_time`) on its own skewed clock, and delay/lateness are measured on that stamp."""
        true_arrival = event_time + self._delay()
        producer = self.rng.randrange(len(self.clock_offsets))
        skew = self.clock_offsets[producer]
        delay = true_arrival + skew - event_time
        return true_arrival, {
            "event_time": event_time,
            "arrival_time": true_arrival + skew,
            "delay_ms": delay,
            "late": delay >= LATE_MS,
            "true_arrival_time": true_arrival,
            "producer": producer,
            "clock_skew_ms": skew,
        }

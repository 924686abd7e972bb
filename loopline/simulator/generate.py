"""Deterministic synthetic support traffic (chats, emails, tickets, feedback, deletions) with ground truth.

`generate(seed, count, start_ms, config)` yields exactly `count` SimEvents in send (= true arrival) order.
Every event carries a truth dict saying what a perfect pipeline should make of it: PII spans, the
clean text, which customer messages an agent message answers, duplicates, malformed payloads.

Real traffic's shapes the truth describes:
- Replies can take hours or days (`long_reply_fraction`, `chat_resume_fraction`): such a thread spans
  several of the pipeline's session windows. Its later events wait in the heap until they arrive.
- Several producers with skewed clocks send each topic: the Kafka timestamp (truth `arrival_time`,
  what produce.py sets) is the true arrival (`true_arrival_time`, the send order) plus the sending
  producer's fixed `clock_skew_ms`, so CreateTime within a partition goes backwards by up to
  2 * `producer_clock_skew_ms`. `delay_ms` = `arrival_time` - `event_time`, as the pipeline measures it.
- A person has a customer id (chat sender_id, ticket author_id) and one or two email addresses, used
  across sources; truth `person` / `person_ids` name them. A deletion names any one of those ids,
  sometimes with some of the others in `linked_ids`.

Who does what: stream.py schedules and sends; people.py, compose.py and variations.py make the people and
their words; one generator per conversation kind (chat_threads.py, email_threads.py, ticket_threads.py,
registered in conversations.py) writes threads, threads.py turns them into events with truth (truth.py,
pii.py); feedback.py, deletions.py and malformed.py make the single events; arrival.py times everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from loopline import catalog
from loopline.simulator.arrival import LATE_MS
from loopline.simulator.stream import TrafficStream
from loopline.simulator.truth import SimEvent


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the simulated traffic; fractions are of events unless noted."""

    tenant: str = "acme"
    malformed_fraction: float = 0.01
    late_fraction: float = 0.02
    exact_duplicate_fraction: float = 0.03  # of threads
    near_duplicate_fraction: float = 0.05  # of threads
    feedback_fraction: float = 0.03
    deletion_fraction: float = 0.002
    auto_reply_fraction: float = 0.02  # of email events
    mojibake_fraction: float = 0.01  # of chat/email/ticket messages
    html_email_fraction: float = 0.6
    oversized_bytes: int = 600_000  # size of 'oversized' malformed payloads
    mean_thread_gap_ms: int = 3_000  # threads start ~ exponential with this mean
    thread_shares: tuple[tuple[str, float], ...] = (("chat", 0.5), ("email", 0.3), ("ticket", 0.2))  # by kind
    max_delay_ms: int = 2_000  # normal arrival delay is uniform in [0, this]
    late_delay_ms: tuple[int, int] = (120_000, 1_800_000)  # true delay, raised to >= LATE_MS + clock skew
    long_reply_fraction: float = 0.15  # of email/ticket threads: one reply gap is a long one
    chat_resume_fraction: float = 0.03  # of chat threads: the customer comes back after a long gap
    long_reply_gap_ms: tuple[int, int] = (3_600_000, 4 * 86_400_000)  # long gaps: log-uniform, hours to days
    producers: int = 4  # producers sending each topic; each event goes via a random one
    producer_clock_skew_ms: int = 30_000  # each producer's clock is off by a fixed amount in [-this, this)
    second_email_fraction: float = 0.4  # of customers: a second email address (threads use either)
    deletion_linked_fraction: float = 0.3  # of deletions: linked_ids names some of the person's other ids
    customers: int = 400  # persona pool size (Faker is slow: built once per run)
    agents: int = 24
    duplicate_memory: int = 256  # completed threads kept (reservoir) as duplicate originals
    adapter_period_ms: int = 6 * 3600_000  # a new adapter version every this much event time

    def __post_init__(self):
        if self.feedback_fraction + self.deletion_fraction + self.malformed_fraction >= 1:
            raise ValueError("feedback + deletion + malformed fractions must leave room for threads")
        if self.producers < 1 or self.producer_clock_skew_ms < 0:
            raise ValueError("need at least one producer and a non-negative clock skew")
        if self.max_delay_ms + self.producer_clock_skew_ms >= LATE_MS:
            raise ValueError("normal delay + producer clock skew must stay below the late threshold")
        if not 0 < self.long_reply_gap_ms[0] <= self.long_reply_gap_ms[1]:
            raise ValueError("long_reply_gap_ms must be a positive (low, high) range")
        unknown = [k for k, _ in self.thread_shares if k not in catalog.conversation_kinds()]
        if unknown or not any(share > 0 for _, share in self.thread_shares):
            raise ValueError(
                f"thread_shares needs a positive share and only conversation kinds "
                f"{list(catalog.conversation_kinds())}; got {[k for k, _ in self.thread_shares]}"
            )


def generate(seed: int, count: int, start_ms: int, config: SimConfig = SimConfig()) -> Iterator[SimEvent]:
    """Exactly `count` events in true arrival order; identical arguments give byte-identical output."""
    yield from TrafficStream(seed, start_ms, config).run(count)

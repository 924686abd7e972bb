"""Deterministic synthetic support traffic (chats, emails, tickets, feedback, deletions) with ground truth.

`generate(seed, count, start_ms, config)` yields exactly `count` SimEvents in send (= true arrival) order.
Every event carries a truth dict saying what a perfect pipeline should make of it: PII spans, the
clean text, which customer messages an agent message answers, duplicates, malformed payloads.

How the stream is built: threads (a conversation, email thread or ticket) are generated whole when
they start, their messages get an event time and an arrival delay, and go into a heap keyed by
(true) arrival time. Thread start times only grow, so everything in the heap that arrives before the
next start can be sent; memory stays O(threads in flight). Feedback, deletion and malformed events
are single-event items scheduled alongside threads.

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
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import json
import math
import random
import re
import string
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Iterator

from faker import Faker

from loopline import catalog, schemas
from loopline.simulator import text as T

CHAT, EMAIL, TICKET = (catalog.by_kind(k).topic for k in ("chat", "email", "ticket"))
FEEDBACK, DELETION = (catalog.by_kind(k).topic for k in ("feedback", "deletion"))
KIND = {s.topic: s.kind for s in catalog.SOURCES}
ID_FIELD = {s.topic: s.event_id for s in catalog.SOURCES if s.kind != "deletion"}
THREAD_FIELD = {s.topic: s.key for s in catalog.conversations()}
TEXT_FIELDS = {s.topic: s.text_fields for s in catalog.SOURCES if s.text_fields}
MALFORMED_KINDS = ("invalid_json", "schema_mismatch", "invalid_utf8", "oversized")
VARIATIONS = ("greeting", "signature", "whitespace", "case", "dropped_sentence", "edited_words")
NEAR_MIN_JACCARD = 0.6   # a near-duplicate's word 5-shingle Jaccard with its original is at least this
LATE_MS = 120_000
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES")
LOCALE_WEIGHTS = (0.35, 0.2, 0.15, 0.15, 0.15)
CLIENTS = ("gmail", "outlook", "apple", "yahoo", "thunderbird")
CLIENT_WEIGHTS = (0.4, 0.3, 0.15, 0.1, 0.05)
CHANNELS = ("web", "whatsapp", "slack", "teams")
SIGNED = {CHAT: 0.0, EMAIL: 0.95, TICKET: 0.3}   # odds a fresh question carries the customer's signature

PII_SLOTS = {"name": "PERSON", "first_name": "PERSON", "email": "EMAIL_ADDRESS", "phone": "PHONE_NUMBER",
             "address": "STREET_ADDRESS", "card": "CREDIT_CARD", "iban": "IBAN_CODE", "ssn": "US_SSN",
             "ip": "IP_ADDRESS", "account": "ACCOUNT_NUMBER", "order": "ORDER_NUMBER", "hostname": "HOSTNAME",
             "api_key": "API_KEY"}


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the simulated traffic; fractions are of events unless noted."""
    tenant: str = "acme"
    malformed_fraction: float = 0.01
    late_fraction: float = 0.02
    exact_duplicate_fraction: float = 0.03   # of threads
    near_duplicate_fraction: float = 0.05    # of threads
    feedback_fraction: float = 0.03
    deletion_fraction: float = 0.002
    auto_reply_fraction: float = 0.02        # of email events
    mojibake_fraction: float = 0.01          # of chat/email/ticket messages
    html_email_fraction: float = 0.6
    oversized_bytes: int = 600_000           # size of 'oversized' malformed payloads
    mean_thread_gap_ms: int = 3_000          # threads start ~ exponential with this mean
    topic_weights: tuple[float, float, float] = (0.5, 0.3, 0.2)   # chat, email, ticket threads
    max_delay_ms: int = 2_000                # normal arrival delay is uniform in [0, this]
    late_delay_ms: tuple[int, int] = (120_000, 1_800_000)   # true delay, raised to >= LATE_MS + clock skew
    long_reply_fraction: float = 0.15        # of email/ticket threads: one reply gap is a long one
    chat_resume_fraction: float = 0.03       # of chat threads: the customer comes back after a long gap
    long_reply_gap_ms: tuple[int, int] = (3_600_000, 4 * 86_400_000)   # long gaps: log-uniform, hours to days
    producers: int = 4                       # producers sending each topic; each event goes via a random one
    producer_clock_skew_ms: int = 30_000     # each producer's clock is off by a fixed amount in [-this, this)
    second_email_fraction: float = 0.4       # of customers: a second email address (threads use either)
    deletion_linked_fraction: float = 0.3    # of deletions: linked_ids names some of the person's other ids
    customers: int = 400                     # persona pool size (Faker is slow: built once per run)
    agents: int = 24
    duplicate_memory: int = 256              # completed threads kept (reservoir) as duplicate originals
    adapter_period_ms: int = 6 * 3600_000    # a new adapter version every this much event time

    def __post_init__(self):
        if self.feedback_fraction + self.deletion_fraction + self.malformed_fraction >= 1:
            raise ValueError("feedback + deletion + malformed fractions must leave room for threads")
        if self.producers < 1 or self.producer_clock_skew_ms < 0:
            raise ValueError("need at least one producer and a non-negative clock skew")
        if self.max_delay_ms + self.producer_clock_skew_ms >= LATE_MS:
            raise ValueError("normal delay + producer clock skew must stay below the late threshold")
        if not 0 < self.long_reply_gap_ms[0] <= self.long_reply_gap_ms[1]:
            raise ValueError("long_reply_gap_ms must be a positive (low, high) range")


@dataclass(frozen=True)
class SimEvent:
    topic: str
    key: bytes | None
    value: bytes
    truth: dict


def generate(seed: int, count: int, start_ms: int, config: SimConfig = SimConfig()) -> Iterator[SimEvent]:
    """Exactly `count` events in true arrival order; identical arguments give byte-identical output."""
    yield from _Simulator(seed, start_ms, config).run(count)


# --------------------------------------------------------------------------- text helpers

def _esc(s: str) -> str:
    """HTML-escape the way webmail clients do (apostrophe as &#39;)."""
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;")):
        s = s.replace(char, entity)
    return s


def _mojibake(s: str) -> str | None:
    """UTF-8 bytes misread as cp1252 ("café" -> "cafÃ©"); None where cp1252 can't decode the bytes."""
    try:
        return s.encode("utf-8").decode("cp1252")
    except UnicodeDecodeError:
        return None


def _ascii(s: str) -> str:
    return re.sub(r"[^a-z]", "", unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower())


@functools.cache
def _fields(template: str) -> frozenset[str]:
    return frozenset(f for _, f, _, _ in string.Formatter().parse(template) if f)


def _vocabulary() -> frozenset[str]:
    """Every word in the text pools: persona first names must not be one, so a case-insensitive
    search for "Will" or "May" can't hit ordinary words or month names."""
    words: set[str] = set()

    def walk(obj) -> None:
        if isinstance(obj, str):
            words.update(w.lower() for w in re.findall(r"[^\W\d_]+", obj))
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(k)
                walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)

    walk([getattr(T, n) for n in dir(T) if n.isupper()])
    return frozenset(words)


_STOPWORDS = _vocabulary()
_WORD = re.compile(r"\{\w+\}|[A-Za-z]+")


def _variants(pairs) -> list[tuple[str, str]]:
    """(type, lowercased form) for each way a value can appear on the wire: as typed, with smart
    quotes, mojibake'd, HTML-escaped."""
    out, seen = [], set()
    for typ, value in pairs:
        for a in (value, value.replace("'", "’")):
            for b in (a, _mojibake(a)):
                for c in (b, _esc(b)) if b else ():
                    low = c.lower()
                    if low not in seen:
                        seen.add(low)
                        out.append((typ, low))
    return out


def _find_pii(field_name: str, text: str, variants: list[tuple[str, str]]) -> list[dict]:
    """Every non-overlapping occurrence of the known values in `text`, longest values first."""
    low = text.lower()
    if len(low) != len(text):
        low = text
    claimed: list[tuple[int, int]] = []
    found = []
    for typ, v in variants:
        i = low.find(v)
        while i != -1:
            j = i + len(v)
            if _bounded(low, i, j) and all(j <= s or i >= e for s, e in claimed):
                claimed.append((i, j))
                found.append({"type": typ, "value": text[i:j], "field": field_name, "start": i, "end": j})
            i = low.find(v, i + 1)
    return sorted(found, key=lambda p: p["start"])


def _bounded(s: str, i: int, j: int) -> bool:
    """No letter/digit glued to either end: 'Ann' must not match inside 'Annual'."""
    return not (i > 0 and s[i].isalnum() and s[i - 1].isalnum()) and \
        not (j < len(s) and s[j - 1].isalnum() and s[j].isalnum())


def _jaccard5(a: str, b: str) -> float:
    """Word 5-shingle Jaccard on lowercased words, the similarity MinHash dedup estimates."""
    def shingles(s: str) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", s.lower())
        return {tuple(words[i:i + 5]) for i in range(max(len(words) - 4, 1))}
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def _time_fields(ms: int) -> dict:
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    wd, mon = d.weekday(), d.month - 1
    return {"wd3": T.WEEKDAYS["en"][wd][:3], "wdfull": T.WEEKDAYS["en"][wd], "mon3": T.MONTHS["en"][mon][:3],
            "monfull": T.MONTHS["en"][mon], "day": d.day, "dd": f"{d.day:02d}", "mo": f"{d.month:02d}",
            "year": d.year, "hh": f"{d.hour:02d}", "mm": f"{d.minute:02d}", "ss": f"{d.second:02d}",
            "h12": d.hour % 12 or 12, "ampm": "AM" if d.hour < 12 else "PM",
            "wd_fr": T.WEEKDAYS["fr"][wd], "mon_fr": T.MONTHS["fr"][mon], "wd_es": T.WEEKDAYS["es"][wd],
            "mon_es": T.MONTHS["es"][mon], "wd_de": T.WEEKDAYS["de"][wd], "mon_de": T.MONTHS["de"][mon]}


def _dumps(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------- people

@dataclass(eq=False)
class _Persona:
    person_id: str                                # the person, whichever of their ids an event shows
    customer_id: str                              # chat sender_id, ticket author_id
    name: str
    first_name: str
    locale: str
    email: str                                    # primary address (emails[0])
    emails: tuple[str, ...]                       # one or two addresses; each email thread uses one
    phone: str
    address: str
    card: str
    iban: str
    ssn: str
    ip: str
    account: str
    orders: tuple[str, ...]
    company: str | None
    title: str | None
    client: str
    quote_lang: str
    mobile_footer: str | None
    disclaimer: str | None
    signoff: str
    variants: list = field(default_factory=list)
    pending: int = 0                              # events scheduled, not yet sent (any role, its threads)
    seen_ids: list = field(default_factory=list)  # subject ids already sent, in first-sent order
    retired: bool = False                         # a deletion was issued: never used again

    @property
    def lang(self) -> str:
        return self.locale[:2]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id this person appears under in events: customer id, then email addresses."""
        return (self.customer_id,) + self.emails

    def pii(self) -> list[tuple[str, str]]:
        return ([("PERSON", self.name), ("PERSON", self.first_name)] +
                [("EMAIL_ADDRESS", e) for e in self.emails] +
                [("PHONE_NUMBER", self.phone), ("STREET_ADDRESS", self.address), ("CREDIT_CARD", self.card),
                 ("IBAN_CODE", self.iban), ("US_SSN", self.ssn), ("IP_ADDRESS", self.ip),
                 ("ACCOUNT_NUMBER", self.account)] + [("ORDER_NUMBER", o) for o in self.orders])

    def signature_lines(self) -> list[str]:
        return [self.name] + ([f"{self.title} | {self.company}"] if self.company else []) + [self.phone]


@dataclass(eq=False)
class _Agent:
    agent_id: str
    name: str
    first_name: str
    email: str
    phone: str
    title: str
    client: str
    variants: list = field(default_factory=list)

    def pii(self) -> list[tuple[str, str]]:
        return [("PERSON", self.name), ("PERSON", self.first_name), ("EMAIL_ADDRESS", self.email),
                ("PHONE_NUMBER", self.phone)]


# --------------------------------------------------------------------------- questions

class _Slots(dict):
    """Slot values of one question, drawn on first use so a template only costs what it needs;
    the agent's answer reads the same dict, which is how it echoes the customer's details."""

    def __init__(self, sim: "_Simulator", persona: _Persona, time_ms: int):
        super().__init__()
        self.sim, self.persona, self.time_ms = sim, persona, time_ms

    def __missing__(self, key: str) -> str:
        value = self[key] = self.sim.slot_value(key, self.persona, self.time_ms)
        return value

    def extra_pii(self) -> list[tuple[str, str]]:
        return [(PII_SLOTS[k], v) for k, v in self.items() if k in ("hostname", "api_key")]


@dataclass
class _Question:
    """A customer question as parts, so a near-duplicate can change exactly one aspect and re-render."""
    task: str
    greeting: str | None
    parts: list[tuple[str, str]]   # (role, template): context / problem / detail / urgency
    closing: str
    slots: _Slots
    signed: bool                   # signature block (and for email footer/disclaimer) present
    case: str = "as_is"            # or "lower"
    spacing: str = " "             # between sentences of a paragraph

    def sentences(self) -> list[str]:
        return [tpl.format_map(self.slots) for _, tpl in self.parts]

    def _cased(self, s: str) -> str:
        return s.lower() if self.case == "lower" else s

    def chat_text(self) -> str:
        return self._cased(self.spacing.join([g for g in [self.greeting] if g] + self.sentences() + [self.closing]))

    def blocks(self) -> list[str]:
        """Greeting, paragraphs, closing: details and urgency start new paragraphs."""
        paragraphs: list[list[str]] = []
        previous = None
        for (role, _), sentence in zip(self.parts, self.sentences()):
            if not paragraphs or role == "urgency" or (role == "detail" and previous != "detail"):
                paragraphs.append([])
            paragraphs[-1].append(sentence)
            previous = role
        blocks = ([self.greeting] if self.greeting else []) + [self.spacing.join(p) for p in paragraphs]
        return [self._cased(b) for b in blocks + [self.closing]]


# --------------------------------------------------------------------------- messages before/after sending

@dataclass
class _Draft:
    """One message of a thread as generated; finish() turns it into wire bytes + truth."""
    topic: str
    key: str
    record: dict
    role: str
    time: int
    clean: str | None
    task: str | None
    subject_ids: list[str]
    answers: list[str] | None = None
    auto_reply: bool = False
    duplicate_of: str | None = None
    duplicate_kind: str | None = None
    variation: str | None = None
    pii: list | None = None          # preset for exact duplicates (text identical to the original)
    mojibake: bool = False

    @property
    def id(self) -> str:
        return self.record[ID_FIELD[self.topic]]


@dataclass(eq=False)
class _Thread:
    """A scheduled thread: counts unsent events so it can become a duplicate original once all are out."""
    kind: str
    persona: _Persona
    question: _Question
    main_id: str
    drafts: list[_Draft]
    start: int
    subject: str | None
    original: bool
    remaining: int = 0


@dataclass(eq=False)
class _Out:
    arrival: int
    topic: str
    key: bytes | None
    value: bytes
    truth: dict
    persona: _Persona | None = None
    thread: _Thread | None = None


@dataclass
class _Sig:
    """What a mail client appends below the body."""
    signoff: str | None
    typed: str | None
    lines: list[str]
    footer: str | None
    disclaimer: str | None


@dataclass
class _Mail:
    """A rendered email, kept so the next reply can quote it."""
    message_id: str
    name: str
    address: str
    to: list[str]
    subject: str
    time: int
    text: str
    html: str          # the full HTML document
    inner_html: str    # body content only, for nesting into the next reply's quote


# --------------------------------------------------------------------------- the simulator

class _Simulator:
    def __init__(self, seed: int, start_ms: int, config: SimConfig):
        self.cfg = config
        self.start_ms = start_ms
        self.rng = random.Random(seed)
        self.fakers = {}
        for i, locale in enumerate(LOCALES):
            self.fakers[locale] = Faker(locale)
            self.fakers[locale].seed_instance(seed * 7919 + i)
        self.domain = f"{config.tenant}.com"
        self.support = f"support@{self.domain}"
        self.noreply = f"noreply@{self.domain}"
        self.support_phone = self._digits(T.SUPPORT_PHONE)
        self.tenant_variants = _variants([("EMAIL_ADDRESS", self.support), ("EMAIL_ADDRESS", self.noreply)])
        self.used_ids: set[str] = set()
        self.person_seq = 0
        self.customers = [self._persona() for _ in range(config.customers)]
        self.agents = [self._agent(i) for i in range(config.agents)]
        self.ticket_seq = self.rng.randrange(100_000, 900_000)
        self.heap: list[tuple[int, int, _Out]] = []
        self.pushed = 0
        self.emitted = 0
        self.reservoir: list[_Thread] = []
        self.completed = 0
        self.malformed_seen: list[str] = []
        self.mojibake_owed = 0
        total = config.feedback_fraction + config.deletion_fraction + config.malformed_fraction
        self.single_rates = [(kind, frac / (1 - total)) for kind, frac in
                             (("feedback", config.feedback_fraction), ("deletion", config.deletion_fraction),
                              ("malformed", config.malformed_fraction))]
        email_len = 3.0  # mean events per email thread; converts the per-email fraction to per-thread odds
        self.auto_reply_p = config.auto_reply_fraction * email_len / 2
        skew = config.producer_clock_skew_ms
        self.clock_offsets = [self.rng.randrange(-skew, skew) if skew else 0 for _ in range(config.producers)]

    # ---------------------------------------------------------------- stream assembly

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

    def _emit(self, out: _Out) -> SimEvent:
        out.truth["seq"] = self.emitted
        self.emitted += 1
        if out.persona is not None:
            out.persona.pending -= 1
            out.persona.seen_ids.extend(s for s in out.truth["subject_ids"] if s not in out.persona.seen_ids)
        if out.thread is not None:
            out.thread.remaining -= 1
            if out.thread.remaining == 0:
                self._remember(out.thread)
        return SimEvent(out.topic, out.key, out.value, out.truth)

    def _remember(self, thread: _Thread) -> None:
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

    def _push(self, outs: list[_Out]) -> None:
        for out in outs:
            if out.truth["malformed"] and out.truth["malformed"] not in self.malformed_seen:
                self.malformed_seen.append(out.truth["malformed"])
            heapq.heappush(self.heap, (out.arrival, self.pushed, out))
            self.pushed += 1

    def _reserve(self, count: int) -> int:
        """Slots kept free at the end for malformed kinds not yet sent, so runs of >= 1000 have all four."""
        if count < 1000 or self.cfg.malformed_fraction <= 0:
            return 0
        return len(MALFORMED_KINDS) - len(self.malformed_seen)

    def _group(self, t: int) -> list[_Out]:
        """One thread plus the single events that keep their configured share of all events."""
        outs = self._thread(t)
        singles = []
        for _ in range(len(outs)):
            for kind, p in self.single_rates:
                if self.rng.random() < p:
                    singles.append((kind, t + self.rng.randrange(self.cfg.mean_thread_gap_ms)))
        made = (self._single(kind, when) for kind, when in singles)
        return outs + [o for o in made if o is not None]

    def _fill(self, count: int, t: int) -> list[_Out]:
        """The events still missing from `count`: reserved malformed kinds first, then feedback/malformed."""
        missing = [k for k in MALFORMED_KINDS if k not in self.malformed_seen][:self._reserve(count)]
        fb, mal = self.cfg.feedback_fraction, self.cfg.malformed_fraction
        outs = []
        for i in range(count - self.emitted - len(self.heap)):
            when = t + self.rng.randrange(self.cfg.mean_thread_gap_ms)
            if i < len(missing):
                outs.append(self._malformed(when, missing[i]))
            elif mal > 0 and self.rng.random() < mal / (fb + mal):
                outs.append(self._malformed(when))
            else:
                outs.append(self._feedback(when))
        return outs

    def _single(self, kind: str, t: int) -> _Out | None:
        if kind == "feedback":
            return self._feedback(t)
        if kind == "deletion":
            return self._deletion(t)
        return self._malformed(t)

    # ---------------------------------------------------------------- threads

    def _thread(self, t: int) -> list[_Out]:
        r = self.rng.random()
        exact, near = self.cfg.exact_duplicate_fraction, self.cfg.near_duplicate_fraction
        if r < exact + near and self.reservoir:
            original = self.rng.choice(self.reservoir)
            if not original.persona.retired:
                return self._exact_duplicate(t, original) if r < exact else self._near_duplicate(t, original)
        kind = self.rng.choices((CHAT, EMAIL, TICKET), self.cfg.topic_weights)[0]
        persona = self.rng.choice(self.customers)
        question = self._question(persona, self.rng.choice(T.TASKS), t, kind)
        return self._build(kind, t, persona, question, None, None)

    def _build(self, kind: str, t: int, persona: _Persona, q: _Question, subject: str | None,
               near: tuple[str, str] | None) -> list[_Out]:
        """A fresh thread (near=None) or a near-duplicate: near=(original main message id, variation)."""
        agent = self.rng.choice(self.agents)
        builder = {CHAT: self._chat, EMAIL: self._email, TICKET: self._ticket}[kind]
        drafts, main, subject = builder(t, persona, agent, q, subject)
        if near is not None:
            main.duplicate_of, main.duplicate_kind, main.variation = near[0], "near", near[1]
            for d in drafts:
                d.answers = None
        thread = _Thread(kind, persona, q, main.id, drafts, t, subject, original=near is None)
        values = persona.variants + agent.variants + self.tenant_variants + _variants(q.slots.extra_pii())
        return self._finish(drafts, sorted(values, key=lambda v: -len(v[1])), persona, thread)

    def _finish(self, drafts: list[_Draft], values, persona: _Persona, thread: _Thread) -> list[_Out]:
        """Wire bytes and truth for each draft; counts the events against persona and thread."""
        outs = []
        for d in drafts:
            if d.pii is None:
                d.mojibake = self._maybe_mojibake(d)
                d.pii = [p for f in TEXT_FIELDS[d.topic] if d.record.get(f)
                         for p in _find_pii(f, d.record[f], values)]
            arrival, timing = self._arrive(d.time)
            truth = self._truth(d.topic, timing, persona if d.role == "customer" else None, id=d.id,
                                thread_id=d.record[THREAD_FIELD[d.topic]], role=d.role, task=d.task,
                                subject_ids=list(d.subject_ids),
                                pii=[dict(p) for p in d.pii], duplicate_of=d.duplicate_of,
                                duplicate_kind=d.duplicate_kind, variation=d.variation, auto_reply=d.auto_reply,
                                mojibake=d.mojibake, expected_clean=d.clean,
                                answers={"prompt_ids": d.answers, "task": d.task} if d.answers else None)
            outs.append(_Out(arrival, d.topic, d.key.encode(), _dumps(d.record), truth, persona, thread))
        persona.pending += len(outs)
        thread.remaining = len(outs)
        return outs

    def _exact_duplicate(self, t: int, original: _Thread) -> list[_Out]:
        """The whole thread again under new ids (re-sync / cross-post): texts byte-identical."""
        shift = t - original.start
        new_ids: dict[str, str] = {}
        thread_id = self._thread_id(original.kind)
        channel = self.rng.choice(CHANNELS)
        drafts = []
        for d in original.drafts:
            record = dict(d.record, event_time=d.time + shift)
            record[THREAD_FIELD[d.topic]] = thread_id
            record[ID_FIELD[d.topic]] = new_ids[d.id] = self._message_id(d.topic, d.id)
            if d.topic == EMAIL and d.record["in_reply_to"]:
                record["in_reply_to"] = new_ids.get(d.record["in_reply_to"], d.record["in_reply_to"])
            if d.topic == CHAT:
                record["channel"] = channel
            drafts.append(replace(d, key=thread_id, record=record, time=d.time + shift, answers=None,
                                  duplicate_of=d.id, duplicate_kind="exact", variation=None))
        thread = _Thread(original.kind, original.persona, original.question, new_ids[original.main_id], drafts,
                         t, original.subject, original=False)
        return self._finish(drafts, [], original.persona, thread)

    def _near_duplicate(self, t: int, original: _Thread) -> list[_Out]:
        """The original's question reposted as a new thread with exactly one aspect changed."""
        q, variation = self._vary(original.question)
        return self._build(original.kind, t, original.persona, q, original.subject, (original.main_id, variation))

    def _vary(self, q: _Question) -> tuple[_Question, str]:
        """A short question can lose too much to an edit or a dropped sentence: redraw until the
        variant is still clearly similar, so the truth's "near" is never a judgment call."""
        for _ in range(5):
            variant, variation = self._vary_once(q)
            if _jaccard5(q.chat_text(), variant.chat_text()) >= NEAR_MIN_JACCARD:
                return variant, variation
        return replace(q, case="lower"), "case"

    def _vary_once(self, q: _Question) -> tuple[_Question, str]:
        variation = self.rng.choice(VARIATIONS)
        if variation == "greeting":
            return replace(q, greeting=self.rng.choice([g for g in T.GREETINGS if g != q.greeting])), variation
        if variation == "signature":
            return replace(q, signed=not q.signed), variation
        if variation == "whitespace":
            return replace(q, spacing=self.rng.choice(["  ", "\n", " \n"])), variation
        if variation == "case":
            return replace(q, case="lower"), variation
        if variation == "dropped_sentence":
            droppable = [i for i, (role, _) in enumerate(q.parts) if role != "problem"]
            drop = self.rng.choice(droppable)
            return replace(q, parts=[p for i, p in enumerate(q.parts) if i != drop]), variation
        return replace(q, parts=self._edit_words(q.parts)), variation

    def _edit_words(self, parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Swap 2-3 words for synonyms (or typos) outside the slots, as a customer retyping would."""
        spots = [(i, m.start(), m.end()) for i, (_, tpl) in enumerate(parts) for m in _WORD.finditer(tpl)
                 if not m.group().startswith("{") and len(m.group()) >= 4]
        chosen = sorted(self.rng.sample(spots, min(len(spots), self.rng.randint(2, 3))), reverse=True)
        edited = [list(p) for p in parts]
        for i, s, e in chosen:
            tpl = edited[i][1]
            edited[i][1] = tpl[:s] + self._edit(tpl[s:e]) + tpl[e:]
        return [tuple(p) for p in edited]

    def _edit(self, word: str) -> str:
        synonym = T.WORD_EDITS.get(word.lower())
        if synonym:
            return synonym.capitalize() if word[0].isupper() else synonym
        k = self.rng.randrange(1, len(word) - 2)
        return word[:k] + word[k + 1] + word[k] + word[k + 2:]

    # ---------------------------------------------------------------- chat

    def _chat(self, t, persona, agent, q, _subject):
        conv = self._thread_id(CHAT)
        channel = self.rng.choice(CHANNELS)
        drafts: list[_Draft] = []
        clock = [t]

        resume = self.rng.random() < self.cfg.chat_resume_fraction  # the customer comes back hours later

        def say(role, sender, text, clean=None, gap=True, long=False, **kw) -> _Draft:
            if gap and drafts:
                clock[0] += self._long_gap() if long else self.rng.randint(5_000, 90_000)
            record = {"conversation_id": conv, "message_id": self._message_id(CHAT), "sender_role": role,
                      "sender_id": sender, "text": text, "event_time": clock[0], "channel": channel,
                      "tenant": self.cfg.tenant}
            d = _Draft(CHAT, conv, record, role, clock[0], text if clean is None else clean, q.task,
                       [sender] if role == "customer" else [], **kw)
            drafts.append(d)
            return d

        cid, bot = persona.customer_id, f"bot-{self.cfg.tenant}"
        prompts = []
        if self.rng.random() < 0.25:
            prompts.append(say("customer", cid, self.rng.choice(T.CHAT_HELLOS)))
        if self.rng.random() < 0.5:
            clock[0] += self.rng.randint(1_000, 3_000) if drafts else 0
            say("bot", bot, self.rng.choice(T.BOT_GREETINGS), gap=False)
        clean = q.chat_text()
        text = clean + ("\n\n" + "\n".join(["--"] + persona.signature_lines()) if q.signed else "")
        main = say("customer", cid, text, clean)
        prompts.append(main)
        if self.rng.random() < 0.25:
            prompts.append(say("customer", cid, self.rng.choice(T.CHAT_EXTRA_TURNS).format_map(q.slots)))
        greeting, intro, answer, closing = self._reply_parts(q, persona, agent)
        if self.rng.random() < 0.35:
            say("agent", agent.agent_id, f"{greeting} {intro}")
            say("agent", agent.agent_id, " ".join(answer + [closing]), answers=[p.id for p in prompts])
        else:
            say("agent", agent.agent_id, " ".join([greeting, intro] + answer + [closing]),
                answers=[p.id for p in prompts])
        if self.rng.random() < 0.4:
            say("customer", cid, self.rng.choice(T.CHAT_FILLERS))
        if resume or self.rng.random() < 0.25:
            ask = self.rng.choice(T.FOLLOWUPS[q.task])
            follow = say("customer", cid, f"{self.rng.choice(T.CHAT_RESUMES)} {ask}" if resume else ask, long=resume)
            say("agent", agent.agent_id, self.rng.choice(T.FOLLOWUP_ANSWERS[q.task]).format_map(q.slots),
                answers=[follow.id])
        if self.rng.random() < 0.3:
            say("agent", agent.agent_id, self.rng.choice(T.CHAT_AGENT_WRAPUPS))
        return drafts, main, None

    # ---------------------------------------------------------------- ticket

    def _ticket(self, t, persona, agent, q, _subject):
        ticket = self._thread_id(TICKET)
        product = self.rng.choice(T.PRODUCTS)
        tags = [q.task, self.rng.choice(T.TICKET_PRIORITIES), self.rng.choice(T.TICKET_SOURCES),
                _ascii(product.split()[0])]
        drafts: list[_Draft] = []
        clock = [t]
        clarify = self.rng.random() < 0.4
        long_at = self._long_gap_at(3 if clarify else 1)   # which reply gap (if any) takes hours or days

        def post(event_type, role, author, text, clean=None, **kw) -> _Draft:
            if drafts:
                clock[0] += self._long_gap() if len(drafts) - 1 == long_at else self.rng.randint(60_000, 1_800_000)
            record = {"ticket_id": ticket, "event_id": self._message_id(TICKET), "event_type": event_type,
                      "author_role": role, "author_id": author, "text": text, "event_time": clock[0],
                      "product": product, "tags": tags}
            email = self._ticket_email(ticket, persona) if role == "customer" else None
            if email is not None:
                record["author_email"] = email
            d = _Draft(TICKET, ticket, record, role, clock[0], text if clean is None else clean, q.task,
                       ([author] + ([email] if email else [])) if role == "customer" else [], **kw)
            drafts.append(d)
            return d

        cid = persona.customer_id
        clean = "\n\n".join(q.blocks())
        opened = post("opened", "customer", cid, clean + self._ticket_signature(persona, q), clean)
        prompts = [opened]
        if clarify:
            ask = f"Hi {persona.first_name}, {self.rng.choice(T.TICKET_CLARIFY)} Thanks, {agent.first_name}"
            post("comment", "agent", agent.agent_id, ask)
            prompts.append(post("comment", "customer", cid,
                                self.rng.choice(T.TICKET_CUSTOMER_REPLIES).format_map(q.slots)))
        greeting, intro, answer, closing = self._reply_parts(q, persona, agent)
        note = self.rng.choice(T.TICKET_RESOLUTIONS[q.task]).format_map(q.slots)
        resolution = " ".join([greeting] + answer + [closing]) + f"\n\nResolution: {note}"
        post("resolved", "agent", agent.agent_id, resolution, answers=[p.id for p in prompts])
        if self.rng.random() < 0.8:
            post("closed", "system", "system", self.rng.choice(T.TICKET_CLOSE_TEXTS))
        return drafts, opened, None

    @staticmethod
    def _ticket_email(ticket: str, persona: _Persona) -> str | None:
        """About half of the tickets know the requester's email (one of the person's addresses). Decided by a
        hash of the ticket id, not the rng, so every other draw (and so every other byte) stays as it was."""
        h = int.from_bytes(hashlib.sha256(f"author_email:{ticket}".encode()).digest()[:8], "big")
        return persona.emails[(h >> 1) % len(persona.emails)] if h % 2 == 0 else None

    def _ticket_signature(self, persona: _Persona, q: _Question) -> str:
        """Tickets opened by email keep the customer's sign-off and signature in the text."""
        if not q.signed:
            return ""
        tail = f"\n\n{persona.signoff}\n" + "\n".join(persona.signature_lines())
        return tail + (f"\n\n{persona.mobile_footer}" if persona.mobile_footer else "")

    # ---------------------------------------------------------------- email

    def _email(self, t, persona, agent, q, subject):
        thread_id = self._thread_id(EMAIL)
        subject = subject or self.rng.choice(T.SUBJECTS[q.task]).format_map(q.slots)
        drafts: list[_Draft] = []

        def send(mail: _Mail, role: str, clean: str, reply_to: _Mail | None, answers: list[str] | None = None,
                 auto_reply: bool = False) -> _Draft:
            """Auto-replies are plain text; HTML mail sometimes carries no text part at all."""
            body_text, body_html = mail.text, None
            if not auto_reply and self.rng.random() < self.cfg.html_email_fraction:
                body_html = mail.html
                body_text = mail.text if self.rng.random() < 0.7 else None
            record = {"message_id": mail.message_id, "thread_id": thread_id,
                      "in_reply_to": reply_to.message_id if reply_to else None, "from_address": mail.address,
                      "to_addresses": mail.to, "subject": mail.subject, "body_text": body_text,
                      "body_html": body_html, "event_time": mail.time, "tenant": self.cfg.tenant}
            subjects = [mail.address] if role == "customer" else []
            d = _Draft(EMAIL, thread_id, record, role, mail.time, clean, q.task, subjects, answers, auto_reply)
            drafts.append(d)
            return d

        blocks = q.blocks()
        followup = self.rng.random() < 0.4
        long_at = self._long_gap_at(3 if followup else 1)   # which reply gap (if any) takes hours or days
        address = self.rng.choice(persona.emails)           # the whole thread goes from/to this one
        first = self._mail(persona.client, persona.quote_lang, persona.name, address, [self.support],
                           subject, t, blocks, self._customer_sig(persona, q.signed), None)
        main = send(first, "customer", "\n\n".join(blocks), None)
        if self.rng.random() < self.auto_reply_p:
            self._auto_ack(first, send)
        reply, clean = self._agent_mail(first, persona, agent, q, first.time + self._email_gap(long_at == 0))
        send(reply, "agent", clean, first, answers=[main.id])
        if self.rng.random() < self.auto_reply_p:
            self._out_of_office(reply, persona, send)
        if followup:
            self._email_followup(reply, persona, agent, q, send, long_at)
        return drafts, main, subject

    def _email_followup(self, reply: _Mail, persona: _Persona, agent: _Agent, q: _Question, send,
                        long_at: int | None) -> None:
        """A second round: the customer asks one more thing, quoting the answer; the agent replies."""
        thanks = T.FOLLOWUP_THANKS["slow_answer" if long_at == 0 else "slow_customer" if long_at == 1 else "quick"]
        asked_blocks = [f"Hi {agent.first_name},",
                        f"{self.rng.choice(thanks)} {self.rng.choice(T.FOLLOWUPS[q.task])}",
                        self.rng.choice(T.CLOSINGS)]
        follow = self._mail(persona.client, persona.quote_lang, persona.name, reply.to[0], [agent.email],
                            self._reply_subject(reply.subject, persona.quote_lang, persona.client),
                            reply.time + self._email_gap(long_at == 1), asked_blocks,
                            self._customer_sig(persona, q.signed), reply)
        asked = send(follow, "customer", "\n\n".join(asked_blocks), reply)
        answer_blocks = [f"Hi {persona.first_name},", self.rng.choice(T.FOLLOWUP_ANSWERS[q.task]).format_map(q.slots),
                         self.rng.choice(T.AGENT_CLOSINGS)]
        second = self._mail(agent.client, "en", agent.name, agent.email, [follow.address],
                            self._reply_subject(follow.subject, "en", agent.client),
                            follow.time + self._email_gap(long_at == 2), answer_blocks, self._agent_sig(agent), follow)
        send(second, "agent", "\n\n".join(answer_blocks), follow, answers=[asked.id])

    def _agent_mail(self, question: _Mail, persona: _Persona, agent: _Agent, q: _Question,
                    t: int) -> tuple[_Mail, str]:
        """The agent's answer to the first email, and its clean text."""
        greeting, intro, answer, closing = self._reply_parts(q, persona, agent)
        blocks = [greeting, " ".join([intro] + answer), closing]
        mail = self._mail(agent.client, "en", agent.name, agent.email, [question.address],
                          self._reply_subject(question.subject, "en", agent.client), t, blocks,
                          self._agent_sig(agent), question)
        return mail, "\n\n".join(blocks)

    def _auto_ack(self, question: _Mail, send) -> None:
        ref = f"CS-{self.rng.randrange(10**6):06d}"
        body = self.rng.choice(T.AUTO_ACKS).format(ref=ref)
        subject = self.rng.choice(T.AUTO_ACK_SUBJECTS).format(ref=ref, subject=question.subject)
        when = question.time + self.rng.randint(2_000, 20_000)
        ack = self._mail("outlook", "en", f"{self.cfg.tenant.capitalize()} Support", self.noreply,
                         [question.address], subject, when, [body], None, None)
        send(ack, "system", body, question, auto_reply=True)

    def _out_of_office(self, reply: _Mail, persona: _Persona, send) -> None:
        lang = persona.lang if persona.lang in T.OUT_OF_OFFICE else "en"
        until = self._date(reply.time + self.rng.randint(2, 14) * 86_400_000)
        body = self.rng.choice(T.OUT_OF_OFFICE[lang]).format(date=until)
        ooo = self._mail(persona.client, persona.quote_lang, persona.name, reply.to[0], [reply.address],
                         T.OOO_SUBJECT_PREFIX[lang] + reply.subject, reply.time + self.rng.randint(5_000, 60_000),
                         [body], None, None)
        send(ooo, "customer", body, reply, auto_reply=True)

    def _mail(self, client: str, lang: str, name: str, address: str, to: list[str], subject: str, t: int,
              blocks: list[str], sig: _Sig | None, quoting: _Mail | None) -> _Mail:
        """Render one email as its client would: plain text and HTML, quoting the previous message."""
        message_id = f"<{self._hex(20)}@{T.MESSAGE_ID_DOMAINS[client]}>"
        text = "\n\n".join(blocks)
        content = "".join(T.HTML_BLOCK[client].format(p=_esc(b).replace("\n", "<br>")) for b in blocks)
        signature = ""
        if sig is not None:
            text += self._sig_text(client, sig)
            content, signature = self._sig_html(client, sig, content)
        quote = ""
        if quoting is not None:
            header = self._quote_header(client, lang, quoting)
            if client == "outlook":
                text += f"\n\n{self.rng.choice(T.OUTLOOK_SEPARATORS)}\n{header}\n\n{quoting.text}"
            else:
                quoted = "\n".join(f"> {line}" if line else ">" for line in quoting.text.split("\n"))
                text += f"\n\n{header}\n{quoted}"
            quote = T.HTML_QUOTE[client].format(header=self._header_html(client, header, quoting.address),
                                                quoted=quoting.inner_html, mid=quoting.message_id.strip("<>"))
        html = T.HTML_DOCS[client].format(content=content, signature=signature, quote=quote)
        return _Mail(message_id, name, address, to, subject, t, text, html, f"<div>{content}{signature}{quote}</div>")

    @staticmethod
    def _sig_text(client: str, sig: _Sig) -> str:
        tail = []
        if sig.signoff:
            tail.append(sig.signoff + (f"\n{sig.typed}" if sig.typed else ""))
        if sig.lines:
            tail.append(("-- \n" if client in ("gmail", "thunderbird") else "") + "\n".join(sig.lines))
        tail += [x for x in (sig.footer, sig.disclaimer) if x]
        return "\n\n" + "\n\n".join(tail)

    @staticmethod
    def _sig_html(client: str, sig: _Sig, content: str) -> tuple[str, str]:
        """Sign-off and footer are typed into the body; the signature block and disclaimer are markup."""
        block = T.HTML_BLOCK[client]
        if sig.signoff:
            content += block.format(p=_esc(sig.signoff) + (f"<br>{_esc(sig.typed)}" if sig.typed else ""))
        if sig.footer:
            content += block.format(p=_esc(sig.footer))
        signature = T.HTML_SIGNATURE[client].format(lines="<br>".join(map(_esc, sig.lines))) if sig.lines else ""
        if sig.disclaimer:
            signature += T.HTML_DISCLAIMER.format(text=_esc(sig.disclaimer))
        return content, signature

    def _quote_header(self, client: str, lang: str, quoted: _Mail) -> str:
        fields = dict(_time_fields(quoted.time), name=quoted.name, email=quoted.address,
                      to=", ".join(quoted.to), subject=quoted.subject)
        if client == "outlook":
            return T.OUTLOOK_HEADERS["de" if lang == "de" else "en"].format(**fields)
        fmt = T.QUOTE_HEADERS[(client, "en")] if lang == "en" else T.QUOTE_HEADERS[lang]
        return fmt.format(**fields)

    @staticmethod
    def _header_html(client: str, header: str, address: str) -> str:
        if client == "outlook":
            return "<br>".join(f"<b>{_esc(label)}:</b>{_esc(rest)}" for label, rest in
                               (line.split(":", 1) for line in header.split("\n")))
        html = _esc(header)
        if client == "gmail":
            html = html.replace(f"&lt;{address}&gt;", f'&lt;<a href="mailto:{address}">{address}</a>&gt;')
        return html

    def _customer_sig(self, persona: _Persona, signed: bool) -> _Sig | None:
        if not signed:
            return None
        lines = [] if persona.mobile_footer else persona.signature_lines()
        return _Sig(persona.signoff, persona.first_name, lines, persona.mobile_footer, persona.disclaimer)

    def _agent_sig(self, agent: _Agent) -> _Sig:
        disclaimer = T.DISCLAIMERS[0] if self.rng.random() < 0.3 else None
        lines = [agent.name, f"{agent.title} | {self.cfg.tenant.capitalize()}", agent.phone]
        return _Sig(self.rng.choice(T.SIGNOFFS["en"]), agent.first_name, lines, None, disclaimer)

    @staticmethod
    def _reply_subject(subject: str, lang: str, client: str) -> str:
        prefix = T.OUTLOOK_REPLY_PREFIX if client == "outlook" and lang == "en" else T.REPLY_PREFIX[lang]
        return subject if subject.startswith(prefix) else prefix + subject

    def _email_gap(self, long: bool = False) -> int:
        return self._long_gap() if long else self.rng.randint(60_000, 1_800_000)

    def _long_gap_at(self, gaps: int) -> int | None:
        """Index of the one reply gap (of a thread's `gaps`) that takes hours or days, for
        long_reply_fraction of email/ticket threads; None for the rest."""
        if self.rng.random() < self.cfg.long_reply_fraction:
            return self.rng.randrange(gaps)
        return None

    def _long_gap(self) -> int:
        """A reply that waited: log-uniform over long_reply_gap_ms, so hours are common and days rarer."""
        low, high = self.cfg.long_reply_gap_ms
        return round(math.exp(self.rng.uniform(math.log(low), math.log(high))))

    # ---------------------------------------------------------------- composing text

    def _question(self, persona: _Persona, task: str, t: int, kind: str = CHAT) -> _Question:
        """Independent random choices per part, so two questions of one task rarely share phrasing."""
        parts = [("context", self.rng.choice(T.CONTEXT[task])), ("problem", self.rng.choice(T.PROBLEMS[task]))]
        if self.rng.random() < 0.3:
            parts.reverse()
        parts += [("detail", d) for d in self.rng.sample(T.DETAILS[task], self.rng.choice((1, 2, 2)))]
        if self.rng.random() < 0.35:
            parts.append(("urgency", self.rng.choice(T.URGENCY)))
        greeting = self.rng.choice(T.GREETINGS) if self.rng.random() < 0.85 else None
        return _Question(task, greeting, parts, self.rng.choice(T.CLOSINGS), _Slots(self, persona, t),
                         signed=self.rng.random() < SIGNED[kind])

    def _reply_parts(self, q: _Question, persona: _Persona, agent: _Agent) -> tuple[str, str, list[str], str]:
        """Greeting, self-introduction, answer sentences, closing: the answer echoes the question's details."""
        greeting = self.rng.choice(T.AGENT_GREETINGS).format(first_name=persona.first_name, name=persona.name)
        intro = self.rng.choice(T.AGENT_INTROS).format(agent_first=agent.first_name)
        return greeting, intro, self._answers(q.task, q.slots), self.rng.choice(T.AGENT_CLOSINGS)

    def _answers(self, task: str, slots: _Slots) -> list[str]:
        pool = T.ANSWERS[task]
        echo = [a for a in pool if _fields(a) and _fields(a) <= slots.keys()]
        first = self.rng.choice(echo) if echo and self.rng.random() < 0.7 else self.rng.choice(pool)
        picks = [first] + ([self.rng.choice([a for a in pool if a != first])] if self.rng.random() < 0.4 else [])
        return [a.format_map(slots) for a in picks]

    def _maybe_mojibake(self, d: _Draft) -> bool:
        """Misdecode this message's text fields as a cp1252 connector would. The message was typed with
        smart quotes (as Outlook/Word do), which is what makes most texts change; the clean text keeps them.
        A draw that lands on a text with nothing to garble is owed to the next message that has some."""
        if self.rng.random() < self.cfg.mojibake_fraction:
            self.mojibake_owed += 1
        if not self.mojibake_owed:
            return False
        names = [f for f in ("text", "body_text", "body_html") if d.record.get(f)]
        fixed = {f: d.record[f].replace("&#39;", "’").replace("'", "’") for f in names}
        broken = {f: _mojibake(v) for f, v in fixed.items()}
        if any(v is None or v == fixed[f] for f, v in broken.items()):
            return False
        d.record.update(broken)
        d.clean = d.clean.replace("'", "’")
        self.mojibake_owed -= 1
        return True

    def _delay(self) -> int:
        """True arrival delay. A deliberately late one stays late on any producer's clock; a normal one
        plus any clock skew stays below LATE_MS (SimConfig checks), far from the allowed lateness."""
        if self.rng.random() < self.cfg.late_fraction:
            return max(self.rng.randint(*self.cfg.late_delay_ms), LATE_MS + self.cfg.producer_clock_skew_ms)
        return self.rng.randint(0, self.cfg.max_delay_ms)

    def _arrive(self, event_time: int) -> tuple[int, dict]:
        """True arrival (the send order) and the timing truth of one event: its producer stamps the Kafka
        timestamp (`arrival_time`) on its own skewed clock, and delay/lateness are measured on that stamp."""
        true_arrival = event_time + self._delay()
        producer = self.rng.randrange(len(self.clock_offsets))
        skew = self.clock_offsets[producer]
        delay = true_arrival + skew - event_time
        return true_arrival, {"event_time": event_time, "arrival_time": true_arrival + skew, "delay_ms": delay,
                              "late": delay >= LATE_MS, "true_arrival_time": true_arrival, "producer": producer,
                              "clock_skew_ms": skew}

    @staticmethod
    def _truth(topic: str, timing: dict, persona: _Persona | None = None, **fields) -> dict:
        """`persona`: the customer person the event comes from (None for agent/bot/system messages)."""
        truth = {"seq": None, "topic": topic, "kind": KIND[topic], "malformed": None, "id": None,
                 "thread_id": None, "role": None, **timing, "task": None, "subject_ids": [], "pii": [],
                 "duplicate_of": None, "duplicate_kind": None, "variation": None, "auto_reply": False,
                 "mojibake": False, "expected_clean": None, "answers": None,
                 "person": persona.person_id if persona else None,
                 "person_ids": sorted(persona.ids) if persona else [],
                 "deletion_subject": None, "deletion_person": None, "deletion_person_ids": None}
        truth.update(fields)
        return truth

    # ---------------------------------------------------------------- single events

    def _feedback(self, t: int) -> _Out:
        persona = self.rng.choice(self.customers)
        task = self.rng.choice(T.TASKS)
        q = self._question(persona, task, t)
        up = self.rng.random() < 0.7
        if up:
            response = " ".join(self._answers(task, q.slots) + [self.rng.choice(T.AGENT_CLOSINGS)])
        elif self.rng.random() < 0.5:
            response = self.rng.choice(T.UNHELPFUL_RESPONSES)
        else:
            response = " ".join(self._answers(self.rng.choice([x for x in T.TASKS if x != task]), q.slots))
        comment = None
        if self.rng.random() < 0.4:
            comment = self.rng.choice(T.FEEDBACK_UP if up else T.FEEDBACK_DOWN)
        adapter = 1 + (t - self.start_ms) // self.cfg.adapter_period_ms - (self.rng.random() < 0.2)
        record = {"response_id": f"resp-{self._hex(16)}", "prompt": q.chat_text(), "response": response,
                  "adapter_version": f"adapter-{max(adapter, 1):04d}", "rating": "up" if up else "down",
                  "comment": comment, "event_time": t}
        values = sorted(persona.variants + _variants(q.slots.extra_pii()), key=lambda v: -len(v[1]))
        pii = [p for f in TEXT_FIELDS[FEEDBACK] if record[f] for p in _find_pii(f, record[f], values)]
        arrival, timing = self._arrive(t)
        truth = self._truth(FEEDBACK, timing, persona, id=record["response_id"], task=task, pii=pii)
        persona.pending += 1
        return _Out(arrival, FEEDBACK, record["response_id"].encode(), _dumps(record), truth, persona)

    def _deletion(self, t: int) -> _Out | None:
        """Forget a customer already seen, with nothing of theirs still in flight; they never return.
        The request names any one of the person's ids (not necessarily one seen in traffic), and
        sometimes lists some of the others as linked_ids."""
        candidates = [p for p in self.customers if p.seen_ids and p.pending == 0]
        if not candidates:
            return None
        persona = self.rng.choice(candidates)
        subject = self.rng.choice(persona.ids)
        persona.retired = True
        self.customers[self.customers.index(persona)] = self._persona()
        record = {"subject_id": subject, "event_time": t}
        others = [i for i in persona.ids if i != subject]
        if others and self.rng.random() < self.cfg.deletion_linked_fraction:
            record["linked_ids"] = self.rng.sample(others, self.rng.randint(1, len(others)))
        arrival, timing = self._arrive(t)
        truth = self._truth(DELETION, timing, persona, subject_ids=[subject, *record.get("linked_ids", [])],
                            deletion_subject=subject, deletion_person=persona.person_id,
                            deletion_person_ids=sorted(persona.ids))
        return _Out(arrival, DELETION, subject.encode(), _dumps(record), truth)

    def _malformed(self, t: int, kind: str | None = None) -> _Out:
        """A broken payload on a thread topic, built from a realistic customer message."""
        missing = [k for k in MALFORMED_KINDS if k not in self.malformed_seen]
        kind = kind or (missing[0] if missing else self.rng.choice(MALFORMED_KINDS))
        topic = self.rng.choices((CHAT, EMAIL, TICKET), self.cfg.topic_weights)[0]
        persona = self.rng.choice(self.customers)
        q = self._question(persona, self.rng.choice(T.TASKS), t)
        record, text_field = self._standalone(topic, persona, q, t)
        value = getattr(self, f"_{kind}")(record, topic, text_field)
        arrival, timing = self._arrive(t)
        truth = self._truth(topic, timing, persona, malformed=kind)
        persona.pending += 1
        return _Out(arrival, topic, record[THREAD_FIELD[topic]].encode(), value, truth, persona)

    def _standalone(self, topic: str, persona: _Persona, q: _Question, t: int) -> tuple[dict, str]:
        if topic == CHAT:
            return {"conversation_id": self._thread_id(CHAT), "message_id": self._message_id(CHAT),
                    "sender_role": "customer", "sender_id": persona.customer_id, "text": q.chat_text(),
                    "event_time": t, "channel": self.rng.choice(CHANNELS), "tenant": self.cfg.tenant}, "text"
        if topic == TICKET:
            return {"ticket_id": self._thread_id(TICKET), "event_id": self._message_id(TICKET),
                    "event_type": "opened", "author_role": "customer", "author_id": persona.customer_id,
                    "text": "\n\n".join(q.blocks()), "event_time": t, "product": self.rng.choice(T.PRODUCTS),
                    "tags": [q.task]}, "text"
        return {"message_id": f"<{self._hex(20)}@{T.MESSAGE_ID_DOMAINS[persona.client]}>",
                "thread_id": self._thread_id(EMAIL), "in_reply_to": None,
                "from_address": self.rng.choice(persona.emails),
                "to_addresses": [self.support], "subject": self.rng.choice(T.SUBJECTS[q.task]).format_map(q.slots),
                "body_text": "\n\n".join(q.blocks()), "body_html": None, "event_time": t,
                "tenant": self.cfg.tenant}, "body_text"

    def _invalid_json(self, record: dict, topic: str, text_field: str) -> bytes:
        s = json.dumps(record, ensure_ascii=False)
        how = self.rng.choice(("truncated", "trailing_comma", "python_repr"))
        if how == "truncated":
            s = s[:self.rng.randint(len(s) // 4, len(s) - 2)]
        elif how == "trailing_comma":
            s = s[:-1] + ",}"
        else:
            s = repr(record)
        return s.encode("utf-8")

    def _schema_mismatch(self, record: dict, topic: str, text_field: str) -> bytes:
        how = self.rng.choice(("missing", "wrong_type", "bad_enum", "extra"))
        record = dict(record)
        if how == "missing":  # a field without a default: dropping an optional one leaves a valid event
            required = {f["name"] for f in schemas.raw(catalog.by_topic(topic).schema)["fields"] if "default" not in f}
            del record[self.rng.choice([k for k in record if k in required])]
        elif how == "bad_enum" and topic == CHAT:
            record["sender_role"] = "supervisor"
        elif how == "bad_enum" and topic == TICKET:
            record["event_type"] = "reopened"
        elif how == "extra":
            record["priority"] = "high"
        else:
            record["event_time"] = datetime.fromtimestamp(record["event_time"] / 1000, tz=timezone.utc).isoformat()
        return _dumps(record)

    def _invalid_utf8(self, record: dict, topic: str, text_field: str) -> bytes:
        """The text field written as cp1252 by a misconfigured connector: é -> 0xE9, never valid UTF-8."""
        text = record[text_field] + " " + self.rng.choice(T.LATIN1_SENTENCES)
        before, after = json.dumps(dict(record, **{text_field: "\ue000"}), ensure_ascii=False).split("\ue000")
        raw = json.dumps(text, ensure_ascii=False)[1:-1].encode("cp1252", errors="replace")
        return before.encode("utf-8") + raw + after.encode("utf-8")

    def _oversized(self, record: dict, topic: str, text_field: str) -> bytes:
        """Valid JSON of exactly oversized_bytes: a customer pasting a huge log into the message."""
        record = dict(record, **{text_field: record[text_field] + "\n\nLog excerpt: "})
        need = self.cfg.oversized_bytes - len(_dumps(record))
        line = " | ".join(T.LOG_LINES) + " | "
        record[text_field] += (line * (need // len(line) + 1))[:max(need, 0)]
        return _dumps(record)

    # ---------------------------------------------------------------- people and slot values

    def _persona(self) -> _Persona:
        locale = self.rng.choices(LOCALES, LOCALE_WEIGHTS)[0]
        fk = self.fakers[locale]
        first, last = fk.first_name(), fk.last_name()
        while first.lower() in _STOPWORDS or "'" in first:
            first = fk.first_name()
        company = self.rng.choice(T.COMPANIES) if self.rng.random() < 0.55 else None
        lang = locale[:2]
        client = self.rng.choices(CLIENTS, CLIENT_WEIGHTS)[0]
        quote_lang = "ru" if self.rng.random() < 0.03 else (lang if self.rng.random() < 0.8 else "en")
        card = fk.credit_card_number(card_type=self.rng.choice(("visa16", "mastercard", "amex", "discover")))
        iban = fk.iban()
        emails = [self._unique(lambda: self._email_address(first, last, company, locale))]
        if self.rng.random() < self.cfg.second_email_fraction:  # a private address beside the work one, or two
            emails.append(self._unique(lambda: self._email_address(first, last, None, locale)))
        self.person_seq += 1
        persona = _Persona(
            person_id=f"person-{self.person_seq:06d}",
            customer_id=self._unique(lambda: f"cust-{self.rng.randrange(10**7):07d}"),
            name=f"{first} {last}", first_name=first, locale=locale, email=emails[0], emails=tuple(emails),
            phone=self._digits(self.rng.choice(T.PHONE_FORMATS[locale])),
            address=" ".join(fk.address().replace("\n", ", ").split()),
            card=self._group_digits(card), iban=" ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
            if self.rng.random() < 0.4 else iban,
            ssn=self.fakers["en_US"].ssn(), ip=fk.ipv4_public(),
            account=f"ACC-{self.rng.randrange(10**8):08d}",
            orders=tuple(f"ORD-{self._year()}-{self.rng.randrange(10**6):06d}" for _ in range(self.rng.randint(1, 3))),
            company=company, title=self.rng.choice(T.TITLES) if company else None, client=client,
            quote_lang=quote_lang,
            mobile_footer=self.rng.choice(T.MOBILE_FOOTERS[lang]) if self.rng.random() < 0.2 else None,
            disclaimer=self.rng.choice(T.DISCLAIMERS) if company and self.rng.random() < 0.5 else None,
            signoff=self.rng.choice(T.SIGNOFFS.get(lang, T.SIGNOFFS["en"])))
        persona.variants = _variants(persona.pii())
        return persona

    def _agent(self, i: int) -> _Agent:
        fk = self.fakers[self.rng.choice(("en_US", "en_GB"))]
        first, last = fk.first_name(), fk.last_name()
        while first.lower() in _STOPWORDS or "'" in first:
            first = fk.first_name()
        agent = _Agent(f"agent-{i + 1:03d}", f"{first} {last}", first,
                       self._unique(lambda: f"{_ascii(first)}.{_ascii(last)}@{self.domain}"),
                       self.support_phone, self.rng.choice(T.AGENT_TITLES),
                       "outlook" if self.rng.random() < 0.7 else "gmail")
        agent.variants = _variants(agent.pii())
        return agent

    def _email_address(self, first: str, last: str, company: str | None, locale: str) -> str:
        f, l = _ascii(first), _ascii(last)
        local = self.rng.choice((f"{f}.{l}", f"{f[0]}{l}", f"{f}_{l}{self.rng.randint(1, 99)}",
                                 f"{l}.{f}", f"{f}{self.rng.randint(60, 99)}"))
        domain = (_ascii(company.split()[0]) + self.rng.choice((".com", ".co", ".io", ".net"))) if company \
            else self.rng.choice(T.FREE_MAIL[locale])
        return f"{local}@{domain}"

    def _unique(self, make) -> str:
        value = make()
        while value in self.used_ids:
            value = make()
        self.used_ids.add(value)
        return value

    def _digits(self, pattern: str) -> str:
        """'#' -> any digit, 'N' -> 2-9, so phone formats live in text.py as patterns."""
        return "".join(str(self.rng.randint(0, 9)) if c == "#" else str(self.rng.randint(2, 9)) if c == "N" else c
                       for c in pattern)

    def _group_digits(self, number: str) -> str:
        sep = self.rng.choice((" ", "-", ""))
        sizes = (4, 6, 5) if len(number) == 15 else (4, 4, 4, 4)
        groups, i = [], 0
        for size in sizes:
            groups.append(number[i:i + size])
            i += size
        return sep.join(g for g in groups if g)

    def _year(self) -> int:
        return datetime.fromtimestamp(self.start_ms / 1000, tz=timezone.utc).year

    def _date(self, ms: int) -> str:
        f = _time_fields(ms)
        return self.rng.choice((f"{f['monfull']} {f['day']}", f"{f['day']} {f['monfull']}",
                                f"{f['year']}-{f['mo']}-{f['dd']}"))

    def slot_value(self, key: str, persona: _Persona, t: int) -> str:
        """A value for template slot `key`; persona slots return that customer's own PII."""
        if key == "order":
            return self.rng.choice(persona.orders)
        if key == "email":
            return self.rng.choice(persona.emails)
        if key in PII_SLOTS and key not in ("hostname", "api_key"):
            return getattr(persona, key)
        rng = self.rng
        cur = T.CURRENCY[persona.locale]
        org = _ascii(persona.company.split()[0]) if persona.company else self.cfg.tenant
        make = {
            "product": lambda: rng.choice(T.PRODUCTS), "plan": lambda: rng.choice(T.PLANS),
            "amount": lambda: f"{cur}{rng.randint(5, 2500)}.{rng.randrange(100):02d}",
            "amount2": lambda: f"{cur}{rng.randint(5, 2500)}.{rng.randrange(100):02d}",
            "date": lambda: self._date(t - rng.randint(1, 30) * 86_400_000),
            "error": lambda: rng.choice(T.ERROR_CODES), "device": lambda: rng.choice(T.DEVICES),
            "browser": lambda: rng.choice(T.BROWSERS), "carrier": lambda: rng.choice(T.CARRIERS),
            "tracking": lambda: f"{rng.choice(('1Z', 'JD', 'LX', 'CP'))}{rng.randrange(10**12):012d}",
            "count": lambda: str(rng.randint(2, 60)),
            "version": lambda: f"{rng.randint(3, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            "ref": lambda: f"CS-{rng.randrange(10**6):06d}", "days": lambda: str(rng.choice((3, 5, 7, 10))),
            "kb": lambda: f"KB-{rng.randint(1000, 9999)}",
            "hostname": lambda: f"{rng.choice(T.HOST_ROLES)}-{rng.randint(1, 12)}.corp.{org}.internal",
            "api_key": self._api_key,
        }
        return make[key]()

    def _api_key(self) -> str:
        prefix = self.rng.choice(T.API_KEY_PREFIXES)
        alnum = string.ascii_letters + string.digits
        if prefix == "AKIA":
            return prefix + "".join(self.rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
        if prefix == "xoxb-":
            return f"xoxb-{self.rng.randrange(10**12)}-{self.rng.randrange(10**12)}-" + \
                "".join(self.rng.choice(alnum) for _ in range(24))
        return prefix + "".join(self.rng.choice(alnum) for _ in range(36 if prefix == "ghp_" else 24))

    def _hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def _thread_id(self, topic: str) -> str:
        if topic == TICKET:
            self.ticket_seq += 1
            return f"TCK-{self.ticket_seq}"
        return f"conv-{self._hex(16)}" if topic == CHAT else f"thread-{self._hex(16)}"

    def _message_id(self, topic: str, like: str | None = None) -> str:
        """A fresh message id; for emails keeps the domain of `like` (a re-synced copy of it)."""
        if topic == EMAIL:
            return f"<{self._hex(20)}@{like.split('@', 1)[1]}"
        return f"{'msg' if topic == CHAT else 'tev'}-{self._hex(16)}"

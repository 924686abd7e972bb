"""Extract prompt/response pairs from curated threads, with a quality score and a task label.

Roles come from facts, never from position: chat `sender_role` and ticket `author_role` say who wrote
a message; an email is the agent's when it comes from the tenant's support addresses or domains
(`pairs.support_senders`), the system's when it comes from an automated sender (noreply@...), else the
customer's; for a tenant not configured, roles follow the In-Reply-To chain (see PairExtractor.roles).
One rule holds for every pair, checked in one place (PairExtractor._admissible): its prompts are
customer messages and its response is an agent's.

Per source kind:
  ticket: the customer's opening and comments since the last resolution -> the agent's resolution;
  chat:   consecutive customer turns -> the most relevant of the agent messages that follow;
  email:  the customer's mails since the last answer -> the agent's reply (so is any other kind).
Empty (filler), duplicate and auto-reply messages are never prompts or answers. Task labels come from
pipelines/tasks.py (pairs.task_method), for a thread's pairs at once. Quality in [0, 1]:
0 outside the length bounds or for a canned auto-reply, else 0.35 * substance of both sides
(a one-line "thanks" is not a question) + 0.45 * the answer's lexical relevance to the question
+ 0.2 * how much of the answer is left once placeholders are discounted.

Threads that resume: a thread key's later session (a ticket answered the next day, an email reply a
week later) is a new window. With a thread history (pipelines/history.py) the stage reads the key's
messages from windows that ended before this one, extracts over earlier + current messages in event order
(a late unit, pipelines/windowing.py, ends after the windows its messages fall between: its late answer pairs
with the question curated before it), keeps the pairs whose response is in this window (the others were
written with their own window) and those of a late question whose earlier answer answered nothing before it
came, and then records this window's messages. Threads reach this stage in (window end, key) order
(pipelines/ordering.py), and a window only ever reads windows that ended before it, so a window
re-processed after a crash, or in a replay, yields the same pairs.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from loopline import catalog
from loopline.config import PairsConfig
from loopline.store import CuratedStore
from pipelines.guard import DEAD, ThreadStage
from pipelines.history import ThreadHistory, history_dir
from pipelines.identity import identity, mark_resends
from pipelines.model import Coordinates, Event, HistoryMessage, Message, Pair, Thread, event_order
from pipelines.subjects import thread_subjects
from pipelines.tasks import TaskLabeler

_WORD = re.compile(r"[a-z0-9']+")
_PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")
_STOP = frozenset(
    """a an and are as at be been but by can could do does for from had has have hello hi how i i'm if in
is it its just me my of on or our please so that the their them then there this to was we were what when which who will
with would you your yours thanks thank regards dear team support""".split()
)


class Turn(NamedTuple):
    """A message as pairing sees it."""

    message: Message
    role: str | None  # customer | agent | bot | system; None: not known (never in a pair)
    text: str
    usable: bool
    window_end_ms: int  # the session window it belongs to
    current: bool  # in the thread being processed (not from the history)


def ref(value: str | None) -> str | None:
    """A Message-ID as the history keeps it: enough to follow In-Reply-To, nothing to read."""
    return hashlib.sha256(f"loopline-ref:{value.strip()}".encode()).hexdigest()[:32] if value else None


def author_key(e: Event) -> str:
    """Who wrote it, as the history keeps it (equality only)."""
    author = e.record[catalog.by_kind(e.kind).author]
    return ref(author.strip().casefold() if e.kind == "email" else author)


class PairExtractor:
    """Pure extraction logic, shared by the pipeline stage and tests."""

    def __init__(self, config: PairsConfig):
        self.config = config
        self.auto_reply = re.compile("|".join(config.auto_reply_patterns), re.IGNORECASE)
        self.labeler = TaskLabeler(config)
        self.support = {
            tenant.casefold(): (
                {s.casefold() for s in senders if not s.startswith("@")},
                {s[1:].casefold() for s in senders if s.startswith("@")},
            )
            for tenant, senders in config.support_senders.items()
        }
        self.automated = {s.casefold() for s in config.automated_senders}

    def text(self, e: Message) -> str:
        if isinstance(e, HistoryMessage):
            return e.text
        return e.text if e.text is not None else (e.record.get("text") or e.record.get("body_text") or "")

    def usable(self, e: Message) -> bool:
        if isinstance(e, HistoryMessage):
            return e.usable
        text = self.text(e)
        return bool(text.strip()) and e.duplicate_of is None and not self.auto_reply.search(text)

    # --- roles -------------------------------------------------------------------------------------

    def declared_role(self, e: Message) -> str | None:
        """The role a message states by itself: its source's role field (loopline/catalog.py), or for email its
        sender's address. A source with neither states none."""
        if isinstance(e, HistoryMessage):
            return e.role
        r, source = e.record, catalog.by_kind(e.kind)
        if source.role is not None:
            role = r[source.role]
            return role if role in source.roles else None
        if e.kind != "email":
            return None
        address = r["from_address"].strip().casefold()
        local, _, domain = address.rpartition("@")
        if local.split("+", 1)[0] in self.automated:
            return "system"
        senders = self.support.get((r.get("tenant") or "").casefold())
        if senders is None:
            return None  # not configured: the In-Reply-To chain decides (roles())
        addresses, domains = senders
        return "agent" if address in addresses or domain in domains else "customer"

    def roles(self, messages: list[Message]) -> list[str | None]:
        """Each message's role, in the context of its thread (earlier windows included). Email of a tenant
        not configured follows the In-Reply-To chain: a sender keeps one role per thread; a mail that starts
        the thread is the customer's; a reply addressed to the author of the mail it answers is from the
        other side (to a customer: the agent's; to an agent or an automated mail: the customer's); a reply
        sent to that mail's own recipients comes from its author's side (a second address, a colleague).
        What cannot be placed stays None and is in no pair."""
        roles = [self.declared_role(m) for m in messages]
        if all(r is not None for r in roles) or messages[0].kind != "email":
            return roles
        mails = [_mail_refs(m) for m in messages]
        by_ref = {mail.own: i for i, mail in enumerate(mails) if mail.own}
        known: dict[str, str] = {}
        for mail, role in zip(mails, roles):
            if role in ("customer", "agent"):
                known.setdefault(mail.author, role)
        changed = True
        while changed:
            changed = False
            for i, mail in enumerate(mails):
                if roles[i] is not None:
                    continue
                role = known.get(mail.author)
                if role is None and mail.reply_to is None:
                    role = "customer"
                elif role is None and (parent := by_ref.get(mail.reply_to)) is not None and roles[parent] is not None:
                    if mails[parent].author in mail.recipients or not set(mails[parent].recipients) & set(mail.recipients):
                        role = "agent" if roles[parent] == "customer" else "customer"
                    elif roles[parent] in ("customer", "agent"):
                        role = roles[parent]
                if role is not None:
                    roles[i] = role
                    known.setdefault(mail.author, role)
                    changed = True
        return roles

    # --- extraction --------------------------------------------------------------------------------

    def turns(self, thread: Thread, earlier: list[HistoryMessage] = ()) -> list[Turn]:
        """The thread's messages and the key's messages from earlier windows, in event order, each with its role.
        Event order, not window order: a late unit's messages (pipelines/windowing.py) fall between those of
        earlier windows, so a late answer follows the question it answers."""
        current = [e for e in thread.events if e.kind in catalog.conversation_kinds()]
        if not current:
            return []
        messages: list[Message] = sorted([m for m in earlier if m.kind == current[0].kind] + current, key=event_order)
        roles = self.roles(messages)
        return [Turn(m, role, self.text(m), self.usable(m), *_window_of(m, thread)) for m, role in zip(messages, roles)]

    def extract(self, thread: Thread, earlier: list[HistoryMessage] = ()) -> list[Pair]:
        """Pairs whose response is in `thread`, prompts possibly from `earlier` windows of its key; and pairs
        whose prompt is in `thread` (a late question) and whose response, from an earlier window, answered
        nothing there."""
        return self.pairs(self.turns(thread, earlier))

    def pairs(self, turns: list[Turn]) -> list[Pair]:
        if not turns:
            return []
        raw = self._raw(turns)
        # only a late unit's question can precede an earlier window's answer: only then re-extract the history
        late_question = any(not r.current and any(p.current for p in prompts) for prompts, r in raw)
        earlier = [t for t in turns if not t.current] if late_question else []
        answered_before = {id(response.message) for _, response in self._raw(earlier)} if earlier else set()
        admitted = [
            (prompts, response)
            for prompts, response in raw
            if (response.current or (any(p.current for p in prompts) and id(response.message) not in answered_before))
            and self._admissible(prompts, response)
        ]
        # one labeler call for the thread's pairs: with embeddings, one batch for the model
        tasks = self.labeler.label(
            [_prompt_text(prompts) for prompts, _ in admitted],
            [r.text for _, r in admitted],
            [earlier_requests(turns, prompts[0].message) for prompts, _ in admitted],
        )
        return [self._scored(prompts, response, task) for (prompts, response), task in zip(admitted, tasks)]

    def _raw(self, turns: list[Turn]) -> list[tuple[tuple[Turn, ...], Turn]]:
        """(prompts, response) candidates of the thread's kind, before the admission check."""
        return {"ticket": self._ticket, "chat": self._chat}.get(turns[0].message.kind, self._replies)(turns)

    @staticmethod
    def _admissible(prompts: tuple[Turn, ...], response: Turn) -> bool:
        """THE invariant, the one place it is enforced: only customer messages ask, only an agent answers,
        and neither side is empty, a duplicate or an auto-reply."""
        return (
            bool(prompts)
            and all(p.role == "customer" and p.usable for p in prompts)
            and response.role == "agent"
            and response.usable
        )

    def _ticket(self, turns: list[Turn]):
        """Each agent resolution answers the customer's opening and comments since the previous one."""
        return self._answered(turns, lambda t: _event_type(t.message) == "resolved")

    def _chat(self, turns: list[Turn]):
        """Consecutive customer turns, answered by the best of the agent messages until the next customer
        turn. A window's end closes its answers (that pair was written with it); customer turns still
        unanswered at its end carry over into the next window."""
        pairs, prompts, answers = [], [], []
        for i, t in enumerate(turns + [None]):
            boundary = t is None or (i > 0 and t.window_end_ms != turns[i - 1].window_end_ms)
            if (t is None or t.role == "customer" or boundary) and answers:
                if prompts:
                    pairs.append((tuple(prompts), self._best_answer(prompts, answers)))
                prompts, answers = [], []
            if t is None:
                break
            if t.role == "customer":
                answers = []
                if t.usable:
                    prompts.append(t)
            elif t.role == "agent" and t.usable:
                answers.append(t)
        return pairs

    def _replies(self, turns: list[Turn]):
        """Email, and any other kind: the customer's usable messages since the last answer -> the agent's next
        usable one."""
        return self._answered(turns, lambda t: True)

    @staticmethod
    def _answered(turns: list[Turn], answers) -> list:
        """The customer's usable turns since the last answer -> the next usable agent turn that `answers`."""
        pairs, prompts = [], []
        for t in turns:
            if not t.usable:
                continue
            if t.role == "customer":
                prompts.append(t)
            elif t.role == "agent" and answers(t) and prompts:
                pairs.append((tuple(prompts), t))
                prompts = []
        return pairs

    def _best_answer(self, prompts: list[Turn], answers: list[Turn]) -> Turn:
        """Of the agent messages after a question, the one that looks most like the answer: relevant
        to it, and substantive (an introduction or a wrap-up is shorter than the answer itself)."""
        return max(answers, key=lambda a: self._relevance(prompts, a) + min(len(a.text.split()), 60) / 60)

    def _relevance(self, prompts, answer: Turn) -> float:
        q = _content_words(" ".join(p.text for p in prompts))
        a = _content_words(answer.text)
        return len(q & a) / len(q) if q and a else 0.0

    def _scored(self, prompts: tuple[Turn, ...], response: Turn, task: str) -> Pair:
        prompt_text = _prompt_text(prompts)
        answer_text = response.text
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
        return Pair(tuple(p.message for p in prompts), response.message, quality, task)

    # --- history -----------------------------------------------------------------------------------

    def history_messages(self, thread: Thread, turns: list[Turn], subjects: list[str]) -> list[HistoryMessage]:
        """This window's messages as the history keeps them (`subjects`: hashes of everyone in the thread)."""
        out = []
        for t in turns:
            if not t.current:
                continue
            e: Event = t.message
            email = e.kind == "email"
            out.append(
                HistoryMessage(
                    key=thread.key,
                    source=Coordinates(e.source.topic, e.source.partition, e.source.offset),
                    window_end_ms=thread.end_ms,
                    event_time_ms=e.event_time_ms,
                    kind=e.kind,
                    role=t.role,
                    author=author_key(e),
                    text=t.text,
                    usable=t.usable,
                    event_type=_event_type(e),
                    message_ref=ref(e.record["message_id"]) if email else None,
                    reply_to_ref=ref(e.record["in_reply_to"]) if email else None,
                    recipients=_recipients(e) if email else (),
                    pii_counts=tuple(e.pii_counts),
                    subjects=tuple(subjects),
                    identity=identity(e),
                )
            )
        return out


class _MailRefs(NamedTuple):
    author: str
    own: str | None
    reply_to: str | None
    recipients: tuple[str, ...]


def _mail_refs(m: Message) -> _MailRefs:
    if isinstance(m, HistoryMessage):
        return _MailRefs(m.author, m.message_ref, m.reply_to_ref, m.recipients)
    r = m.record
    return _MailRefs(author_key(m), ref(r["message_id"]), ref(r["in_reply_to"]), _recipients(m))


def _recipients(e: Event) -> tuple[str, ...]:
    return tuple(sorted({ref(a.strip().casefold()) for a in e.record["to_addresses"]}))


def _window_of(m: Message, thread: Thread) -> tuple[int, bool]:
    """(window end, in the thread being processed): an Event is the thread's, a HistoryMessage an earlier window's."""
    return (m.window_end_ms, False) if isinstance(m, HistoryMessage) else (thread.end_ms, True)


def _event_type(m: Message) -> str | None:
    if isinstance(m, HistoryMessage):
        return m.event_type
    return m.record["event_type"] if m.kind == "ticket" else None


def _prompt_text(prompts: tuple[Turn, ...]) -> str:
    return "\n\n".join(p.text for p in prompts)


def earlier_requests(turns: list[Turn], first_prompt: Message) -> str:
    """The customer's usable messages of the thread before a pair's first prompt: what a follow-up is about."""
    earlier = []
    for turn in turns:
        if turn.message is first_prompt:
            break
        if turn.role == "customer" and turn.usable:
            earlier.append(turn.text)
    return "\n\n".join(earlier)


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(_PLACEHOLDER.sub(" ", text.lower())) if w not in _STOP and len(w) > 2}


class _ExtractPairs(ThreadStage):
    stage = "pairs"

    def __init__(self, config: PairsConfig, dataset_dir: str | None):
        self.config, self.dataset_dir = config, dataset_dir

    def setup(self):
        self._extractor = PairExtractor(self.config)
        self._history = None
        if self.dataset_dir is not None:
            dataset = Path(self.dataset_dir)
            self._history = ThreadHistory(history_dir(dataset))
            if dataset.parent.name == "datasets" and (store := CuratedStore(dataset.parent.parent, dataset.name)).exists():
                # a replay starts with the live dataset's forgotten subjects (loopline replay): keep them out of
                # its history too; deletions during the run reach it through pipelines/sink.py
                self._history.forget_many(store.forgotten())

    def teardown(self):
        if self._history is not None:
            self._history.close()

    def handle(self, thread: Thread):
        earlier = []
        if self._history is not None:
            earlier = self._history.earlier(
                thread.key, thread.end_ms, exclude=[(e.source.topic, e.source.partition, e.source.offset) for e in thread.events]
            )
        thread = mark_resends(thread, earlier)  # a copy of a message of an earlier window is no message
        turns = self._extractor.turns(thread, earlier)
        extracted = self._extractor.pairs(turns)
        kept = [p for p in extracted if p.quality >= self.config.min_quality]
        if self._history is not None and turns:
            # everyone in the thread so far: forgetting any of them removes all of its rows, later windows' too
            subjects = sorted(set(thread_subjects(thread)).union(*(m.subjects for m in earlier)))
            self._history.record(self._extractor.history_messages(thread, turns, subjects))
        for p in extracted:
            Metrics.counter("loopline", f"pairs.quality.{min(9, int(p.quality * 10)) / 10:.1f}").inc()
        for p in kept:
            Metrics.counter("loopline", f"pairs.task.{p.task}").inc()
            if any(isinstance(m, HistoryMessage) for m in p.prompts):
                Metrics.counter("loopline", "pairs.across_windows").inc()
        Metrics.counter("loopline", "pairs.below_min_quality").inc(len(extracted) - len(kept))
        yield thread._replace(pairs=tuple(kept))


class ExtractPairs(beam.PTransform):
    """Threads -> Threads carrying their prompt/response pairs (main "threads"), dead letters (DEAD).

    `dataset_dir` (CuratedStore(root, dataset).path): keep the dataset's thread history there, so a
    thread that resumes in a later window pairs across windows. None: each window on its own."""

    def __init__(self, config: PairsConfig, dataset_dir: str | None = None):
        super().__init__()
        self.config, self.dataset_dir = config, None if dataset_dir is None else str(dataset_dir)

    def expand(self, threads):
        return threads | "Extract" >> beam.ParDo(_ExtractPairs(self.config, self.dataset_dir)).with_outputs(DEAD, main="threads")

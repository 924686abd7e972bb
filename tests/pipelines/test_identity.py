"""Event identity: a re-sent event (same kind and id, new Kafka offset) is stored once, whatever its kind or length."""

from __future__ import annotations

import json

import pytest

from loopline import catalog
from loopline.store import CuratedStore
from pipelines.identity import RESEND, identities, identity, mark_resends
from pipelines.model import Event, KafkaRecord, Thread, record_id
from pipelines.records import _ToUnit
from tests.pipelines.test_pairs import Stage, _ticket
from tests.samples import SAMPLES

T0 = 1_793_600_000_000
MINUTE = 60_000


def _event(kind: str, offset: int, minute: int = 0, **fields) -> Event:
    source = catalog.by_kind(kind)
    record = {**SAMPLES[source.schema], "event_time": T0 + minute * MINUTE, **fields}
    raw = KafkaRecord(source.topic, 0, offset, T0 + minute * MINUTE + 5, None, json.dumps(record).encode())
    return Event(kind, f"{kind}:{record[source.key]}", T0 + minute * MINUTE, record, raw)


def _chat(offset: int, message_id: str, text: str, minute: int = 0, role: str = "customer") -> Event:
    return _event("chat", offset, minute, message_id=message_id, text=text, sender_role=role)


def _unit(*events: Event):
    thread = mark_resends(Thread(events[0].thread, T0, T0 + 30 * MINUTE, tuple(events)))
    [unit] = _ToUnit("0.1.0").handle(thread)
    return unit


@pytest.fixture
def store(tmp_path) -> CuratedStore:
    s = CuratedStore(tmp_path)
    s.create({})
    return s


def test_every_stored_kind_has_an_identity_from_its_event_id_hashed_never_raw():
    for kind, value in (("chat", "msg-1"), ("email", "<x1@mail.example>"), ("ticket", "ev-1"), ("feedback", "resp-1")):
        field = catalog.by_kind(kind).event_id
        first, again = _event(kind, 1, **{field: value}), _event(kind, 900, minute=3, **{field: value})
        assert identity(first) == identity(again)  # a new offset and arrival: the same event
        assert identity(first) != identity(_event(kind, 1, **{field: value + "x"}))
        assert value not in identity(first) and len(identity(first)) == 64
    chat, ticket = _event("chat", 1, message_id="same"), _event("ticket", 1, event_id="same")
    assert identity(chat) != identity(ticket)  # ids of different kinds never collide
    assert {s.kind for s in catalog.SOURCES if s.kind != "deletion"} == {"chat", "email", "ticket", "feedback"}
    assert identity(_event("deletion", 1, subject_id="cust-1")) is None  # a person's id: never kept


def test_a_second_copy_in_a_thread_is_marked_a_resend_of_the_first_whatever_its_length():
    question = _chat(10, "m-1", "Where is my order?")  # 4 words: dedup never checks it
    copy = _chat(14, "m-1", "Where is my order?")
    answer = _chat(15, "m-2", "It ships tomorrow.", minute=1, role="agent")
    marked = mark_resends(Thread("chat:c-1", T0, T0 + MINUTE, (question, copy, answer)))
    assert [(e.duplicate_of, e.duplicate_kind) for e in marked.events] == [
        (None, None),
        (record_id([question]), RESEND),
        (None, None),
    ]
    assert identities(marked) == tuple((identity(e), ("events.chat", 0, o)) for e, o in zip(marked.events, (10, 14, 15)))


def test_a_resent_feedback_event_yields_one_example_in_one_window_and_across_windows(store):
    rating = {"response_id": "resp-7"}
    both = _unit(_event("feedback", 3, **rating), _event("feedback", 9, **rating))
    assert [e["lineage"][0]["offset"] for e in both.records["FeedbackExample"]] == [3]
    assert store.commit([both]).events_resent == 1
    later = _unit(_event("feedback", 40, minute=2, **rating))  # the producer retried after the window closed
    assert later.records["FeedbackExample"]  # the window alone can't know: the store does
    result = store.commit([later])
    assert (result.units_committed, result.events_resent, result.records_written["FeedbackExample"]) == (1, 1, 0)
    assert [r["lineage"][0]["offset"] for r in store.read("FeedbackExample")] == [3]
    assert store.is_accounted("events.feedback", 0, 40)  # accounted, not dead-lettered


def test_the_store_keeps_identities_across_restarts_and_drops_every_record_a_resend_went_into(store, tmp_path):
    question, answer = _chat(10, "m-1", "Where is my order?"), _chat(11, "m-2", "It ships tomorrow.", 1, "agent")
    store.commit([_unit(question, answer)])
    reopened = CuratedStore(tmp_path)  # a restarted run, a second runner: the manifest is the memory
    again = _chat(30, "m-1", "Where is my order?", minute=5)  # re-sent into a later window, beside a new event
    new = _chat(31, "m-3", "Thanks, and the other parcel?", minute=6)
    reply = _chat(32, "m-4", "That one too.", minute=7, role="agent")
    unit = _unit(again, new, reply)
    resent_offset = {"topic": "events.chat", "partition": 0, "offset": 30}
    pair = {**SAMPLES["CuratedPair"], "pair_id": "p-resent", "lineage": [resent_offset]}
    unit.records["CuratedPair"] = [pair]  # anything built from the re-send goes with it
    result = reopened.commit([unit])
    assert (result.events_resent, result.records_written["CuratedPair"], result.records_written["CuratedDocument"]) == (1, 0, 2)
    docs = sorted(d["lineage"][0]["offset"] for d in reopened.read("CuratedDocument"))
    assert docs == [10, 11, 31, 32]
    assert reopened.commit([unit]).units_skipped == 1  # a re-delivered unit is skipped, not counted again
    info = next(d for d in CuratedStore.list_datasets(tmp_path) if d["name"] == store.dataset)
    assert info["resent"] == 1


def test_copies_within_one_commit_collapse_to_the_first(store):
    first = _unit(_event("ticket", 5, event_id="ev-1", text="Login fails"))
    second = _unit(_event("ticket", 8, minute=1, event_id="ev-1", text="Login fails"))
    result = store.commit([first, second])
    assert (result.units_committed, result.events_resent, result.records_written["CuratedDocument"]) == (2, 1, 1)
    assert [d["lineage"][0]["offset"] for d in store.read("CuratedDocument")] == [5]


def test_forgetting_a_subject_leaves_its_event_ids_nowhere_on_disk_and_keeps_its_resends_out(store, tmp_path):
    event = _event("email", 2, message_id="<secret-7@mail.example>", from_address="ann@example.com", body_text="Hi")
    unit = _unit(event)
    store.commit([unit])
    for s in unit.records["CuratedDocument"][0]["subject_hashes"]:
        store.forget(s)
    assert store.commit([_unit(event._replace(source=event.source._replace(offset=9)))]).events_resent == 1
    assert list(store.read("CuratedDocument")) == []
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"secret-7" not in on_disk and b"ann@example.com" not in on_disk


def test_a_copy_of_a_message_of_an_earlier_window_is_marked_and_the_answer_pairs_with_the_first_copy(tmp_path):
    """A connector restart re-sends a ticket's opening (under 20 words: no dedup) after its window closed,
    beside the agent's answer: the answer pairs with the opening the history holds, never with the copy
    (a pair the store would drop)."""
    stage = Stage(tmp_path)
    t0 = T0 - 120 * MINUTE
    opening = _ticket(10, t0, "opened", "customer", "cust-1", "I cannot log in to the portal, it says my password is wrong.")
    [before] = stage.stage.handle(Thread("ticket:T-1", t0, t0 + 40 * MINUTE, (opening,)))
    assert before.pairs == ()
    copy = opening._replace(source=opening.source._replace(offset=50))
    answer = _ticket(
        51,
        T0,
        "resolved",
        "agent",
        "agent-7",
        "I reset the password of your portal account, so you can log in again with the one we emailed.",
    )
    [after] = stage.stage.handle(Thread("ticket:T-1", t0, T0 + 40 * MINUTE, (copy, answer)))
    stage.close()
    assert [(e.duplicate_of, e.duplicate_kind) for e in after.events] == [(record_id([opening]), RESEND), (None, None)]
    [pair] = after.pairs
    assert ([m.source.offset for m in pair.prompts], pair.response.source.offset) == ([10], 51)

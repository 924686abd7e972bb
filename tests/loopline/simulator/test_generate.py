"""The traffic generator's output is deterministic, schema-valid where it should be, and its ground truth is exact."""

from __future__ import annotations

import html
import itertools
import json
import random
import re
from collections import Counter, defaultdict

import pytest

from loopline import catalog, schemas
from loopline.simulator.conversations import GENERATORS
from loopline.simulator.generate import SimConfig, generate
from loopline.simulator.stream import TrafficStream

START = 1_767_600_000_000  # 2026-01-05T08:00:00Z
TRUTH_KEYS = {
    "seq",
    "topic",
    "kind",
    "malformed",
    "id",
    "thread_id",
    "role",
    "event_time",
    "arrival_time",
    "delay_ms",
    "late",
    "true_arrival_time",
    "producer",
    "clock_skew_ms",
    "task",
    "subject_ids",
    "pii",
    "duplicate_of",
    "duplicate_kind",
    "variation",
    "auto_reply",
    "mojibake",
    "expected_clean",
    "answers",
    "person",
    "person_ids",
    "deletion_subject",
    "deletion_person",
    "deletion_person_ids",
}
HOUR, SESSION_GAP = 3_600_000, 2_400_000  # the pipeline's default window.session_gap_s is 2400
MALFORMED = {"invalid_json", "schema_mismatch", "invalid_utf8", "oversized"}
TEXT_FIELDS = {
    "events.chat": ["text"],
    "events.ticket": ["text"],
    "events.email": ["subject", "body_text", "body_html"],
    "events.feedback": ["prompt", "response", "comment"],
}
# Structured PII any careful reader would flag; every match must lie inside a listed span.
PII_PATTERNS = [
    re.compile(r"(?<!mid:)(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # email (not a cite="mid:...")
    re.compile(r"(?<![\w-])(?:\d[ -]?){13,18}\d(?![\w-])"),  # card-like digit runs
    re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b"),  # IBAN
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),  # SSN
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"),  # IPv4
    re.compile(r"\b(?:ORD-\d{4}-\d{6}|ACC-\d{8})\b", re.I),
    re.compile(r"\b[\w-]+\.corp\.[\w-]+\.internal\b", re.I),
    re.compile(r"\b(?:sk_live_\w+|AKIA[A-Z2-7]{16}|ghp_\w+|xoxb-[\w-]+)", re.I),
]


@pytest.fixture(scope="module")
def events():
    return list(generate(1, 10_000, START))


@pytest.fixture(scope="module")
def records(events):
    """seq -> decoded record, for every well-formed event."""
    return {e.truth["seq"]: json.loads(e.value) for e in events if not e.truth["malformed"]}


def _shingles(text: str) -> set:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 5]) for i in range(max(len(words) - 4, 1))}


def _jaccard(a: str, b: str) -> float:
    x, y = _shingles(a), _shingles(b)
    return len(x & y) / len(x | y)


def _covered(spans, start: int, end: int) -> bool:
    return any(p["start"] <= start and end <= p["end"] for p in spans)


def _occurrences(text: str, value: str):
    """Case-insensitive, whole-token occurrences of value in text."""
    low, v = text.lower(), value.lower()
    i = low.find(v)
    while i != -1:
        j = i + len(v)
        glued_left = i > 0 and low[i - 1].isalnum() and v[0].isalnum()
        glued_right = j < len(low) and low[j].isalnum() and v[-1].isalnum()
        if not glued_left and not glued_right:
            yield i, j
        i = low.find(v, i + 1)


# --------------------------------------------------------------------------- stream shape


def test_same_seed_gives_identical_bytes_and_truth():
    def run(seed):
        return [(e.topic, e.key, e.value, json.dumps(e.truth, sort_keys=True)) for e in generate(seed, 1500, START)]

    first = run(5)
    assert first == run(5)
    assert first != run(6)


@pytest.mark.parametrize("count", [0, 1, 7, 60, 999, 1000, 2345])
def test_exactly_count_events_numbered_in_send_order(count):
    events = list(generate(3, count, START))
    assert len(events) == count
    assert [e.truth["seq"] for e in events] == list(range(count))


def test_generation_streams_instead_of_building_everything():
    """Asking for a billion events and taking 200 must return at once: memory is O(threads in flight)."""
    first = list(itertools.islice(generate(2, 10**9, START), 200))
    assert len(first) == 200


def test_send_order_is_true_arrival_order_and_times_are_consistent(events):
    cfg = SimConfig()
    arrivals = [e.truth["true_arrival_time"] for e in events]
    assert arrivals == sorted(arrivals)
    offsets = defaultdict(set)
    for e in events:
        t = e.truth
        assert set(t) == TRUTH_KEYS
        # arrival_time is the Kafka timestamp the producer sets: true arrival on its skewed clock
        assert t["arrival_time"] == t["true_arrival_time"] + t["clock_skew_ms"]
        assert t["delay_ms"] == t["arrival_time"] - t["event_time"]
        assert t["true_arrival_time"] >= t["event_time"]
        assert -cfg.producer_clock_skew_ms <= t["clock_skew_ms"] < cfg.producer_clock_skew_ms
        assert t["late"] == (t["delay_ms"] >= 120_000)
        # only the deliberately late are late; skew never pushes a normal event anywhere near the lateness
        assert t["late"] == (t["true_arrival_time"] - t["event_time"] > cfg.max_delay_ms)
        if not t["late"]:
            assert t["delay_ms"] < 60_000
        offsets[t["producer"]].add(t["clock_skew_ms"])
        assert json.loads(json.dumps(t)) == t
    assert len(offsets) == cfg.producers and all(len(o) == 1 for o in offsets.values())
    late = sum(e.truth["late"] for e in events)
    assert 0.01 * len(events) < late < 0.04 * len(events)
    assert any(e.truth["delay_ms"] < 0 for e in events), "a producer's clock behind the source's"
    assert min(e.truth["event_time"] for e in events) >= START


def test_kafka_timestamps_go_backwards_within_a_topic_by_less_than_the_skew(events):
    """Several producers with skewed clocks: CreateTime is not monotonic in send order, but never
    falls behind the latest one by 2 * producer_clock_skew_ms (the pipeline tolerates 60 s)."""
    bound = 2 * SimConfig().producer_clock_skew_ms
    assert bound <= 60_000
    for topic in ("events.chat", "events.email", "events.ticket"):
        latest, regressions = None, []
        for e in events:
            if e.topic != topic:
                continue
            ts = e.truth["arrival_time"]
            if latest is not None and ts < latest:
                regressions.append(latest - ts)
            latest = ts if latest is None else max(latest, ts)
        assert len(regressions) > 50, topic
        assert max(regressions) > 10_000, topic
        assert max(regressions) < bound, topic


def test_late_messages_really_arrive_out_of_order_within_threads(events):
    by_thread = defaultdict(list)
    for e in events:
        if e.truth["thread_id"]:
            by_thread[e.truth["thread_id"]].append(e.truth["event_time"])
    out_of_order = sum(times != sorted(times) for times in by_thread.values())
    assert out_of_order > 20


def _thread_gaps(events) -> dict[tuple[str, str], list[tuple[int, dict]]]:
    """(kind, thread id) -> [(gap before this message, its truth)] in event-time order, first gap 0."""
    by_thread = defaultdict(list)
    for e in events:
        if e.truth["thread_id"]:
            by_thread[(e.truth["kind"], e.truth["thread_id"])].append(e.truth)
    out = {}
    for key, truths in by_thread.items():
        truths.sort(key=lambda t: t["event_time"])
        out[key] = [(b["event_time"] - a["event_time"] if a else 0, b) for a, b in zip([None] + truths, truths)]
    return out


def test_some_replies_take_hours_or_days_so_threads_span_sessions(events):
    gaps = _thread_gaps(events)
    longest = {key: max(g for g, _ in msgs) for key, msgs in gaps.items()}
    for kind in ("email", "ticket"):
        of_kind = [g for (k, _), g in longest.items() if k == kind]
        slow = sum(g > HOUR for g in of_kind) / len(of_kind)
        assert 0.10 <= slow <= 0.20, (kind, slow)
    chats = [g for (k, _), g in longest.items() if k == "chat"]
    assert 5 <= sum(g > HOUR for g in chats) < 0.08 * len(chats), "a few chats resume hours later"
    # the rest stay short: a gap is either a normal one (<= 30 min) or a long one (> 1 h)
    assert not [g for g in longest.values() if 1_800_000 < g <= HOUR]
    assert sum(g >= SESSION_GAP for g in longest.values()) > 150, "threads spanning several sessions"
    assert sum(g > 24 * HOUR for g in longest.values()) > 20, "some replies take days"
    assert max(longest.values()) <= SimConfig().long_reply_gap_ms[1]
    # after a long wait comes a person's reply, never an automatic message
    for msgs in gaps.values():
        for g, t in msgs:
            if g > HOUR:
                assert t["role"] in ("customer", "agent") and not t["auto_reply"], t


def test_long_tails_keep_exactly_count_events():
    """The heap holds the replies days ahead; the stream still ends after exactly `count` events."""
    cfg = SimConfig(long_reply_fraction=1.0, chat_resume_fraction=1.0)
    events = list(generate(9, 3000, START, cfg))
    assert [e.truth["seq"] for e in events] == list(range(3000))
    arrivals = [e.truth["true_arrival_time"] for e in events]
    assert arrivals == sorted(arrivals)
    longest = [max(g for g, _ in msgs) for msgs in _thread_gaps(events).values() if len(msgs) > 1]
    assert sum(g > HOUR for g in longest) > 0.8 * len(longest)


def test_topic_mix(events):
    topics = Counter(e.topic for e in events)
    assert set(topics) == {"events.chat", "events.email", "events.ticket", "events.feedback", "events.deletion"}
    assert 0.02 < topics["events.feedback"] / len(events) < 0.045
    assert 5 <= topics["events.deletion"] <= 40


# --------------------------------------------------------------------------- payloads


def test_well_formed_values_validate_and_match_their_truth(events, records):
    for e in events:
        t = e.truth
        if t["malformed"]:
            continue
        record = records[t["seq"]]
        schemas.validate(catalog.by_topic(e.topic).schema, record)
        assert record["event_time"] == t["event_time"]
        if e.topic in ("events.chat", "events.email", "events.ticket"):
            assert t["id"] == record["message_id" if e.topic != "events.ticket" else "event_id"]
            assert e.key.decode() == t["thread_id"]
        if e.topic == "events.email":
            assert record["body_text"] or record["body_html"]


def test_malformed_values_never_decode_and_validate(events):
    kinds = Counter()
    for e in events:
        kind = e.truth["malformed"]
        if not kind:
            continue
        kinds[kind] += 1
        assert e.topic in ("events.chat", "events.email", "events.ticket") and e.truth["id"] is None
        if kind == "oversized":
            assert len(e.value) == SimConfig().oversized_bytes
            assert schemas.is_valid(catalog.by_topic(e.topic).schema, json.loads(e.value))  # only its size is wrong
            continue
        assert not _decodes_and_validates(e.topic, e.value), kind
        if kind == "invalid_utf8":
            with pytest.raises(UnicodeDecodeError):
                e.value.decode("utf-8")
    assert set(kinds) == MALFORMED
    assert 0.006 < sum(kinds.values()) / len(events) < 0.015


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_malformed_kind_occurs_from_1000_events(seed):
    kinds = {e.truth["malformed"] for e in generate(seed, 1000, START)}
    assert kinds >= MALFORMED


def _decodes_and_validates(topic: str, value: bytes) -> bool:
    try:
        record = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(record, dict) and schemas.is_valid(catalog.by_topic(topic).schema, record)


# --------------------------------------------------------------------------- PII


def test_pii_spans_are_exact(events, records):
    types = Counter()
    for e in events:
        for p in e.truth["pii"]:
            assert records[e.truth["seq"]][p["field"]][p["start"] : p["end"]] == p["value"]
            types[p["type"]] += 1
    assert set(types) == {
        "PERSON",
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_SSN",
        "IP_ADDRESS",
        "STREET_ADDRESS",
        "ACCOUNT_NUMBER",
        "ORDER_NUMBER",
        "HOSTNAME",
        "API_KEY",
    }


def _text_fields(events, records):
    """(event, field name, field text, truth spans in it) for every text field of every valid event."""
    for e in events:
        if e.truth["malformed"] or e.topic == "events.deletion":
            continue
        record = records[e.truth["seq"]]
        for f in TEXT_FIELDS[e.topic]:
            yield e, f, record[f] or "", [p for p in e.truth["pii"] if p["field"] == f]


def test_pii_looking_strings_are_all_listed(events, records):
    for e, f, text, spans in _text_fields(events, records):
        for pattern in PII_PATTERNS:
            for m in pattern.finditer(text):
                assert _covered(spans, m.start(), m.end()), (e.truth["seq"], f, m.group())


def test_a_value_listed_in_a_thread_is_listed_wherever_it_recurs_there(events, records):
    """Quoted replies and HTML repeat earlier messages: their PII must be listed there too."""
    values = defaultdict(set)
    for e in events:
        for p in e.truth["pii"]:
            values[e.truth["thread_id"] or e.truth["seq"]].add(p["value"])
    for e, f, text, spans in _text_fields(events, records):
        for value in values[e.truth["thread_id"] or e.truth["seq"]]:
            for i, j in _occurrences(text, value):
                assert _covered(spans, i, j), (e.truth["seq"], f, value)


def _wire_forms(value: str, mojibake: bool) -> set[str]:
    """How a value can be written on the wire: as typed, HTML-escaped, smart-quoted, misdecoded as cp1252."""
    forms = {value, html.escape(value).replace("&#x27;", "&#39;"), value.replace("'", "’")}
    if mojibake:
        forms |= {f.encode("utf-8").decode("cp1252", errors="ignore") for f in forms}
    return forms


def test_every_customer_pii_value_in_a_thread_is_listed(events, records):
    """Independent of the generator's own search: look for each persona value, in each of its wire forms,
    in each field."""
    pool = TrafficStream(1, START, SimConfig()).people.customers
    by_subject = {s: p for p in pool for s in p.ids}
    customer_of = {}
    for e in events:
        for s in e.truth["subject_ids"]:
            if s in by_subject and e.truth["thread_id"]:
                customer_of[e.truth["thread_id"]] = by_subject[s]
    checked = 0
    for e in events:
        persona = customer_of.get(e.truth["thread_id"])
        if persona is None or e.truth["malformed"]:
            continue
        record = records[e.truth["seq"]]
        for f in TEXT_FIELDS[e.topic]:
            spans = [p for p in e.truth["pii"] if p["field"] == f]
            for _, value in persona.pii():
                for form in _wire_forms(value, e.truth["mojibake"]):
                    for i, j in _occurrences(record[f] or "", form):
                        assert _covered(spans, i, j), (e.truth["seq"], f, form)
                        checked += 1
    assert checked > 5000


def test_pii_appears_inside_natural_sentences_and_quotes(events, records):
    email_quotes = [
        p
        for e in events
        if e.topic == "events.email" and e.truth["role"] == "agent"
        for p in e.truth["pii"]
        if p["type"] == "CREDIT_CARD"
    ]
    assert email_quotes, "customer cards must reappear in the agents' quoted replies"
    html = [p for e in events for p in e.truth["pii"] if p["field"] == "body_html"]
    assert len(html) > 500


# --------------------------------------------------------------------------- duplicates and pairs


def test_duplicates_point_back_to_earlier_originals(events, records):
    seen: dict[str, int] = {}
    kinds = Counter()
    for e in events:
        t = e.truth
        if t["duplicate_of"]:
            assert t["duplicate_of"] in seen, "original must be sent before its duplicate"
            original = events[seen[t["duplicate_of"]]]
            assert original.truth["duplicate_kind"] is None
            kinds[t["duplicate_kind"]] += 1
            if t["duplicate_kind"] == "exact":
                for f in TEXT_FIELDS[e.topic]:
                    assert records[t["seq"]].get(f) == records[original.truth["seq"]].get(f)
                assert t["answers"] is None and t["id"] != t["duplicate_of"]
            else:
                assert t["variation"] in {"greeting", "signature", "whitespace", "case", "dropped_sentence", "edited_words"}
                assert _jaccard(t["expected_clean"], original.truth["expected_clean"]) >= 0.5
        if t["id"]:
            seen[t["id"]] = t["seq"]
    assert kinds["exact"] > 100 and kinds["near"] > 50


def test_independent_questions_are_not_near_duplicates(events):
    by_task = defaultdict(list)
    for e in events:
        t = e.truth
        if (
            t["role"] == "customer"
            and not t["duplicate_kind"]
            and not t["auto_reply"]
            and t["expected_clean"]
            and len(t["expected_clean"].split()) > 25
        ):
            by_task[t["task"]].append(t["expected_clean"])
    rng = random.Random(0)
    for task, texts in by_task.items():
        scores = [_jaccard(*rng.sample(texts, 2)) for _ in range(300)]
        assert sum(scores) / len(scores) < 0.1, task
        assert max(scores) < 0.5, task


def test_near_duplicates_of_a_thread_share_no_answers(events):
    near_threads = {e.truth["thread_id"] for e in events if e.truth["duplicate_kind"]}
    assert all(e.truth["answers"] is None for e in events if e.truth["thread_id"] in near_threads)


def test_answers_name_customer_messages_of_their_own_thread(events):
    by_id = {e.truth["id"]: e.truth for e in events if e.truth["id"]}
    answered = 0
    for e in events:
        a = e.truth["answers"]
        if not a:
            continue
        answered += 1
        assert e.truth["role"] == "agent" and not e.truth["auto_reply"] and a["task"] == e.truth["task"]
        for pid in a["prompt_ids"]:
            prompt = by_id[pid]
            assert prompt["role"] == "customer" and prompt["thread_id"] == e.truth["thread_id"]
            assert prompt["event_time"] < e.truth["event_time"]
    assert answered > 1000


# --------------------------------------------------------------------------- people and deletions


def test_roles_and_persons_match_who_sent_each_message(events, records):
    """role is who wrote the message; person (and its ids) is set for customers' messages only."""
    roles = Counter()
    for e in events:
        t = e.truth
        if t["malformed"] or e.topic not in ("events.chat", "events.email", "events.ticket"):
            continue
        r = records[t["seq"]]
        if e.topic == "events.chat":
            assert t["role"] == r["sender_role"]
        elif e.topic == "events.ticket":
            assert t["role"] == r["author_role"]
        else:
            address = r["from_address"]
            expected = "system" if address == "noreply@acme.com" else "agent" if address.endswith("@acme.com") else "customer"
            assert t["role"] == expected, (address, t["role"])
            if expected == "agent":
                assert re.fullmatch(r"[a-z]+\.[a-z]+@acme\.com", address)
        roles[(t["kind"], t["role"])] += 1
        if t["role"] == "customer":
            assert t["person"] and t["subject_ids"] and set(t["subject_ids"]) <= set(t["person_ids"])
        else:
            assert t["person"] is None and t["person_ids"] == [] and t["subject_ids"] == []
    assert roles.keys() >= {
        ("chat", "customer"),
        ("chat", "agent"),
        ("chat", "bot"),
        ("email", "customer"),
        ("email", "agent"),
        ("email", "system"),
        ("ticket", "customer"),
        ("ticket", "agent"),
        ("ticket", "system"),
    }


def test_people_have_several_ids_used_across_sources(events, records):
    ids_of, seen, kinds, addresses = {}, defaultdict(set), defaultdict(set), defaultdict(set)
    for e in events:
        t = e.truth
        if e.topic == "events.deletion" or not t["person"]:
            continue
        assert t["person_ids"] == sorted(t["person_ids"]) and len(t["person_ids"]) in (2, 3)
        assert ids_of.setdefault(t["person"], t["person_ids"]) == t["person_ids"], "a person's ids never change"
        if t["malformed"]:
            continue
        seen[t["person"]] |= set(t["subject_ids"])
        kinds[t["person"]].add(t["kind"])
        r = records[t["seq"]]
        if e.topic == "events.chat":
            assert r["sender_id"].startswith("cust-")
        elif e.topic == "events.ticket":
            assert r["author_id"].startswith("cust-")
        elif e.topic == "events.email":
            addresses[t["person"]].add(r["from_address"])
    assert len({i for ids in ids_of.values() for i in ids}) == sum(len(ids) for ids in ids_of.values())
    assert sum(len(ids_of[p]) == 3 for p in ids_of) > 0.25 * len(ids_of), "many have two email addresses"
    several = [p for p in seen if len(seen[p]) >= 2 and len(kinds[p] - {"feedback"}) >= 2]
    assert len(several) > 0.5 * len(seen), "the same person writes under several ids, on several sources"
    assert sum(len(a) == 2 for a in addresses.values()) > 30, "people write from either of their addresses"


@pytest.fixture(scope="module")
def deletion_events():
    return list(generate(4, 6000, START, SimConfig(deletion_fraction=0.02)))


@pytest.mark.parametrize("run", ["events", "deletion_events"])
def test_deletions_name_any_id_of_a_person_already_seen_who_never_returns(run, request):
    events = request.getfixturevalue(run)
    first_person, last_person, seen_ids = {}, {}, set()
    for e in events:
        p = e.truth["person"]
        if p and e.topic != "events.deletion":
            first_person.setdefault(p, e.truth["seq"])
            last_person[p] = e.truth["seq"]
    deletions = [e for e in events if e.topic == "events.deletion"]
    assert deletions
    unseen = non_customer_id = linked = 0
    for e in events:
        t = e.truth
        if e.topic != "events.deletion":
            seen_ids.update(t["subject_ids"])
            continue
        record = json.loads(e.value)
        schemas.validate("DeletionEvent", record)
        subject, person, ids = t["deletion_subject"], t["deletion_person"], t["deletion_person_ids"]
        assert record["subject_id"] == subject == e.key.decode()
        assert subject in ids and ids == sorted(ids) and t["person"] == person and t["person_ids"] == ids
        assert first_person[person] < t["seq"] and last_person[person] < t["seq"], "seen before, never after"
        unseen += subject not in seen_ids
        non_customer_id += not subject.startswith("cust-")
        if record.get("linked_ids") is not None:
            linked += 1
            assert record["linked_ids"] and set(record["linked_ids"]) <= set(ids) - {subject}
            assert len(set(record["linked_ids"])) == len(record["linked_ids"])
        assert t["subject_ids"] == [subject, *(record.get("linked_ids") or [])]
    if run == "deletion_events":
        assert len(deletions) > 60
        assert unseen > 5, "some deletions name an id the traffic never showed"
        assert non_customer_id > 0.4 * len(deletions)
        assert 0.15 * len(deletions) < linked < 0.45 * len(deletions)


# --------------------------------------------------------------------------- content


def test_clean_text_is_the_body_without_quotes_or_signatures(events, records):
    for e in events:
        t = e.truth
        if e.topic not in ("events.chat", "events.email", "events.ticket") or t["malformed"]:
            assert t["expected_clean"] is None
            continue
        clean = t["expected_clean"]
        assert clean and "wrote:" not in clean and "\n> " not in clean and "-- \n" not in clean
        body = records[t["seq"]]["text"] if e.topic != "events.email" else records[t["seq"]]["body_text"]
        if body is None:
            continue
        if t["mojibake"]:
            body = body.encode("cp1252").decode("utf-8")
        for block in clean.split("\n\n"):
            assert block in body


def test_emails_look_like_real_clients(events, records):
    bodies = "\n".join(
        (records[e.truth["seq"]]["body_text"] or "") + (records[e.truth["seq"]]["body_html"] or "")
        for e in events
        if e.topic == "events.email" and not e.truth["malformed"]
    )
    for marker in [
        'class="gmail_quote',
        "-----Original Message-----",
        "Sent:",
        "wrote:",
        "schrieb",
        "a écrit :",
        "написал(а):",
        'blockquote type="cite"',
        "yahoo_quoted",
        "&#39;",
        "<br>",
        "\n> ",
        "CONFIDENTIAL",
        "Sent from my",
        "Thank you for contacting us",
    ]:
        assert marker in bodies, marker
    subjects = {records[e.truth["seq"]]["subject"][:4] for e in events if e.topic == "events.email" and not e.truth["malformed"]}
    assert {"Re: ", "RE: ", "AW: "} <= subjects


def test_mojibake_and_auto_replies_are_marked(events, records):
    moji = [e for e in events if e.truth["mojibake"]]
    assert len(moji) > 40
    for e in moji:
        text = (
            records[e.truth["seq"]].get("text")
            or records[e.truth["seq"]].get("body_text")
            or records[e.truth["seq"]]["body_html"]
        )
        assert re.search("Ã|Â|â€|â‚", text)
    autos = [e for e in events if e.truth["auto_reply"]]
    assert autos and all(e.topic == "events.email" and e.truth["answers"] is None for e in autos)


def test_feedback_events(events, records):
    feedback = [records[e.truth["seq"]] for e in events if e.topic == "events.feedback"]
    assert {f["rating"] for f in feedback} == {"up", "down"}
    assert all(re.fullmatch(r"adapter-\d{4}", f["adapter_version"]) for f in feedback)
    assert any(f["comment"] for f in feedback) and any(f["comment"] is None for f in feedback)


def test_every_conversation_kind_of_the_catalog_has_one_generator_writing_its_topic(events):
    assert sorted(g.source.kind for g in GENERATORS) == sorted(catalog.conversation_kinds())
    assert {e.truth["kind"] for e in events if e.topic in {s.topic for s in catalog.conversations()}} == set(
        catalog.conversation_kinds()
    )


def test_thread_shares_pick_the_kinds_and_refuse_unknown_ones():
    only_tickets = SimConfig(thread_shares=(("ticket", 1.0),), malformed_fraction=0, feedback_fraction=0, deletion_fraction=0)
    assert {e.truth["kind"] for e in generate(5, 300, START, only_tickets)} == {"ticket"}
    with pytest.raises(ValueError, match="thread_shares"):
        SimConfig(thread_shares=(("fax", 1.0),))

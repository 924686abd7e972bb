"""The traffic generator's output is deterministic, schema-valid where it should be, and its ground truth is exact."""

from __future__ import annotations

import html
import itertools
import json
import random
import re
from collections import Counter, defaultdict

import pytest

from loopline import schemas
from loopline.simulator.generate import SimConfig, _Simulator, generate

START = 1_767_600_000_000  # 2026-01-05T08:00:00Z
TRUTH_KEYS = {"seq", "topic", "kind", "malformed", "id", "thread_id", "role", "event_time", "arrival_time", "delay_ms",
              "late", "task", "subject_ids", "pii", "duplicate_of", "duplicate_kind", "variation", "auto_reply",
              "mojibake", "expected_clean", "answers", "deletion_subject"}
MALFORMED = {"invalid_json", "schema_mismatch", "invalid_utf8", "oversized"}
TEXT_FIELDS = {"events.chat": ["text"], "events.ticket": ["text"],
               "events.email": ["subject", "body_text", "body_html"],
               "events.feedback": ["prompt", "response", "comment"]}
# Structured PII any careful reader would flag; every match must lie inside a listed span.
PII_PATTERNS = [
    re.compile(r"(?<!mid:)(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),                  # email (not a cite="mid:...")
    re.compile(r"(?<![\w-])(?:\d[ -]?){13,18}\d(?![\w-])"),                             # card-like digit runs
    re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b"),         # IBAN
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),                                               # SSN
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"),                                         # IPv4
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
    return {tuple(words[i:i + 5]) for i in range(max(len(words) - 4, 1))}


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


def test_send_order_is_arrival_order_and_times_are_consistent(events):
    arrivals = [e.truth["arrival_time"] for e in events]
    assert arrivals == sorted(arrivals)
    for e in events:
        t = e.truth
        assert set(t) == TRUTH_KEYS
        assert t["arrival_time"] == t["event_time"] + t["delay_ms"] and t["delay_ms"] >= 0
        assert t["late"] == (t["delay_ms"] >= 120_000)
        assert json.loads(json.dumps(t)) == t
    late = sum(e.truth["late"] for e in events)
    assert 0.01 * len(events) < late < 0.04 * len(events)
    assert min(e.truth["event_time"] for e in events) >= START


def test_late_messages_really_arrive_out_of_order_within_threads(events):
    by_thread = defaultdict(list)
    for e in events:
        if e.truth["thread_id"]:
            by_thread[e.truth["thread_id"]].append(e.truth["event_time"])
    out_of_order = sum(times != sorted(times) for times in by_thread.values())
    assert out_of_order > 20


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
        schemas.validate(schemas.TOPIC_SCHEMAS[e.topic], record)
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
            assert schemas.is_valid(schemas.TOPIC_SCHEMAS[e.topic], json.loads(e.value))  # only its size is wrong
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
    return isinstance(record, dict) and schemas.is_valid(schemas.TOPIC_SCHEMAS[topic], record)


# --------------------------------------------------------------------------- PII

def test_pii_spans_are_exact(events, records):
    types = Counter()
    for e in events:
        for p in e.truth["pii"]:
            assert records[e.truth["seq"]][p["field"]][p["start"]:p["end"]] == p["value"]
            types[p["type"]] += 1
    assert set(types) == {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
                          "IP_ADDRESS", "STREET_ADDRESS", "ACCOUNT_NUMBER", "ORDER_NUMBER", "HOSTNAME", "API_KEY"}


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
    pool = _Simulator(1, START, SimConfig()).customers
    by_subject = {s: p for p in pool for s in (p.customer_id, p.email)}
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
    email_quotes = [p for e in events if e.topic == "events.email" and e.truth["role"] == "agent"
                    for p in e.truth["pii"] if p["type"] == "CREDIT_CARD"]
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
                assert t["variation"] in {"greeting", "signature", "whitespace", "case", "dropped_sentence",
                                          "edited_words"}
                assert _jaccard(t["expected_clean"], original.truth["expected_clean"]) >= 0.5
        if t["id"]:
            seen[t["id"]] = t["seq"]
    assert kinds["exact"] > 100 and kinds["near"] > 50


def test_independent_questions_are_not_near_duplicates(events):
    by_task = defaultdict(list)
    for e in events:
        t = e.truth
        if t["role"] == "customer" and not t["duplicate_kind"] and not t["auto_reply"] and t["expected_clean"] \
                and len(t["expected_clean"].split()) > 25:
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


def test_deletions_forget_subjects_already_seen_and_never_seen_again(events):
    first_seen, last_seen = {}, {}
    for e in events:
        for s in e.truth["subject_ids"]:
            if e.topic != "events.deletion":
                first_seen.setdefault(s, e.truth["seq"])
                last_seen[s] = e.truth["seq"]
    deletions = [e for e in events if e.topic == "events.deletion"]
    assert deletions
    for d in deletions:
        subject = d.truth["deletion_subject"]
        assert json.loads(d.value)["subject_id"] == subject == d.key.decode()
        assert first_seen[subject] < d.truth["seq"]
        assert last_seen[subject] < d.truth["seq"]


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
    bodies = "\n".join((records[e.truth["seq"]]["body_text"] or "") + (records[e.truth["seq"]]["body_html"] or "")
                       for e in events if e.topic == "events.email" and not e.truth["malformed"])
    for marker in ['class="gmail_quote', "-----Original Message-----", "Sent:", "wrote:", "schrieb", "a écrit :",
                   "написал(а):", 'blockquote type="cite"', "yahoo_quoted", "&#39;", "<br>", "\n> ",
                   "CONFIDENTIAL", "Sent from my", "Thank you for contacting us"]:
        assert marker in bodies, marker
    subjects = {records[e.truth["seq"]]["subject"][:4] for e in events if e.topic == "events.email"
                and not e.truth["malformed"]}
    assert {"Re: ", "RE: ", "AW: "} <= subjects


def test_mojibake_and_auto_replies_are_marked(events, records):
    moji = [e for e in events if e.truth["mojibake"]]
    assert len(moji) > 40
    for e in moji:
        text = records[e.truth["seq"]].get("text") or records[e.truth["seq"]].get("body_text") \
            or records[e.truth["seq"]]["body_html"]
        assert re.search("Ã|Â|â€|â‚", text)
    autos = [e for e in events if e.truth["auto_reply"]]
    assert autos and all(e.topic == "events.email" and e.truth["answers"] is None for e in autos)


def test_feedback_events(events, records):
    feedback = [records[e.truth["seq"]] for e in events if e.topic == "events.feedback"]
    assert {f["rating"] for f in feedback} == {"up", "down"}
    assert all(re.fullmatch(r"adapter-\d{4}", f["adapter_version"]) for f in feedback)
    assert any(f["comment"] for f in feedback) and any(f["comment"] is None for f in feedback)

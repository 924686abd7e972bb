"""PII scrubbing (pipelines/scrub/) against the simulator's ground truth: every PII occurrence in
a raw record field is listed there with its offsets, so recall and leaks are measured, not guessed."""

from __future__ import annotations

import collections
import io
import json
import logging
import pickle
import re

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from loopline.config import ScrubConfig
from loopline.simulator.generate import generate
from pipelines.guard import DEAD
from pipelines.model import Event, KafkaRecord, Thread
from pipelines.scrub import ScrubThreads, filter_lines, scrubber
from pipelines.scrub.rules import RULES, RuleRecognizer

STRUCTURED = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"}
PLAIN_FIELDS = ("text", "body_text", "prompt", "response", "comment")
PLACEHOLDER = re.compile(r"<([A-Z_]+)_(\d+)>")


@pytest.fixture(scope="module")
def scrub():
    return scrubber(ScrubConfig())


@pytest.fixture(scope="module")
def sim():
    """Simulated events: (event, record, truth), malformed and deletions left out."""
    out = []
    for ev in generate(7, 900, 1_793_000_000_000):
        if ev.truth["malformed"] or ev.truth["kind"] == "deletion":
            continue
        out.append((ev, json.loads(ev.value), ev.truth))
    return out


def _items(sim, fields):
    """(text, truth spans in it, context) for each field present: a thread is one context."""
    items = []
    for _, record, truth in sim:
        for f in fields:
            if record.get(f):
                items.append((record[f], [p for p in truth["pii"] if p["field"] == f], truth["thread_id"] or truth["id"]))
    return items


@pytest.fixture(scope="module")
def plain(sim, scrub):
    """Plain-text fields (what the pipeline gets after cleaning) and their scrub results."""
    items = _items(sim, PLAIN_FIELDS)
    return items, scrub.scrub_batch([t for t, _, _ in items], [c for _, _, c in items])


def _leaks(text: str, truth: list[dict]) -> list[str]:
    """Types of structured truth values still readable in `text`: as typed, without spaces, or as digits."""
    low, compact = text.lower(), re.sub(r"\s", "", text.lower())
    digit_runs = [re.sub(r"\D", "", run) for run in re.findall(r"\d[\d \-().\u00a0]*\d", text)]
    found = []
    for p in truth:
        if p["type"] not in STRUCTURED:
            continue
        value, digits = p["value"].lower(), re.sub(r"\D", "", p["value"])
        if value in low or re.sub(r"\s", "", value) in compact or (len(digits) >= 6 and any(digits in r for r in digit_runs)):
            found.append(p["type"])
    return found


def _recall(items, results) -> dict[str, tuple[int, int]]:
    """type -> (truth spans fully masked, truth spans)."""
    hit, total = collections.Counter(), collections.Counter()
    for (text, truth, _), r in zip(items, results):
        masked = [False] * len(text)
        for e in r.entities:
            masked[e["start"] : e["end"]] = [True] * (e["end"] - e["start"])
        for p in truth:
            total[p["type"]] += 1
            hit[p["type"]] += all(masked[p["start"] : p["end"]])
    return {t: (hit[t], total[t]) for t in sorted(total)}


def test_no_structured_pii_leaks_and_recall_per_type(plain):
    items, results = plain
    assert sum(1 for _ in items) >= 300
    assert sum(len(_leaks(t, truth)) for t, truth, _ in items) > 100  # the check sees PII in the raw text
    leaks = collections.Counter(k for (_, truth, _), r in zip(items, results) for k in _leaks(r.text, truth))
    recall = _recall(items, results)
    print(f"\nrecall per type (plain text, {len(items)} texts):")
    for t, (hit, total) in recall.items():
        print(f"  {t:15s} {hit:5d}/{total:<5d} {hit / total:.3f}")
    assert not leaks, f"structured PII leaked: {dict(leaks)}"
    assert set(STRUCTURED) <= set(recall)  # the sample exercises every structured type
    # measured 1.000 for every type (seed of `plain`, simulator text); allowed: 2% of a type's values, at least one
    low = {t: f"{hit}/{total}" for t, (hit, total) in recall.items() if total - hit > max(1, 0.02 * total)}
    assert not low, f"recall fell below the measured level: {low}"


def test_raw_html_emails_leak_no_structured_pii(sim, scrub):
    items = _items(sim, ("body_html",))
    results = scrub.scrub_batch([t for t, _, _ in items], [c for _, _, c in items])
    assert len(items) >= 50
    leaks = collections.Counter(k for (_, truth, _), r in zip(items, results) for k in _leaks(r.text, truth))
    assert not leaks, f"structured PII leaked from HTML: {dict(leaks)}"


def test_entities_are_sorted_disjoint_input_offsets_and_the_output_is_the_input_with_placeholders(plain):
    for (text, _, _), r in zip(*plain):
        pos, rebuilt, placeholders = 0, [], iter(m.group() for m in PLACEHOLDER.finditer(r.text))
        for e in r.entities:
            assert pos <= e["start"] < e["end"] <= len(text)
            rebuilt += [text[pos : e["start"]], next(placeholders)]
            pos = e["end"]
        assert "".join(rebuilt) + text[pos:] == r.text
        assert r.counts == dict(collections.Counter(e["type"] for e in r.entities))


def test_detected_spans_are_exactly_the_values(scrub):
    text = "Call Anna Smith on +44 20 7946 0958 or write to anna.smith@example.com (card 4111 1111 1111 1111)."
    [r] = scrub.scrub_batch([text], ["c"])
    spans = {text[e["start"] : e["end"]]: e["type"] for e in r.entities}
    assert spans == {
        "Anna Smith": "PERSON",
        "+44 20 7946 0958": "PHONE_NUMBER",
        "anna.smith@example.com": "EMAIL_ADDRESS",
        "4111 1111 1111 1111": "CREDIT_CARD",
    }


def test_texts_longer_than_spacy_takes_are_scrubbed_in_pieces_with_input_offsets(scrub, monkeypatch):
    lines = [f"Ticket {i}: please call Anna Smith on +44 20 7946 0958 or mail anna.smith@example.com. Thanks!" for i in range(40)]
    text = "\n".join(lines) + "\n" + "x" * 700 + " Bob Jones wrote from bob@example.com"  # one run without a cut
    [whole] = scrub.scrub_batch([text], ["c"])
    monkeypatch.setattr(scrub, "max_chars", 500)  # spaCy's nlp.max_length (E088) as if it were 500
    nlp = scrub.analyzer.nlp_engine.nlp["en"]
    monkeypatch.setattr(nlp, "max_length", 500)  # a piece over the limit would raise
    [pieces] = scrub.scrub_batch([text], ["c"])
    assert pieces.text == whole.text and pieces.entities == whole.entities
    assert {text[e["start"] : e["end"]] for e in pieces.entities} >= {
        "Anna Smith",
        "+44 20 7946 0958",
        "anna.smith@example.com",
        "bob@example.com",
    }
    assert pieces.counts["PHONE_NUMBER"] == 40 and "Bob Jones" in {text[e["start"] : e["end"]] for e in pieces.entities}


def test_placeholders_are_per_context_and_numbered_by_first_appearance(scrub):
    texts = [
        "Hi Anna Smith, is anna@example.com still your address?",
        "Anna here. Yes, anna@example.com. Bob Jones has the other one, bob@example.com.",
        "Regards,\nAnna",
        "Dear Bob Jones, please mail bob@example.com.",
    ]
    r = scrub.scrub_batch(texts, ["t1", "t1", "t1", "t2"])
    assert r[0].text == "Hi <PERSON_1>, is <EMAIL_ADDRESS_1> still your address?"
    assert r[1].text == "<PERSON_1> here. Yes, <EMAIL_ADDRESS_1>. <PERSON_2> has the other one, <EMAIL_ADDRESS_2>."
    assert r[2].text == "Regards,\n<PERSON_1>"
    assert r[3].text == "Dear <PERSON_1>, please mail <EMAIL_ADDRESS_1>."  # another context counts afresh


def test_same_value_same_placeholder_within_a_simulated_thread(plain):
    seen: dict[tuple[str, str], set[str]] = collections.defaultdict(set)  # (context, truth value) -> placeholders
    for (_, truth, context), r in zip(*plain):
        names = [m.group() for m in PLACEHOLDER.finditer(r.text)]
        for p in truth:
            for e, name in zip(r.entities, names):
                if e["start"] <= p["start"] and p["end"] <= e["end"] and e["type"] == p["type"]:
                    key = p["value"] if p["type"] == "PERSON" else re.sub(r"\W", "", p["value"].lower())
                    seen[(context, key)].add(name)
    assert len(seen) > 200
    split = {k: v for k, v in seen.items() if len(v) > 1}
    assert not split, f"values masked with several placeholders in one thread: {list(split)[:5]}"


def _filtered(lines: list[str], config: ScrubConfig) -> list[dict]:
    out = io.BytesIO()
    filter_lines(io.BytesIO("\n".join(lines).encode()), out, config)
    return [json.loads(line) for line in out.getvalue().decode().splitlines()]


def test_filter_lines_keeps_order_reports_bad_lines_and_goes_on(scrub):
    lines = [
        json.dumps({"id": 1, "text": "Mail anna@example.com please"}),
        '{"id": 2, "text": "call +1 415 555 0123',  # truncated JSON with PII in it
        "",
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "x", "text": None}),
        json.dumps({"id": 5, "text": "Regards,\nAnna Smith"}),
    ]
    out = _filtered(lines, ScrubConfig(batch_size=1))
    assert [o.get("id") for o in out] == [1, None, None, "x", 5]
    assert out[0]["text"] == "Mail <EMAIL_ADDRESS_1> please"
    assert [(e["type"], e["start"], e["end"]) for e in out[0]["entities"]] == [("EMAIL_ADDRESS", 5, 21)]
    assert out[1]["error"].startswith("invalid_json") and "555" not in out[1]["error"]
    assert out[2]["error"].startswith("invalid_record") and out[3]["error"].startswith("invalid_record")
    assert out[4]["text"] == "Regards,\n<PERSON_1>" and out[4]["entities"][0]["start"] == 9


def test_nothing_logged_carries_pii(sim, scrub, caplog):
    items = _items(sim[:80], PLAIN_FIELDS)
    with caplog.at_level(logging.DEBUG):
        scrub.scrub_batch([t for t, _, _ in items], [c for _, _, c in items])
        _filtered(
            [json.dumps({"id": i, "text": t}) for i, (t, _, _) in enumerate(items)] + ["{bad " + items[0][0]], ScrubConfig()
        )
    values = {p["value"] for _, truth, _ in items for p in truth}
    assert values and not [v for v in values if v in caplog.text]


def _threads(sim) -> list[Thread]:
    events: dict[str, list[Event]] = collections.defaultdict(list)
    for ev, record, truth in sim:
        key = f"{truth['kind']}:{truth['thread_id'] or truth['id']}"
        source = KafkaRecord(ev.topic, 0, truth["seq"], truth["arrival_time"], ev.key, ev.value)
        text = record.get("text") if truth["kind"] in ("chat", "ticket") else record.get("body_text")
        events[key].append(Event(truth["kind"], key, truth["event_time"], record, source, text=text))
    return [Thread(k, es[0].event_time_ms, es[-1].event_time_ms, tuple(es)) for k, es in events.items()]


def test_scrub_threads_masks_messages_and_feedback_and_dead_letters_a_broken_thread(sim, tmp_path):
    threads = _threads(sim[:150])
    i = next(i for i, t in enumerate(threads) if i >= 3 and t.events[0].kind in ("chat", "email", "ticket"))  # a text it reads
    broken = threads[i]._replace(events=(threads[i].events[0]._replace(text=12345),) + threads[i].events[1:])
    threads[i] = broken
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    out = p | beam.Create(threads) | ScrubThreads(ScrubConfig(batch_size=16))
    for tag, name in (("threads", "t"), (DEAD, "d")):
        (
            out[tag]
            | f"List{name}" >> beam.combiners.ToList()
            | f"Write{name}" >> beam.Map(lambda xs, f=tmp_path / f"{name}.pkl": f.write_bytes(pickle.dumps(xs)))
        )
    result = p.run()
    result.wait_until_finish()

    scrubbed = pickle.loads((tmp_path / "t.pkl").read_bytes())
    dead = pickle.loads((tmp_path / "d.pkl").read_bytes())
    assert {(d["stage"], d["reason"], d["offset"]) for d in dead} == {
        ("scrub", "stage_error", e.source.offset) for e in broken.events
    }
    assert sorted(t.key for t in scrubbed) == sorted(t.key for t in threads if t is not broken)
    truth = {tr["seq"]: tr for _, _, tr in sim}
    kinds = collections.Counter()
    for thread in scrubbed:
        for e in thread.events:
            pii = truth[e.source.offset]["pii"]
            fields = (
                [e.record[f] for f in ("prompt", "response", "comment") if e.record.get(f)] if e.kind == "feedback" else [e.text]
            )
            assert not [k for text in fields for k in _leaks(text, pii)]
            assert bool(e.pii_counts) == bool(PLACEHOLDER.search(" ".join(fields)))
            kinds[e.kind] += bool(e.pii_counts)
    assert kinds["feedback"] and kinds["chat"] and kinds["email"]

    counters = {
        c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter().with_namespace("loopline"))["counters"]
    }
    assert counters["scrub.messages"] == sum(len(t.events) for t in scrubbed)
    assert counters["scrub.entities.EMAIL_ADDRESS"] == sum(
        dict(e.pii_counts).get("EMAIL_ADDRESS", 0) for t in scrubbed for e in t.events
    )
    assert counters["scrub.errors"] == 1


def _masked(scrub, text: str) -> dict[str, str]:
    """value -> type of what scrubbing `text` masks."""
    [r] = scrub.scrub_batch([text], ["c"])
    return {text[e["start"] : e["end"]]: e["type"] for e in r.entities}


@pytest.mark.parametrize(
    ("text", "street", "city"),
    [
        (
            "Kind regards\nMaija Virtanen\nMannerheimintie 12\n00100 Helsinki\nTel. +358 9 123 4567",
            "Mannerheimintie 12",
            "00100 Helsinki",
        ),
        ("Szállítási cím:\nAndrássy út 60.\nH-1062 Budapest", "Andrássy út 60.", "H-1062 Budapest"),
        ("Morada:\nRua Augusta, 274\n1100-053 Lisboa", "Rua Augusta, 274", "1100-053 Lisboa"),
        ("Postadres\nPrinsengracht 263\n1016 GV\nAmsterdam", "Prinsengracht 263", "Amsterdam"),
        ("Indirizzo:\nVia del Corso, 12\n00186, Roma (RM)", "Via del Corso, 12", "00186, Roma (RM)"),
    ],
)
def test_a_street_line_over_a_postcode_line_is_one_address(scrub, text, street, city):
    masked = _masked(scrub, text)
    block = next(v for v, t in masked.items() if t == "STREET_ADDRESS")
    assert street in block and city in block


@pytest.mark.parametrize(
    "text",
    [
        "Release notes\nVersion 4.2\n2024 Roadmap",  # a number line over a year: no postcode line
        "Invoice total 1200\n15000 units shipped",
        "Meeting room 12\nsee you there",
    ],
)
def test_lines_that_only_look_like_an_address_block_are_left(scrub, text):
    assert "STREET_ADDRESS" not in _masked(scrub, text).values()


def test_inline_addresses_with_european_postcodes(scrub):
    text = "New office: Rua Augusta, 274, 1100-053 Lisboa from Monday; the old one was Keizersgracht 123, 1015CJ, Amsterdam."
    masked = _masked(scrub, text)
    assert masked.get("Rua Augusta, 274, 1100-053 Lisboa") == "STREET_ADDRESS"
    assert masked.get("Keizersgracht 123, 1015CJ, Amsterdam") == "STREET_ADDRESS"
    assert "STREET_ADDRESS" not in _masked(scrub, "Order 1234, shipped on Monday, October 26, 2026.").values()


def test_us_military_addresses(scrub):
    masked = _masked(
        scrub, "Send it to:\nSgt. Dana Reed\nPSC 1234, Box 5678\nAPO AE 09123\nand\nUnit 2050 Box 4190\nFPO AP 96522"
    )
    assert {v for v, t in masked.items() if t == "STREET_ADDRESS"} >= {"PSC 1234, Box 5678\nAPO AE 09123"}
    assert "Unit 2050 Box 4190" in " ".join(masked) and "FPO AP 96522" in " ".join(masked)
    assert "STREET_ADDRESS" not in _masked(scrub, "The unit ships in a box of 12; see PO 4500").values()


def test_nineteen_digit_cards_in_five_groups(scrub):
    card = "4000-0012-3456-7899-992"  # Luhn-valid, 19 digits as 4-4-4-4-3
    assert _masked(scrub, f"Card on file: {card}, exp 07/29.") == {card: "CREDIT_CARD"}


def test_lowercase_names_in_chat(scrub):
    masked = _masked(scrub, "ok will follow up with maria gonzalez tomorrow, ping tomasz about the refund")
    assert masked.get("maria gonzalez") == "PERSON" and masked.get("tomasz") == "PERSON"
    assert not _masked(scrub, "ok i'll ping you tomorrow, please follow up with the billing team asap")


def test_people_in_labelled_lists_and_directory_rows(scrub):
    masked = _masked(scrub, "Attendees: Ana Silva, Bo Berg and Cy Dunn\nAgenda: Q3 Budget, Hiring and Roadmap")
    assert {"Ana Silva", "Bo Berg", "Cy Dunn"} <= {v for v, t in masked.items() if t == "PERSON"}
    person_rules = RuleRecognizer("PERSON", [r for r in RULES if r.entity == "PERSON"])
    assert not person_rules.analyze("Agenda: Q3 Budget, Hiring and Roadmap", ["PERSON"])  # NER may still guess
    row = _masked(scrub, "Nakamura, Kenji | Head of Support | kenji@example.com\nTotal, Net | 12 | 14")
    assert row.get("Nakamura, Kenji") == "PERSON" and "Total, Net" not in row
    assert _masked(scrub, "Reporter: Ines Duarte\nOwner: Platform Team").get("Ines Duarte") == "PERSON"
    assert "Platform Team" not in _masked(scrub, "Owner: Platform Team")


def test_names_after_verbs_and_context_words(scrub):
    cases = {
        "As discussed with Tomás Ferreira last week, the rollout is on hold.": "Tomás Ferreira",
        "Voicemail from Priya Natarajan at 09:12, call back please.": "Priya Natarajan",
        "Documents received, they match the name Jonas Lindqvist.": "Jonas Lindqvist",
        "Can you call me back on Friday? - Henrike": "Henrike",
    }
    for text, name in cases.items():
        assert _masked(scrub, text).get(name) == "PERSON", text
    assert not _masked(scrub, "Voicemail from the billing desk. - Support")

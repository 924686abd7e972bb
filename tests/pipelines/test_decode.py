"""Decode + validate: bad input becomes a dead letter with a reason, never a crash, and never leaks payload text."""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from loopline.config import DecodeConfig
from pipelines.deadletter import decode, encode
from pipelines.decode import DecodeEvents
from pipelines.guard import DEAD
from pipelines.model import KafkaRecord
from tests.samples import SAMPLES

SECRET = "4111 1111 1111 1111"


def _rec(value: bytes | None, topic="events.chat", offset=0) -> KafkaRecord:
    return KafkaRecord(topic, 0, offset, 1_793_000_000_000, b"k", value)


CASES = {
    "valid": _rec(json.dumps(SAMPLES["ChatEvent"]).encode(), offset=1),
    "invalid_json": _rec(b'{"conversation_id": "c-1", "text": "' + SECRET.encode(), offset=2),
    "invalid_utf8": _rec(json.dumps(SAMPLES["ChatEvent"]).encode().replace(b"order", b"ord\xff\xfer"), offset=3),
    "oversized": _rec(json.dumps({**SAMPLES["ChatEvent"], "text": "x" * 2000}).encode(), offset=4),
    "missing_field": _rec(json.dumps({k: v for k, v in SAMPLES["ChatEvent"].items() if k != "text"}).encode(), offset=5),
    "wrong_type": _rec(json.dumps({**SAMPLES["ChatEvent"], "event_time": SECRET}).encode(), offset=6),
    "extra_field": _rec(json.dumps({**SAMPLES["ChatEvent"], "card": SECRET}).encode(), offset=7),
    "bad_enum": _rec(json.dumps({**SAMPLES["ChatEvent"], "sender_role": "hacker"}).encode(), offset=8),
    "not_object": _rec(b"[1, 2, 3]", offset=9),
    "unknown_topic": _rec(b"{}", topic="events.unknown", offset=10),
    "tombstone": _rec(None, offset=11),  # a null value: nothing to decode, still accounted
    "lone_surrogate": _rec(json.dumps({**SAMPLES["ChatEvent"], "text": "card " + SECRET + " \ud800 x"}).encode(), offset=12),
}
EXPECTED = {
    2: "invalid_json",
    3: "invalid_utf8",
    4: "oversized",
    5: "schema_mismatch",
    6: "schema_mismatch",
    7: "schema_mismatch",
    8: "schema_mismatch",
    9: "schema_mismatch",
    10: "unknown_topic",
    11: "schema_mismatch",
    12: "invalid_text",
}


def test_every_bad_record_is_dead_lettered_with_its_reason(tmp_path):
    def collect(kind):
        def write(items):
            path = tmp_path / f"{kind}.json"
            path.write_text(json.dumps(items, default=lambda o: o.hex() if isinstance(o, bytes) else list(o)))
            return items

        return write

    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        result = p | beam.Create(list(CASES.values())) | DecodeEvents(DecodeConfig(max_event_bytes=1000))
        (
            result.events
            | "Ev" >> beam.Map(lambda e: [e.kind, e.thread, e.source.offset])
            | "EvList" >> beam.combiners.ToList()
            | "EvOut" >> beam.Map(collect("events"))
        )
        (result[DEAD] | "DlList" >> beam.combiners.ToList() | "DlOut" >> beam.Map(collect("dead")))
    events = json.loads((tmp_path / "events.json").read_text())
    dead = json.loads((tmp_path / "dead.json").read_text())
    assert events == [["chat", "chat:c-1", 1]]
    assert {d["offset"]: d["reason"] for d in dead} == EXPECTED
    for d in dead:
        assert d["stage"] == "decode"
        assert SECRET not in (d["detail"] or ""), "dead-letter details must not carry payload values"
        assert bytes.fromhex(d["raw"]) == (CASES[next(k for k, r in CASES.items() if r.offset == d["offset"])].value or b"")
    details = {d["offset"]: d["detail"] for d in dead}
    assert "missing required field(s) text" in details[5]
    assert "event_time" in details[6] and "card" in details[7] and "not one of" in details[8]
    assert details[12] == "lone surrogate in text at character 25"


def test_dead_letter_wire_format_round_trips():
    letter = {
        "raw": b"\xff\x00",
        "topic": "events.chat",
        "partition": 2,
        "offset": 9,
        "stage": "decode",
        "reason": "invalid_utf8",
        "detail": None,
        "time": 1,
    }
    back = decode(encode(letter))
    assert back.pop("time").timestamp() == 0.001  # timestamp-millis comes back as a datetime
    assert back == {k: v for k, v in letter.items() if k != "time"}

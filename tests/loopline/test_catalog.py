"""loopline/catalog.py is the one table of sources: its fields exist in the schemas, and a new source kind
(here a toy one, voice-call transcripts) reaches config, schema lookup, decode, clean, pairs and records
through the catalog entry and its schema alone."""

from __future__ import annotations

import json
import shutil

import apache_beam as beam
import pytest

from loopline import catalog, schemas
from loopline.config import CleanConfig, DecodeConfig, KafkaConfig, PairsConfig, SourceConfig
from loopline.store import subject_hash
from pipelines.clean import _CleanThread
from pipelines.decode import _Decode
from pipelines.guard import DEAD
from pipelines.model import Event, KafkaRecord, Thread
from pipelines.pairs import PairExtractor
from pipelines.records import _ToUnit

T0 = 1_793_000_000_000
VOICE = catalog.Source(
    "voice",
    "events.voice",
    "VoiceEvent",
    event_id="utterance_id",
    key="call_id",
    text_fields=("transcript",),
    body="transcript",
    author="caller_id",
    conversation=True,
)
VOICE_SCHEMA = {
    "type": "record",
    "name": "VoiceEvent",
    "namespace": "loopline",
    "doc": "One transcribed utterance of a support call (topic events.voice), keyed by call_id.",
    "fields": [
        {"name": "call_id", "type": "string"},
        {"name": "utterance_id", "type": "string"},
        {"name": "caller_id", "type": "string"},
        {"name": "transcript", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


@pytest.fixture
def voice(tmp_path, monkeypatch):
    """The toy kind added as a deployment would add it: a catalog entry, its event schema, its SourceKind symbol."""
    schema_dir = tmp_path / "schemas"
    shutil.copytree(schemas.SCHEMA_DIR, schema_dir)
    (schema_dir / "loopline.VoiceEvent.avsc").write_text(json.dumps(VOICE_SCHEMA))
    kinds = json.loads((schema_dir / "loopline.SourceKind.avsc").read_text())
    (schema_dir / "loopline.SourceKind.avsc").write_text(json.dumps({**kinds, "symbols": [*kinds["symbols"], "voice"]}))
    monkeypatch.setattr(schemas, "SCHEMA_DIR", schema_dir)
    monkeypatch.setattr(catalog, "SOURCES", (*catalog.SOURCES, VOICE))
    schemas.parsed.cache_clear()
    yield VOICE
    schemas.parsed.cache_clear()


def _utterance(i: int, transcript: str, **fields) -> dict:
    return {
        "call_id": "call-1",
        "utterance_id": f"u-{i}",
        "caller_id": "caller-7",
        "transcript": transcript,
        "event_time": T0 + i * 1000,
        **fields,
    }


def _kafka(record: dict, offset: int) -> KafkaRecord:
    return KafkaRecord("events.voice", 0, offset, T0 + offset * 1000, b"call-1", json.dumps(record).encode())


def _decoded(record: dict, offset: int) -> list:
    return list(_Decode(DecodeConfig()).process(_kafka(record, offset)))


def _fields(schema: dict) -> dict[str, object]:
    return {f["name"]: f["type"] for f in schema["fields"]}


@pytest.mark.parametrize("source", catalog.SOURCES, ids=lambda s: s.kind)
def test_every_field_the_catalog_names_is_in_its_schema(source):
    fields = _fields(schemas.raw(source.schema))
    named = [
        source.event_id,
        source.key,
        *source.text_fields,
        source.body,
        source.body_html,
        source.author,
        *source.participants,
        source.role,
    ]
    assert {f for f in named if f} <= fields.keys()
    if source.role:
        assert tuple(fields[source.role]["symbols"]) == source.roles
        assert source.customer_role in source.roles


def test_the_curated_records_know_every_conversation_kind():
    assert tuple(schemas.raw("SourceKind")["symbols"]) == catalog.conversation_kinds()


def test_a_topic_not_in_the_catalog_is_dead_lettered_as_unknown():
    [out] = _decoded(_utterance(0, "hello"), 0)
    assert out.tag == DEAD and out.value["reason"] == "unknown_topic"


def test_a_toy_source_kind_flows_through_with_no_other_code_change(voice):
    assert "events.voice" in SourceConfig().topics
    assert KafkaConfig().topics == [*catalog.topics(), catalog.DEADLETTER_TOPIC] and "events.voice" in KafkaConfig().topics
    assert "VoiceEvent" in schemas.names()
    schemas.validate(catalog.by_topic("events.voice").schema, _utterance(0, "hello"))

    [bad] = _decoded({k: v for k, v in _utterance(1, "hi").items() if k != "caller_id"}, 1)
    assert isinstance(bad, beam.pvalue.TaggedOutput) and bad.tag == DEAD
    assert bad.value["reason"] == "schema_mismatch"
    assert bad.value["detail"] == "loopline.VoiceEvent: missing required field(s) caller_id"

    raw = [
        "Hi,   I can\u00e2\u20ac\u2122t log in   to my account.\n\n\n\nThe app says my password expired.  ",
        "  It worked after the reset,\tthank you.  ",
    ]
    events = [e for i, text in enumerate(raw, start=2) for e in _decoded(_utterance(i, text), i)]
    assert all(isinstance(e, Event) for e in events) and len(events) == 2
    assert [(e.kind, e.thread) for e in events] == [("voice", "voice:call-1")] * 2
    thread = Thread("voice:call-1", events[0].event_time_ms, events[-1].event_time_ms + 1, tuple(events))

    clean = _CleanThread(CleanConfig())
    clean.setup()
    [cleaned] = list(clean.process(thread))
    assert isinstance(cleaned, Thread)
    assert [e.text for e in cleaned.events] == [
        "Hi, I can\u2019t log in to my account.\n\nThe app says my password expired.",
        "It worked after the reset, thank you.",
    ]

    assert PairExtractor(PairsConfig()).extract(cleaned) == []  # no role field: roles unknown, so no pair

    [unit] = list(_ToUnit("toy").process(cleaned))
    documents = unit.records["CuratedDocument"]
    assert [d["text"] for d in documents] == [e.text for e in cleaned.events]
    for d in documents:
        assert d["source_kind"] == "voice" and d["subject_hashes"] == [subject_hash("caller-7")]
        schemas.validate("CuratedDocument", d)

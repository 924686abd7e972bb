"""schemas/ is the single source of truth: every schema loads, round-trips across Avro implementations, and evolves."""

from __future__ import annotations

import copy
import datetime
import io
import json

import avro.datafile
import avro.io
import fastavro
import pytest
from fastavro.validation import ValidationError

from loopline import catalog, schemas
from tests.samples import SAMPLES


def test_every_schema_has_a_sample_and_loads():
    assert set(schemas.names()) == set(SAMPLES)
    for name in schemas.names():
        parsed = schemas.parsed(name)
        assert parsed.get("name", "").endswith(name) or parsed.get("type") == "enum"


def test_every_topic_of_the_catalog_has_its_schema():
    assert {s.schema for s in catalog.SOURCES} | {catalog.DEADLETTER_SCHEMA} <= set(schemas.names())


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_fastavro_file_reads_back_with_apache_avro(tmp_path, name):
    path = tmp_path / f"{name}.avro"
    schemas.write_container(path, name, [SAMPLES[name]])
    with open(path, "rb") as f:
        reader = avro.datafile.DataFileReader(f, avro.io.DatumReader())
        records = list(reader)
    assert [_millis(r) for r in records] == [SAMPLES[name]]


def _millis(value):
    """Avro readers return timestamp-millis as datetimes; compare them as the epoch millis that were written."""
    if isinstance(value, datetime.datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_millis(v) for v in value]
    return value


@pytest.mark.parametrize("name", ["ChatEvent", "CuratedPair", "DeadLetter"])
def test_invalid_records_are_rejected_with_the_field_named(name):
    bad = dict(SAMPLES[name])
    field = next(iter(bad))
    bad[field] = 12345 if isinstance(bad[field], str) else "not-a-number"
    with pytest.raises(ValidationError, match=field):
        schemas.validate(name, bad)
    extra = {**SAMPLES[name], "unexpected_field": "x"}
    assert not schemas.is_valid(name, extra)


def _evolved(name: str, new_field: dict) -> dict:
    """The schema as a later version would have it: same record with one more field."""
    schema = copy.deepcopy(schemas.parsed(name))
    schema["fields"] = [*schema["fields"], new_field]
    return fastavro.parse_schema(schema)


def _roundtrip(writer_schema, reader_schema, record) -> list[dict]:
    buf = io.BytesIO()
    fastavro.writer(buf, writer_schema, [record])
    buf.seek(0)
    return list(fastavro.reader(buf, reader_schema=reader_schema))


@pytest.mark.parametrize("name", [n for n in sorted(SAMPLES) if isinstance(SAMPLES[n], dict)])
def test_adding_an_optional_field_keeps_old_files_readable(name):
    new = {"name": "added_later", "type": ["null", "string"], "default": None}
    [read] = _roundtrip(schemas.parsed(name), _evolved(name, new), SAMPLES[name])
    assert _millis(read) == {**SAMPLES[name], "added_later": None}


def test_adding_a_required_field_breaks_old_files():
    """The evolution check is real: a field without a default can't be read from old files."""
    new = {"name": "added_later", "type": "string"}
    with pytest.raises(Exception, match="added_later"):
        _roundtrip(schemas.parsed("ChatEvent"), _evolved("ChatEvent", new), SAMPLES["ChatEvent"])


def test_schema_files_are_plain_json_with_docs():
    for name in schemas.names():
        raw = schemas.raw(name)
        assert raw["namespace"] == "loopline"
        assert raw.get("doc"), f"{name} needs a doc saying what it is for"
        json.dumps(raw)


def test_unknown_nested_fields_are_rejected():
    pair = {**SAMPLES["CuratedPair"], "lineage": [{**SAMPLES["Lineage"], "extra": 1}]}
    with pytest.raises(ValidationError, match=r"lineage\[0\]\.extra"):
        schemas.validate("CuratedPair", pair)

"""Avro schemas from schemas/ — the single source of truth for every record Loopline reads or writes.

Files are named `<namespace>.<Name>.avsc`, which lets fastavro resolve named types
(e.g. `loopline.Lineage`) that one schema references from another file. Which schema a topic
carries is the catalog's (loopline/catalog.py: `by_topic(topic).schema`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import load_schema
from fastavro.validation import ValidationError
from fastavro.validation import validate as _validate

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
NAMESPACE = "loopline"


def names() -> list[str]:
    """All schema names defined in schemas/ (without namespace)."""
    return sorted(p.name.split(".")[1] for p in SCHEMA_DIR.glob(f"{NAMESPACE}.*.avsc"))


@functools.cache
def parsed(name: str) -> dict[str, Any]:
    """The fastavro-parsed schema for `name` (e.g. "ChatEvent"), with referenced types expanded."""
    path = SCHEMA_DIR / f"{NAMESPACE}.{name}.avsc"
    if not path.exists():
        raise KeyError(f"no schema {name!r} in {SCHEMA_DIR} (have: {', '.join(names())})")
    return load_schema(str(path))


def raw(name: str) -> dict[str, Any]:
    """The schema file as written (JSON), for tools that want the source text."""
    return json.loads((SCHEMA_DIR / f"{NAMESPACE}.{name}.avsc").read_text())


def validate(name: str, record: dict[str, Any]) -> None:
    """Raise ValidationError naming the offending field if `record` doesn't match schema `name`.

    Stricter than fastavro: fields the schema doesn't know are errors too, since a producer
    that adds a field must land it in schemas/ first (the single source of truth).
    """
    schema = parsed(name)
    unknown = _unknown_fields(schema, record, name)
    if unknown:
        raise UnknownFields(name, unknown)
    _validate(record, schema, raise_errors=True, strict=True)


class UnknownFields(ValidationError):
    """Fields the schema does not define; `fields` are their paths (names, never values)."""

    def __init__(self, name: str, fields: list[str]):
        super().__init__(f"fields not in schema {name}: {', '.join(fields)}")
        self.fields = fields


def is_valid(name: str, record: dict[str, Any]) -> bool:
    try:
        validate(name, record)
    except ValidationError:
        return False
    return True


def _unknown_fields(schema: Any, value: Any, path: str) -> list[str]:
    if isinstance(schema, list):  # union: check against the record branch the value could be
        return next(
            (u for s in schema if isinstance(s, dict) and s.get("type") == "record" for u in [_unknown_fields(s, value, path)]),
            [],
        )
    if not isinstance(schema, dict) or not isinstance(value, (dict, list)):
        return []
    kind = schema.get("type")
    if kind == "record" and isinstance(value, dict):
        fields = {f["name"]: f["type"] for f in schema["fields"]}
        unknown = [f"{path}.{k}" for k in value if k not in fields]
        for k, v in value.items():
            if k in fields:
                unknown += _unknown_fields(fields[k], v, f"{path}.{k}")
        return unknown
    if kind == "array" and isinstance(value, list):
        return [u for i, v in enumerate(value) for u in _unknown_fields(schema["items"], v, f"{path}[{i}]")]
    if kind == "map" and isinstance(value, dict):
        return [u for k, v in value.items() for u in _unknown_fields(schema["values"], v, f"{path}[{k}]")]
    return []


def write_container(path: str | Path, name: str, records: list[dict[str, Any]], codec: str = "deflate") -> None:
    """Write `records` to an Avro object container file, validating each one first."""
    with open(path, "wb") as f:
        fastavro.writer(f, parsed(name), records, codec=codec, validator=True, strict=True)


def read_container(path: str | Path) -> list[dict[str, Any]]:
    with open(path, "rb") as f:
        return list(fastavro.reader(f))

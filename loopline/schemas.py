"""Avro schemas from schemas/ — the single source of truth for every record Loopline reads or writes.

Files are named `<namespace>.<Name>.avsc`, which lets fastavro resolve named types
(e.g. `loopline.Lineage`) that one schema references from another file.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import load_schema
from fastavro.validation import validate as _validate

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
NAMESPACE = "loopline"

# Topic name -> record type carried on it (JSON-encoded Avro records on the wire).
TOPIC_SCHEMAS = {
    "events.chat": "ChatEvent",
    "events.email": "EmailEvent",
    "events.ticket": "TicketEvent",
    "events.feedback": "FeedbackEvent",
    "events.deletion": "DeletionEvent",
    "deadletter": "DeadLetter",
}


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
    """Raise fastavro's ValidationError naming the offending field if `record` doesn't match schema `name`."""
    _validate(record, parsed(name), raise_errors=True, strict=True)


def is_valid(name: str, record: dict[str, Any]) -> bool:
    return _validate(record, parsed(name), raise_errors=False, strict=True)


def write_container(path: str | Path, name: str, records: list[dict[str, Any]], codec: str = "deflate") -> None:
    """Write `records` to an Avro object container file, validating each one first."""
    with open(path, "wb") as f:
        fastavro.writer(f, parsed(name), records, codec=codec, validator=True, strict=True)


def read_container(path: str | Path) -> list[dict[str, Any]]:
    with open(path, "rb") as f:
        return list(fastavro.reader(f))

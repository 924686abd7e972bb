"""Segment files: Avro containers of one record kind, partitioned by event hour; written atomically."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
from fastavro.validation import ValidationError

from loopline import schemas
from loopline.files import atomic_write, makedirs

ID_FIELDS = {"CuratedPair": "pair_id", "CuratedDocument": "doc_id", "FeedbackExample": "example_id"}
RECORD_KINDS = tuple(ID_FIELDS)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


class SegmentError(Exception):
    """A live segment that cannot be read: names the file, never its contents."""


def check_kind(kind: str) -> None:
    if kind not in ID_FIELDS:
        raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(RECORD_KINDS)}")


def validate(kind: str, record: dict, where: str) -> None:
    try:
        schemas.validate(kind, record)
    except ValidationError as e:
        raise ValueError(f"invalid {kind} record in {where}: {'; '.join(map(str, e.errors))}") from e


def bucket(kind: str, record: dict) -> tuple[str, str, str]:
    """(kind, date, hour) of the record's partition time: window start for pairs/documents, event time for feedback."""
    t = _EPOCH + event_ms(kind, record) * _MS
    return kind, t.strftime("%Y-%m-%d"), f"{t.hour:02d}"


def bucket_dir(kind: str, date: str, hour: str) -> Path:
    return Path("data", f"kind={kind}", f"date={date}", f"hour={hour}")


def event_ms(kind: str, record: dict) -> int:
    return record["event_time"] if kind == "FeedbackExample" else record["window"]["start"]


def write(root: Path, seq: int, rel_dir: Path, kind: str, records: list[dict], rewrites: str | None = None) -> dict:
    """Write one segment under root and return its manifest description."""
    rel = rel_dir / f"seg-{seq:012d}-{uuid.uuid4().hex[:12]}.avro"
    path = root / rel
    makedirs(path.parent)
    buf = io.BytesIO()
    fastavro.writer(buf, schemas.parsed(kind), records, codec="deflate")
    data = buf.getvalue()
    atomic_write(path, lambda f: f.write(data))
    times = [event_ms(kind, r) for r in records]
    segment = {
        "path": rel.as_posix(),
        "kind": kind,
        "records": len(records),
        "keys": [r[ID_FIELDS[kind]] for r in records],
        "subject_hashes": sorted({h for r in records for h in r.get("subject_hashes", ())}),
        "min_time": min(times),
        "max_time": max(times),
        "sha256": hashlib.sha256(data).hexdigest(),  # deflate blocks carry no checksum: a flipped bit could decode
    }
    if rewrites:
        segment["rewrites"] = rewrites
    return segment


def read(path: Path, name: str, sha256: str | None = None) -> Iterator[dict]:
    """Records of one segment file, checked against the manifest's checksum when it has one (segments written
    before checksums were recorded have none); FileNotFoundError passes through (a concurrent forget() rewrote it)."""
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise SegmentError(f"segment {name} does not match its manifest checksum; {FIX}")
    try:
        records = [to_millis(record) for record in fastavro.reader(io.BytesIO(data))]
    except (ValueError, EOFError, OSError, IndexError, KeyError, StopIteration) as e:
        raise SegmentError(f"segment {name} is unreadable ({type(e).__name__}); {FIX}") from None
    yield from records


FIX = "it is named by the manifest, so restore it from a backup or rebuild the dataset with `loopline replay`"


def to_millis(value: Any) -> Any:
    """fastavro decodes timestamp-millis to datetimes; give back the exact epoch millis that were written."""
    if isinstance(value, dt.datetime):
        return (value - _EPOCH) // _MS
    if isinstance(value, dict):
        return {k: to_millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_millis(v) for v in value]
    return value

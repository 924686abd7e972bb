"""Curated store: the durable home of curated records, tied to the Kafka offsets they were derived from.

Layout under root/datasets/<dataset>/:
    dataset.json                                   name, created (ms), free-form meta
    data/kind=K/date=YYYY-MM-DD/hour=HH/seg-*.avro  Avro container segments (deflate)
    manifest/<seq:012d>.json                       one entry per commit
    .lock                                          flock serialising writers (threads and processes)

A segment is live iff a manifest entry adds it and no later entry replaces it. A commit writes its
segments first and then one entry that both lists them and accounts the offsets consumed, so a crash
leaves only orphan files (ignored, removed by gc()) and a replay of accounted offsets is skipped:
each input lands exactly once. Pure Python + fastavro, so the trainer can import it without Beam.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import hashlib
import heapq
import json
import math
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import fastavro
from fastavro.validation import ValidationError

from loopline import schemas
from loopline.files import atomic_write, file_lock, makedirs, unlink

ID_FIELDS = {"CuratedPair": "pair_id", "CuratedDocument": "doc_id", "FeedbackExample": "example_id"}
KINDS = tuple(ID_FIELDS)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MS = dt.timedelta(milliseconds=1)
_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HASH = re.compile(r"[0-9a-f]{64}")

Offset = tuple[str, int, int]


def subject_hash(subject_id: str) -> str:
    """Name a subject without storing its raw id: records and manifests only ever carry this hash."""
    return hashlib.sha256(f"loopline-subject:{subject_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Unit:
    """Everything derived from one window, committed all-or-nothing together with the offsets it consumed."""

    records: dict[str, list[dict]]
    offsets: tuple[Offset, ...]
    arrivals_ms: tuple[int, ...] = ()  # Kafka timestamps of its inputs: for end-to-end latency, not stored
    links: tuple[tuple[str, str], ...] = ()  # subject-hash pairs of one person's ids (pipelines/links.py), not stored


@dataclass
class CommitResult:
    units_committed: int
    units_skipped: int
    records_written: dict[str, int]
    records_forgotten: int
    seq: int | None


class RangeSet:
    """Merged inclusive integer ranges: a partition's accounted offsets stay a handful of ranges, not 1e6 ints."""

    def __init__(self, ranges: Iterable[Iterable[int]] = ()):
        self._ranges: list[tuple[int, int]] = []
        self.add_ranges(ranges)

    def add(self, offsets: Iterable[int]) -> None:
        self.add_ranges(_runs(sorted(set(offsets))))

    def add_ranges(self, ranges: Iterable[Iterable[int]]) -> None:
        """Merge in O(batch log batch + existing ranges) with one linear pass over both sorted lists."""
        merged: list[tuple[int, int]] = []
        for first, last in heapq.merge(self._ranges, sorted((int(a), int(b)) for a, b in ranges)):
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
            else:
                merged.append((first, last))
        self._ranges = merged

    def __contains__(self, x: int) -> bool:
        i = self._covering(x)
        return i >= 0 and self._ranges[i][1] >= x

    def first_gap(self, start: int) -> int:
        """First value >= start not in the set; ranges are merged, so the end of the covering one + 1."""
        return self._ranges[self._covering(start)][1] + 1 if start in self else start

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return list(self._ranges)

    def _covering(self, x: int) -> int:
        return bisect.bisect_right(self._ranges, (x, math.inf)) - 1


def _runs(sorted_values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in sorted_values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


@dataclass
class _View:
    """The manifest folded up to `seq`; refreshed incrementally, so commits stay cheap as the manifest grows."""

    seq: int = 0
    segments: dict[str, dict] = field(default_factory=dict)  # live segments, in (seq, position) order
    accounted: dict[tuple[str, int], RangeSet] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    ids: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    dead_letters: Counter = field(default_factory=Counter)
    live: Counter = field(default_factory=Counter)  # live records by kind
    successor: dict[str, str | None] = field(default_factory=dict)  # rewritten segment -> its replacement

    def apply(self, entry: dict) -> None:
        for path in entry["replaces"]:
            seg = self.segments.pop(path)
            self.ids[seg["kind"]].difference_update(seg["keys"])
            self.live[seg["kind"]] -= seg["records"]
            self.successor[path] = None
        for seg in entry["segments"]:
            self.segments[seg["path"]] = seg
            self.ids[seg["kind"]].update(seg["keys"])
            self.live[seg["kind"]] += seg["records"]
            if "rewrites" in seg:
                self.successor[seg["rewrites"]] = seg["path"]
        for topic, parts in entry["accounted"].items():
            for partition, ranges in parts.items():
                self.accounted.setdefault((topic, int(partition)), RangeSet()).add_ranges(ranges)
        self.forgotten.update(entry["forgotten"])
        self.dead_letters.update(entry["dead_letters"])
        self.seq = entry["seq"]

    def is_accounted(self, topic: str, partition: int, offset: int) -> bool:
        ranges = self.accounted.get((topic, partition))
        return ranges is not None and offset in ranges

    def counts(self) -> dict[str, int]:
        return {k: self.live[k] for k in KINDS}


class _Batch:
    """What one commit() adds on top of the view, so units within one call also dedupe against each other."""

    def __init__(self, view: _View):
        self.view = view
        self.offsets: set[Offset] = set()
        self.ids: dict[str, set[str]] = {k: set() for k in KINDS}
        self.buckets: dict[tuple[str, str, str], list[dict]] = {}
        self.dead_letters: Counter = Counter()
        self.committed = self.skipped = self.forgotten = 0

    def accounted(self, offset: Offset) -> bool:
        return offset in self.offsets or self.view.is_accounted(*offset)

    def add_unit(self, unit: Unit) -> None:
        offsets = set(unit.offsets)
        done = [o for o in offsets if self.accounted(o)]
        if offsets and len(done) == len(offsets):
            self.skipped += 1  # re-delivered after a crash: already durable
            return
        if done:
            raise RuntimeError(f"unit has {len(done)} of {len(offsets)} offsets already accounted (e.g. {done[0]}): "
                               "the window's contents changed between runs, which windowing must never do")
        self.committed += 1
        self.offsets |= offsets
        for kind, records in unit.records.items():
            for record in records:
                self._add_record(kind, record)

    def _add_record(self, kind: str, record: dict) -> None:
        if self.view.forgotten.intersection(record.get("subject_hashes", ())):
            self.forgotten += 1
            return
        rid = record[ID_FIELDS[kind]]
        if rid in self.view.ids[kind] or rid in self.ids[kind]:
            return  # defensive: ids derive from lineage, so a duplicate is the same record again
        self.ids[kind].add(rid)
        self.buckets.setdefault(_partition(kind, record), []).append(record)

    def add_dead_letter(self, topic: str, partition: int, offset: int, reason: str) -> None:
        if not self.accounted((topic, partition, offset)):
            self.offsets.add((topic, partition, offset))
            self.dead_letters[reason] += 1

    def written(self) -> dict[str, int]:
        written = Counter({k: 0 for k in KINDS})
        for (kind, _, _), records in self.buckets.items():
            written[kind] += len(records)
        return dict(written)


class CuratedStore:
    """One dataset of the curated store; safe to share across threads, and to open from several processes."""

    def __init__(self, root: Path, dataset: str = "live"):
        if not _DATASET_NAME.fullmatch(dataset):
            raise ValueError(f"dataset name {dataset!r} must match {_DATASET_NAME.pattern}")
        self.root = Path(root)
        self.dataset = dataset
        self.path = self.root / "datasets" / dataset
        self._view = _View()
        self._mutex = threading.RLock()
        self._doc: dict | None = None

    @staticmethod
    def list_datasets(root: Path) -> list[dict]:
        base = Path(root) / "datasets"
        names = sorted(p.name for p in base.iterdir() if _DATASET_NAME.fullmatch(p.name)) if base.is_dir() else []
        stores = [CuratedStore(root, name) for name in names]
        return [store._summary() for store in stores if store.exists()]

    def exists(self) -> bool:
        return (self.path / "dataset.json").exists()

    def create(self, meta: dict, exist_ok: bool = False) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with self._flock():
            if self.exists():
                if exist_ok:
                    return
                raise FileExistsError(f"dataset {self.dataset!r} already exists at {self.path}; "
                                      "choose another name or pass exist_ok=True")
            for sub in ("data", "manifest"):
                (self.path / sub).mkdir(exist_ok=True)
            _write_json(self.path / "dataset.json", {"name": self.dataset, "created": _now_ms(), "meta": meta})

    @property
    def meta(self) -> dict:
        return self._dataset_doc()["meta"]

    def commit(self, units: list[Unit], dead_letters: Iterable[tuple[str, int, int, str]] = ()) -> CommitResult:
        units = list(units)
        for i, unit in enumerate(units):
            _validate_unit(i, unit)
        with self._locked():
            batch = _Batch(self._view)
            for unit in units:
                batch.add_unit(unit)
            for dead_letter in dead_letters:
                batch.add_dead_letter(*dead_letter)
            result = CommitResult(batch.committed, batch.skipped, batch.written(), batch.forgotten, None)
            if batch.committed or batch.dead_letters:
                seq = self._view.seq + 1
                segments = [self._write_segment(seq, _bucket_dir(*key), key[0], records)
                            for key, records in batch.buckets.items()]
                self._publish(self._entry(seq, segments, batch.offsets, dead_letters=batch.dead_letters))
                result.seq = seq
            return result

    def accounted(self) -> dict[tuple[str, int], list[tuple[int, int]]]:
        return {tp: ranges.ranges for tp, ranges in self._fresh().accounted.items()}

    def resume_offset(self, topic: str, partition: int, start: int) -> int:
        ranges = self._fresh().accounted.get((topic, partition))
        return ranges.first_gap(start) if ranges else start

    def is_accounted(self, topic: str, partition: int, offset: int) -> bool:
        return self._fresh().is_accounted(topic, partition, offset)

    def forget(self, subject_hash: str, offsets: tuple[Offset, ...] = ()) -> int:
        if not _HASH.fullmatch(subject_hash):
            raise ValueError("forget() takes subject_hash(subject_id), never a raw subject id")
        with self._locked():
            view = self._view
            new_offsets = {o for o in offsets if not view.is_accounted(*o)}
            hit = [seg for seg in view.segments.values() if subject_hash in seg["subject_hashes"]]
            if subject_hash in view.forgotten and not hit and not new_offsets:
                return 0
            seq = view.seq + 1
            added, removed = [], 0
            for seg in hit:
                records = list(self._read_segment(seg["path"]))
                keep = [r for r in records if subject_hash not in r.get("subject_hashes", ())]
                removed += len(records) - len(keep)
                if keep:
                    added.append(self._write_segment(seq, Path(seg["path"]).parent, seg["kind"], keep, seg["path"]))
            replaces = [seg["path"] for seg in hit]
            self._publish(self._entry(seq, added, new_offsets, replaces=replaces, forgotten=[subject_hash]))
            for path in replaces:  # only now: the entry no longer names them, so a crash here leaves orphans
                unlink(self.path / path)
            return removed

    def forgotten(self) -> set[str]:
        """Forgotten subject hashes, so a rebuilt dataset version can forget them too."""
        return set(self._fresh().forgotten)

    def read(self, kind: str) -> Iterator[dict]:
        _check_kind(kind)
        with self._mutex:
            pending = deque(p for p, seg in self._fresh().segments.items() if seg["kind"] == kind)
        while pending:
            path = pending.popleft()
            try:
                f = open(self.path / path, "rb")
            except FileNotFoundError:  # rewritten by a concurrent forget(): read its replacement instead
                pending.extendleft(self._replacement(path))
                continue
            with f:
                for record in fastavro.reader(f):
                    record = _to_millis(record)
                    if not self._view.forgotten.intersection(record.get("subject_hashes", ())):
                        yield record

    def counts(self) -> dict[str, int]:
        return self._fresh().counts()

    def gc(self) -> int:
        with self._locked():
            live = set(self._view.segments)
            junk = list(self.path.rglob("*.tmp"))
            junk += [p for p in (self.path / "data").rglob("*.avro") if p.relative_to(self.path).as_posix() not in live]
            for p in junk:
                p.unlink()
            return len(junk)

    # --- internals -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _flock(self) -> Iterator[None]:
        """The mutex orders this instance's threads; the file lock excludes other instances/processes."""
        with self._mutex, file_lock(self.path / ".lock"):
            yield

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not self.exists():
            raise FileNotFoundError(f"dataset {self.dataset!r} does not exist at {self.path}; create() it first")
        with self._flock():
            self._refresh()
            yield

    def _fresh(self) -> _View:
        with self._mutex:
            self._refresh()
            return self._view

    def _refresh(self) -> None:
        """Fold in entries after the last seen seq; entries are written in seq order under the lock."""
        with self._mutex:
            while True:
                try:
                    text = (self.path / "manifest" / f"{self._view.seq + 1:012d}.json").read_text()
                except FileNotFoundError:
                    return
                self._view.apply(json.loads(text))

    def _replacement(self, path: str) -> list[str]:
        with self._mutex:
            successor = self._fresh().successor
            if path not in successor:
                raise FileNotFoundError(f"live segment {path} of dataset {self.dataset!r} is missing")
            while path in successor:
                path = successor[path]
            return [path] if path else []

    def _write_segment(self, seq: int, rel_dir: Path, kind: str, records: list[dict],
                       rewrites: str | None = None) -> dict:
        rel = rel_dir / f"seg-{seq:012d}-{uuid.uuid4().hex[:12]}.avro"
        _write_avro(self.path / rel, kind, records)
        times = [_event_ms(kind, r) for r in records]
        segment = {"path": rel.as_posix(), "kind": kind, "records": len(records),
                   "keys": [r[ID_FIELDS[kind]] for r in records],
                   "subject_hashes": sorted({h for r in records for h in r.get("subject_hashes", ())}),
                   "min_time": min(times), "max_time": max(times)}
        if rewrites:
            segment["rewrites"] = rewrites
        return segment

    def _read_segment(self, path: str) -> Iterator[dict]:
        with open(self.path / path, "rb") as f:
            yield from (_to_millis(r) for r in fastavro.reader(f))

    def _entry(self, seq: int, segments: list[dict], offsets: Iterable[Offset], replaces: list[str] | None = None,
               dead_letters: Counter | None = None, forgotten: list[str] | None = None) -> dict:
        """The manifest entry; `counts` are live records by kind after it, so the newest entry sizes the dataset."""
        replaces = replaces or []
        counts = Counter(self._view.live)
        for path in replaces:
            counts[self._view.segments[path]["kind"]] -= self._view.segments[path]["records"]
        for seg in segments:
            counts[seg["kind"]] += seg["records"]
        return {"seq": seq, "created": _now_ms(), "segments": segments, "replaces": replaces,
                "accounted": _ranges_json(offsets), "dead_letters": dict(dead_letters or {}),
                "forgotten": forgotten or [], "counts": {k: counts[k] for k in KINDS}}

    def _publish(self, entry: dict) -> None:
        self._write_entry(entry)
        self._view.apply(entry)

    def _write_entry(self, entry: dict) -> None:
        _write_json(self.path / "manifest" / f"{entry['seq']:012d}.json", entry)

    def _dataset_doc(self) -> dict:
        if self._doc is None:
            self._doc = json.loads((self.path / "dataset.json").read_text())
        return self._doc

    def _summary(self) -> dict:
        doc, view = self._dataset_doc(), self._fresh()
        accounted: dict[str, dict[int, list[tuple[int, int]]]] = {}
        for (topic, partition), ranges in sorted(view.accounted.items()):
            accounted.setdefault(topic, {})[partition] = ranges.ranges
        return {"name": doc["name"], "created": doc["created"], "meta": doc["meta"], "counts": view.counts(),
                "segments": len(view.segments), "accounted": accounted, "dead_letters": dict(view.dead_letters)}


def _validate_unit(index: int, unit: Unit) -> None:
    """Reject the whole call before anything is written, naming the kind and the offending field."""
    for kind, records in unit.records.items():
        _check_kind(kind)
        for record in records:
            try:
                schemas.validate(kind, record)
            except ValidationError as e:
                raise ValueError(f"invalid {kind} record in unit {index}: {'; '.join(map(str, e.errors))}") from e


def _check_kind(kind: str) -> None:
    if kind not in ID_FIELDS:
        raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(KINDS)}")


def _event_ms(kind: str, record: dict) -> int:
    """Partition time: the window start for pairs/documents, the event itself for feedback."""
    return record["event_time"] if kind == "FeedbackExample" else record["window"]["start"]


def _partition(kind: str, record: dict) -> tuple[str, str, str]:
    t = _EPOCH + _event_ms(kind, record) * _MS
    return kind, t.strftime("%Y-%m-%d"), f"{t.hour:02d}"


def _bucket_dir(kind: str, date: str, hour: str) -> Path:
    return Path("data", f"kind={kind}", f"date={date}", f"hour={hour}")


def _to_millis(value: Any) -> Any:
    """fastavro decodes timestamp-millis to datetimes; give back the exact epoch millis that were written."""
    if isinstance(value, dt.datetime):
        return (value - _EPOCH) // _MS
    if isinstance(value, dict):
        return {k: _to_millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_millis(v) for v in value]
    return value


def _ranges_json(offsets: Iterable[Offset]) -> dict[str, dict[str, list[list[int]]]]:
    by_tp: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in offsets:
        by_tp.setdefault((topic, partition), []).append(offset)
    out: dict[str, dict[str, list[list[int]]]] = {}
    for (topic, partition), values in sorted(by_tp.items()):
        out.setdefault(topic, {})[str(partition)] = [list(r) for r in _runs(sorted(set(values)))]
    return out


def _write_avro(path: Path, kind: str, records: list[dict]) -> None:
    makedirs(path.parent)
    atomic_write(path, lambda f: fastavro.writer(f, schemas.parsed(kind), records, codec="deflate"))


def _write_json(path: Path, obj: dict) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, sort_keys=True).encode()))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000

"""One dataset of the curated store: atomic, idempotent commits of window units, and deletions.

Layout under root/datasets/<dataset>/:
    dataset.json                                   name, created (ms), free-form meta
    data/kind=K/date=YYYY-MM-DD/hour=HH/seg-*.avro  Avro container segments (deflate)
    manifest/<seq:012d>.json                       one entry per commit (manifest.py)
    .lock                                          flock serialising commits (threads and processes)
    writer.lock                                    flock of the one pipeline writing the dataset (writer.py)

A commit writes its segments first and then one entry that both lists them and accounts the offsets
consumed, so a crash leaves only leftovers (orphan segments, temp files: ignored by readers, removed by
gc(), by forget() and when a writer opens the dataset) and a replay of accounted offsets is skipped: each
input lands exactly once. Pure Python + fastavro, so the trainer can import it.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from loopline.files import atomic_write, file_lock, unlink
from loopline.store import segments
from loopline.store.manifest import View, entry_path
from loopline.store.ranges import Offset, ranges_json
from loopline.store.segments import ID_FIELDS, RECORD_KINDS
from loopline.store.snapshot import Snapshot

_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Unit:
    """Everything derived from one window, committed all-or-nothing together with the offsets it consumed."""

    records: dict[str, list[dict]]
    offsets: tuple[Offset, ...]
    arrivals_ms: tuple[int, ...] = ()  # Kafka timestamps of its inputs: for end-to-end latency, not stored
    links: tuple[tuple[str, str], ...] = ()  # subject-hash pairs of one person's ids (pipelines/links.py), not stored
    identities: tuple[tuple[str, Offset], ...] = ()  # (identity hash, offset) of its events (pipelines/identity.py)


@dataclass
class CommitResult:
    units_committed: int
    units_skipped: int
    records_written: dict[str, int]
    records_forgotten: int
    seq: int | None
    events_resent: int = 0  # events whose identity the dataset already had (or an earlier copy in this commit)


class _Batch:
    """What one commit() adds on top of the view, so units within one call also dedupe against each other."""

    def __init__(self, view: View):
        self.view = view
        self.offsets: set[Offset] = set()
        self.ids: dict[str, set[str]] = {k: set() for k in RECORD_KINDS}
        self.buckets: dict[tuple[str, str, str], list[dict]] = {}
        self.dead_letters: Counter = Counter()
        self.identities: set[str] = set()
        self.committed = self.skipped = self.forgotten = self.resent = 0

    def accounted(self, offset: Offset) -> bool:
        return offset in self.offsets or self.view.is_accounted(*offset)

    def add_unit(self, unit: Unit) -> None:
        offsets = set(unit.offsets)
        done = [o for o in offsets if self.accounted(o)]
        if offsets and len(done) == len(offsets):
            self.skipped += 1  # re-delivered after a crash: already durable
            return
        if done:
            raise RuntimeError(
                f"unit has {len(done)} of {len(offsets)} offsets already accounted (e.g. {done[0]}): "
                "the window's contents changed between runs, which windowing must never do"
            )
        self.committed += 1
        self.offsets |= offsets
        resent = self._resent(unit.identities)
        for kind, records in unit.records.items():
            for record in records:
                if resent.isdisjoint(_lineage(record)):
                    self._add_record(kind, record)

    def _resent(self, identities: tuple[tuple[str, Offset], ...]) -> set[Offset]:
        """Offsets of the events the dataset already holds (their identity is committed, or an earlier copy is in
        this commit): a re-send is accounted, counted and yields no record. New identities join the batch."""
        resent = set()
        for identity, offset in identities:
            if identity in self.view.identities or identity in self.identities:
                resent.add(tuple(offset))
            else:
                self.identities.add(identity)
        self.resent += len(resent)
        return resent

    def _add_record(self, kind: str, record: dict) -> None:
        if self.view.forgotten.intersection(record.get("subject_hashes", ())):
            self.forgotten += 1
            return
        rid = record[ID_FIELDS[kind]]
        if rid in self.view.ids[kind] or rid in self.ids[kind]:
            return  # defensive: ids derive from lineage, so a duplicate is the same record again
        self.ids[kind].add(rid)
        self.buckets.setdefault(segments.bucket(kind, record), []).append(record)

    def add_dead_letter(self, topic: str, partition: int, offset: int, reason: str) -> None:
        if not self.accounted((topic, partition, offset)):
            self.offsets.add((topic, partition, offset))
            self.dead_letters[reason] += 1

    def written(self) -> dict[str, int]:
        written = Counter({k: 0 for k in RECORD_KINDS})
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
        self._view = View()
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
                raise FileExistsError(
                    f"dataset {self.dataset!r} already exists at {self.path}; choose another name or pass exist_ok=True"
                )
            for sub in ("data", "manifest"):
                (self.path / sub).mkdir(exist_ok=True)
            _write_json(self.path / "dataset.json", {"name": self.dataset, "created": _now_ms(), "meta": meta})

    @property
    def meta(self) -> dict:
        return self._dataset_doc()["meta"]

    # --- reading -----------------------------------------------------------------------------------

    def snapshot(self, seq: int | None = None) -> Snapshot:
        """The dataset pinned at manifest entry `seq` (None: the newest), for repeatable reads."""
        self._require()
        with self._mutex:
            latest = self._fresh()
            if seq is None or seq == latest.seq:
                return Snapshot(self, latest.pinned())
            if not 0 <= seq <= latest.seq:
                raise ValueError(f"dataset {self.dataset!r} has manifest entries 0..{latest.seq}, not {seq}")
        view = View()
        view.refresh(self.path, upto=seq)
        return Snapshot(self, view)

    def read(self, kind: str) -> Iterator[dict]:
        """Every live record of `kind` as of now: the newest snapshot, read whole."""
        return self.snapshot().read(kind)

    def counts(self) -> dict[str, int]:
        return self._fresh().counts()

    def forgotten(self) -> set[str]:
        """Forgotten subject hashes, so a rebuilt dataset version (or a trainer) can forget them too."""
        return set(self._fresh().forgotten)

    def replacement(self, path: str) -> list[str]:
        """What a rewritten segment became: [] if a deletion emptied it."""
        with self._mutex:
            successor = self._fresh().successor
            if path not in successor:
                raise FileNotFoundError(f"live segment {path} of dataset {self.dataset!r} is missing")
            while path in successor:
                path = successor[path]
            return [path] if path else []

    def segment(self, path: str) -> dict:
        """The manifest's description of a live segment (FileNotFoundError: not live any more)."""
        seg = self._fresh().segments.get(path)
        if seg is None:
            raise FileNotFoundError(f"segment {path} of dataset {self.dataset!r} is not live")
        return seg

    def verify(self) -> list[str]:
        """One line per live segment that is missing, fails its checksum or does not decode: what a reader would hit."""
        problems = []
        for path, seg in sorted(self._fresh().segments.items()):
            try:
                for _ in segments.read(self.path / path, f"{self.dataset}/{path}", seg.get("sha256")):
                    pass
            except FileNotFoundError:
                problems.append(f"segment {self.dataset}/{path} is missing; {segments.FIX}")
            except segments.SegmentError as e:
                problems.append(str(e))
        return problems

    # --- offsets -----------------------------------------------------------------------------------

    def accounted(self) -> dict[tuple[str, int], list[tuple[int, int]]]:
        return {tp: ranges.ranges for tp, ranges in self._fresh().accounted.items()}

    def resume_offset(self, topic: str, partition: int, start: int) -> int:
        ranges = self._fresh().accounted.get((topic, partition))
        return ranges.first_gap(start) if ranges else start

    def is_accounted(self, topic: str, partition: int, offset: int) -> bool:
        return self._fresh().is_accounted(topic, partition, offset)

    # --- writing -----------------------------------------------------------------------------------

    def commit(self, units: list[Unit], dead_letters: Iterable[tuple[str, int, int, str]] = ()) -> CommitResult:
        units = list(units)
        for i, unit in enumerate(units):
            for kind, records in unit.records.items():
                segments.check_kind(kind)
                for record in records:
                    segments.validate(kind, record, f"unit {i}")
        with self._locked():
            batch = _Batch(self._view)
            for unit in units:
                batch.add_unit(unit)
            for dead_letter in dead_letters:
                batch.add_dead_letter(*dead_letter)
            result = CommitResult(
                batch.committed, batch.skipped, batch.written(), batch.forgotten, None, events_resent=batch.resent
            )
            if batch.committed or batch.dead_letters:
                seq = self._view.seq + 1
                segs = [
                    segments.write(self.path, seq, segments.bucket_dir(*key), key[0], records)
                    for key, records in batch.buckets.items()
                ]
                self._publish(self._entry(seq, segs, batch.offsets, dead_letters=batch.dead_letters, batch=batch))
                result.seq = seq
            return result

    def forget(self, subject_hash: str, offsets: tuple[Offset, ...] = ()) -> int:
        if not _HASH.fullmatch(subject_hash):
            raise ValueError("forget() takes subject_hash(subject_id), never a raw subject id")
        with self._locked():
            self._remove_leftovers()  # a crashed commit's files may hold the subject's records too
            view = self._view
            new_offsets = {o for o in offsets if not view.is_accounted(*o)}
            hit = [seg for seg in view.segments.values() if subject_hash in seg["subject_hashes"]]
            if subject_hash in view.forgotten and not hit and not new_offsets:
                return 0
            seq = view.seq + 1
            added, removed = [], 0
            for seg in hit:
                records = list(segments.read(self.path / seg["path"], seg["path"], seg.get("sha256")))
                keep = [r for r in records if subject_hash not in r.get("subject_hashes", ())]
                removed += len(records) - len(keep)
                if keep:
                    added.append(segments.write(self.path, seq, Path(seg["path"]).parent, seg["kind"], keep, seg["path"]))
            replaces = [seg["path"] for seg in hit]
            self._publish(self._entry(seq, added, new_offsets, replaces=replaces, forgotten=[subject_hash]))
            for path in replaces:  # only now: the entry no longer names them, so a crash here leaves orphans
                unlink(self.path / path)
            return removed

    def leftovers(self) -> list[Path]:
        """Files of writes that never landed: segments no manifest entry names, and the temp files of the store's
        own writes (the dedup index clears its own). Readers never see them, but they may hold records."""
        with self._locked():
            return self._leftovers()

    def gc(self) -> int:
        """Remove the leftovers; returns how many files. Safe beside commits, which write under the same lock."""
        with self._locked():
            return self._remove_leftovers()

    def _leftovers(self) -> list[Path]:
        live = set(self._view.segments)
        data = self.path / "data"
        temp = [*self.path.glob(".*.tmp"), *(self.path / "manifest").glob("*.tmp"), *data.rglob("*.tmp")]
        return temp + [p for p in data.rglob("*.avro") if p.relative_to(self.path).as_posix() not in live]

    def _remove_leftovers(self) -> int:
        junk = self._leftovers()
        for p in junk:
            unlink(p)
        return len(junk)

    # --- internals ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _flock(self) -> Iterator[None]:
        """The mutex orders this instance's threads; the file lock excludes other instances/processes."""
        with self._mutex, file_lock(self.path / ".lock"):
            yield

    def _require(self) -> None:
        if not self.exists():
            raise FileNotFoundError(f"dataset {self.dataset!r} does not exist at {self.path}; create() it first")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._require()
        with self._flock():
            self._view.refresh(self.path)
            yield

    def _fresh(self) -> View:
        with self._mutex:
            self._view.refresh(self.path)
            return self._view

    def _entry(
        self,
        seq: int,
        segs: list[dict],
        offsets: Iterable[Offset],
        replaces: list[str] | None = None,
        dead_letters: Counter | None = None,
        forgotten: list[str] | None = None,
        batch: _Batch | None = None,
    ) -> dict:
        """The manifest entry; `counts` are live records by kind after it, so the newest entry sizes the dataset.
        A commit's `batch` adds the identities of the events it stored and how many re-sends it met."""
        replaces = replaces or []
        counts = Counter(self._view.live)
        for path in replaces:
            counts[self._view.segments[path]["kind"]] -= self._view.segments[path]["records"]
        for seg in segs:
            counts[seg["kind"]] += seg["records"]
        return {
            "seq": seq,
            "created": _now_ms(),
            "segments": segs,
            "replaces": replaces,
            "accounted": ranges_json(offsets),
            "dead_letters": dict(dead_letters or {}),
            "forgotten": forgotten or [],
            "counts": {k: counts[k] for k in RECORD_KINDS},
            "identities": sorted(batch.identities) if batch else [],
            "resent": batch.resent if batch else 0,
        }

    def _publish(self, entry: dict) -> None:
        self._write_entry(entry)
        self._view.apply(entry)

    def _write_entry(self, entry: dict) -> None:
        _write_json(entry_path(self.path, entry["seq"]), entry)

    def _dataset_doc(self) -> dict:
        if self._doc is None:
            self._doc = json.loads((self.path / "dataset.json").read_text())
        return self._doc

    def _summary(self) -> dict:
        doc, view = self._dataset_doc(), self._fresh()
        accounted: dict[str, dict[int, list[tuple[int, int]]]] = {}
        for (topic, partition), ranges in sorted(view.accounted.items()):
            accounted.setdefault(topic, {})[partition] = ranges.ranges
        return {
            "name": doc["name"],
            "created": doc["created"],
            "meta": doc["meta"],
            "counts": view.counts(),
            "segments": len(view.segments),
            "accounted": accounted,
            "dead_letters": dict(view.dead_letters),
            "resent": view.resent,
            "seq": view.seq,
        }


def _lineage(record: dict) -> set[Offset]:
    return {(s["topic"], s["partition"], s["offset"]) for s in record.get("lineage") or ()}


def _write_json(path: Path, obj: dict) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, sort_keys=True).encode()))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000

"""The manifest: one JSON entry per commit, `manifest/<seq:012d>.json`, folded in seq order into a view.

A segment is live iff an entry adds it and no later entry replaces it. Entries are written in seq order
under the dataset's lock, so any prefix of them is a consistent dataset: a snapshot is a fold up to a seq.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from loopline.store.ranges import RangeSet
from loopline.store.segments import RECORD_KINDS


def subject_hash(subject_id: str) -> str:
    """Name a subject without storing its raw id: records and manifests only ever carry this hash."""
    return hashlib.sha256(f"loopline-subject:{subject_id}".encode()).hexdigest()


def entry_path(dataset_dir: Path, seq: int) -> Path:
    return dataset_dir / "manifest" / f"{seq:012d}.json"


@dataclass
class View:
    """The manifest folded up to `seq`; refreshed incrementally, so commits stay cheap as the manifest grows."""

    seq: int = 0
    segments: dict[str, dict] = field(default_factory=dict)  # live segments, in (seq, position) order
    origin: dict[str, int] = field(default_factory=dict)  # live segment -> seq that first committed its records
    accounted: dict[tuple[str, int], RangeSet] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    ids: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in RECORD_KINDS})
    dead_letters: Counter = field(default_factory=Counter)
    live: Counter = field(default_factory=Counter)  # live records by kind
    successor: dict[str, str | None] = field(default_factory=dict)  # rewritten segment -> its replacement
    identities: set[str] = field(default_factory=set)  # identity hashes of the events committed (pipelines/identity.py)
    resent: int = 0  # re-sent events met by commits: accounted, never stored

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
                self.origin[seg["path"]] = self.origin.pop(seg["rewrites"], entry["seq"])
            else:
                self.origin[seg["path"]] = entry["seq"]
        for path in entry["replaces"]:
            self.origin.pop(path, None)
        for topic, parts in entry["accounted"].items():
            for partition, ranges in parts.items():
                self.accounted.setdefault((topic, int(partition)), RangeSet()).add_ranges(ranges)
        self.forgotten.update(entry["forgotten"])
        self.identities.update(entry.get("identities", ()))  # entries written before identities had none
        self.resent += entry.get("resent", 0)
        self.dead_letters.update(entry["dead_letters"])
        self.seq = entry["seq"]

    def refresh(self, dataset_dir: Path, upto: int | None = None) -> None:
        """Fold in the entries after `seq`, up to `upto` (None: all there are)."""
        while upto is None or self.seq < upto:
            try:
                text = entry_path(dataset_dir, self.seq + 1).read_text()
            except FileNotFoundError:
                return
            self.apply(json.loads(text))

    def pinned(self) -> View:
        """A copy that later folds do not change (segments and origins only: what reading needs)."""
        return View(
            seq=self.seq,
            segments=dict(self.segments),
            origin=dict(self.origin),
            forgotten=set(self.forgotten),
            live=Counter(self.live),
            successor=dict(self.successor),
        )

    def is_accounted(self, topic: str, partition: int, offset: int) -> bool:
        ranges = self.accounted.get((topic, partition))
        return ranges is not None and offset in ranges

    def counts(self) -> dict[str, int]:
        return {k: self.live[k] for k in RECORD_KINDS}

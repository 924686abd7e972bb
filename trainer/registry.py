"""The adapter registry: every trained adapter version on disk with its card, the promoted pointer, the cursors.

Layout under the root:
    versions/<v>/card.json      the card (written last: a version dir without one is an unfinished cycle, ignored)
    versions/<v>/subjects.txt   subject hashes it trained on, one a line (thousands: kept out of the card)
    versions/<v>/adapter/       the weights, written by the trainer
    current.json                the served version, or {"version": null}: the base model
    state.json                  the trainer's cursor (last consumed manifest seq) per dataset
    .lock                       held by one trainer for a whole cycle (pid inside, for the busy message)
    .mutex                      held for each read-modify-write of the files above, across processes
Every file is replaced atomically; current.json is the commit point of promote and rollback, and card
statuses are settled from it, so a crash between the two is repaired by the next lock() or move.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

from loopline.files import atomic_write, file_lock, makedirs

Status = Literal["candidate", "promoted", "rejected", "retired"]
_VERSION = re.compile(r"v(\d{4,})")


class RegistryBusy(RuntimeError):
    """Another trainer holds the registry's lock."""


@dataclass
class AdapterCard:
    """One adapter version: what it was trained from and on, how it scored, and why it has its status."""

    version: str
    status: Status
    created_ms: int
    parent: str | None  # the adapter it continued from; None: the base model
    base_model: str
    method: str
    config: dict
    metrics: dict  # {"base": {...}, "current": {...}, "candidate": {...}}
    reason: str  # the gate's decision
    lineage: dict  # dataset, reads, data_hash, counts, sft/kto step info
    subject_hashes: list[str] = field(default_factory=list)  # stored in subjects.txt, not card.json
    holds_forgotten: bool = False
    history: list[dict] = field(default_factory=list)  # [{time, event, reason}]

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "subject_hashes"}

    @classmethod
    def from_json(cls, doc: dict, subject_hashes: list[str]) -> AdapterCard:
        names = {f.name for f in fields(cls)} - {"subject_hashes"}
        return cls(**{k: v for k, v in doc.items() if k in names}, subject_hashes=subject_hashes)

    def record(self, event: str, reason: str) -> None:
        self.history.append({"time": _now_ms(), "event": event, "reason": reason})


class AdapterRegistry:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._subjects_cache: dict[str, tuple[tuple[int, int], frozenset[str]]] = {}

    # --- the trainer's lock -------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive for a whole cycle, across processes and instances; a second holder fails at once."""
        makedirs(self.root)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise RegistryBusy(
                    f"adapter registry {self.root} is in use by another trainer (pid {holder}); "
                    "wait for its cycle to end or stop it"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            with self._mutex():
                self._settle("repaired after an interrupted promote or rollback")
            yield
        finally:
            os.close(fd)  # releases the flock

    # --- versions ------------------------------------------------------------------------------------

    def new_version(self) -> str:
        """The next version name, reserved by creating its directory (never reused, even if the cycle dies)."""
        makedirs(self.root / "versions")
        n = max(self._numbers(), default=0) + 1
        while True:
            version = f"v{n:04d}"
            try:
                (self.root / "versions" / version).mkdir()
                return version
            except FileExistsError:
                n += 1

    def adapter_dir(self, version: str) -> Path:
        return self._dir(version) / "adapter"

    def save(self, card: AdapterCard) -> None:
        """Subjects first, then the card: a card on disk always has its subjects."""
        path = self._dir(card.version)
        makedirs(path)
        if not card.history:
            card.record(card.status, card.reason)
        subjects = "".join(f"{s}\n" for s in sorted(card.subject_hashes)).encode()
        atomic_write(path / "subjects.txt", lambda f: f.write(subjects))
        self._write_card(card)

    def get(self, version: str) -> AdapterCard | None:
        """The card, or None when the version has none (an unfinished or crashed cycle)."""
        try:
            doc = json.loads((self._dir(version) / "card.json").read_text())
        except FileNotFoundError:
            return None
        return AdapterCard.from_json(doc, sorted(self._subjects(version)))

    def list(self) -> list[AdapterCard]:
        """Every version with a card, oldest first."""
        cards = (self.get(f"v{n:04d}") for n in sorted(self._numbers()))
        return [c for c in cards if c is not None]

    def current(self) -> AdapterCard | None:
        """The promoted adapter; None: the base model is served."""
        version = self._pointer()
        if version is None:
            return None
        card = self.get(version)
        if card is None:
            raise ValueError(f"current.json in {self.root} names {version}, which has no card")
        return card

    # --- moves ---------------------------------------------------------------------------------------

    def promote(self, version: str, reason: str) -> None:
        """Serve `version`; the one served before is retired."""
        with self._mutex():
            card = self._require(version)
            if card.holds_forgotten:
                raise ValueError(f"{version} trained on subjects forgotten since; it cannot be served")
            if not self._has_weights(version):
                raise ValueError(f"{version} has no adapter weights in {self.adapter_dir(version)}")
            self._point(version, reason)
            self._settle(reason)

    def rollback(self, reason: str) -> AdapterCard | None:
        """Reject the served adapter and serve the newest earlier one that was served before, still has its
        weights and holds no forgotten data; None when there is none: the base model is served.
        Rejected, not retired: a later rollback must never bring a rolled-back adapter back."""
        with self._mutex():
            current = self._pointer()
            if current is None:
                return None
            earlier = [
                c
                for c in self.list()
                if _number(c.version) < _number(current)
                and c.status in ("promoted", "retired")
                and not c.holds_forgotten
                and self._has_weights(c.version)
            ]
            target = earlier[-1].version if earlier else None
            rolled_back = self._require(current)
            rolled_back.status = "rejected"  # before current.json moves: a crash here is settled back to promoted
            rolled_back.record("rolled back", reason)
            self._write_card(rolled_back)
            self._point(target, reason)
            self._settle(reason)
            return self.get(target) if target else None

    def reject(self, version: str, reason: str) -> None:
        with self._mutex():
            card = self._require(version)
            if version == self._pointer():
                raise ValueError(f"{version} is being served: roll back instead of rejecting it")
            card.status = "rejected"
            card.record("rejected", reason)
            self._write_card(card)

    def mark_forgotten(self, subject_hashes: set[str]) -> list[str]:
        """Mark every version that trained on any of these subjects; returns them all (marked before or now)."""
        hit = []
        with self._mutex():
            for card in self.list():
                if card.holds_forgotten:
                    hit.append(card.version)
                    continue
                n = len(self._subjects(card.version) & subject_hashes)
                if n:
                    card.holds_forgotten = True
                    card.record("forgotten", f"trained on {n} subject(s) forgotten since")
                    self._write_card(card)
                    hit.append(card.version)
        return hit

    # --- cursors -------------------------------------------------------------------------------------

    def cursor(self, dataset: str) -> int:
        """The last manifest seq of `dataset` a cycle consumed; 0: none yet."""
        return self._state().get("cursors", {}).get(dataset, 0)

    def set_cursor(self, dataset: str, seq: int) -> None:
        if seq < 0:
            raise ValueError(f"a cursor is a manifest seq >= 0, not {seq}")
        with self._mutex():
            state = self._state()
            state.setdefault("cursors", {})[dataset] = seq
            _write_json(self.root / "state.json", state)

    # --- internals -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _mutex(self) -> Iterator[None]:
        makedirs(self.root)
        with file_lock(self.root / ".mutex"):
            yield

    def _dir(self, version: str) -> Path:
        if not _VERSION.fullmatch(version):
            raise ValueError(f"adapter version {version!r} is not of the form v0001")
        return self.root / "versions" / version

    def _numbers(self) -> list[int]:
        base = self.root / "versions"
        return [_number(p.name) for p in base.iterdir() if _VERSION.fullmatch(p.name)] if base.is_dir() else []

    def _require(self, version: str) -> AdapterCard:
        card = self.get(version)
        if card is None:
            known = ", ".join(c.version for c in self.list()) or "none"
            raise ValueError(f"no adapter {version} in {self.root} (versions: {known})")
        return card

    def _subjects(self, version: str) -> frozenset[str]:
        """Read once per process while the file is unchanged: mark_forgotten checks every version each poll."""
        path = self._dir(version) / "subjects.txt"
        try:
            st = path.stat()
        except FileNotFoundError:
            return frozenset()
        key = (st.st_mtime_ns, st.st_size)
        cached = self._subjects_cache.get(version)
        if cached is None or cached[0] != key:
            cached = (key, frozenset(path.read_text().split()))
            self._subjects_cache[version] = cached
        return cached[1]

    def _write_card(self, card: AdapterCard) -> None:
        """The card alone: a status change leaves subjects.txt as it is."""
        _write_json(self._dir(card.version) / "card.json", card.to_json())

    def _has_weights(self, version: str) -> bool:
        weights = self.adapter_dir(version)
        return weights.is_dir() and any(weights.iterdir())

    def _pointer(self) -> str | None:
        try:
            return json.loads((self.root / "current.json").read_text())["version"]
        except FileNotFoundError:
            return None

    def _point(self, version: str | None, reason: str) -> None:
        _write_json(
            self.root / "current.json",
            {"version": version, "reason": reason, "time": _now_ms(), "serves": version or "the base model"},
        )

    def _settle(self, reason: str) -> None:
        """Card statuses follow current.json: the version it names is promoted, any other promoted one retired."""
        served = self._pointer()
        for card in self.list():
            if card.version == served and card.status != "promoted":
                card.status = "promoted"
                card.record("promoted", reason)
                self._write_card(card)
            elif card.version != served and card.status == "promoted":
                card.status = "retired"
                card.record("retired", f"{reason} (now serving {served or 'the base model'})")
                self._write_card(card)

    def _state(self) -> dict:
        try:
            return json.loads((self.root / "state.json").read_text())
        except FileNotFoundError:
            return {}


def _number(version: str) -> int:
    return int(_VERSION.fullmatch(version).group(1))


def _write_json(path: Path, doc: dict) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(doc, indent=1, sort_keys=True).encode()))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000

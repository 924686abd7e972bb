"""Links between the ids of one person, so a deletion reaches the person and not just the id it names.

A person is known by several ids (a customer id, one or two email addresses). The pipeline records the
links it observes, as subject hashes only (loopline.store.subject_hash: never a raw id):
    a ticket event's author_id <-> its author_email   (pipelines/sink.py, when the unit is committed)
    a deletion's subject_id <-> each of its linked_ids (pipelines/sink.py, when the deletion is applied)
A deletion forgets the whole connected component of the id it names. A link observed later that touches
a forgotten component makes the newly linked ids forgotten too: add() returns them, and the caller
forgets them everywhere (store, history, dedup index, dead letters).

Both happen in one SQLite transaction (BEGIN IMMEDIATE), so whichever of a deletion and a new link comes
first, the outcome is the same: the link's ids end up forgotten.

One SQLite database per dataset, `<store_root>/datasets/<dataset>/links/links.sqlite` (beside the thread
history), WAL mode, synchronous=FULL, safe across threads and processes on one machine.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

FILE = "links.sqlite"
BUSY_TIMEOUT_S = 120.0
_HASH = re.compile(r"[0-9a-f]{64}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS links (a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS forgotten (subject TEXT PRIMARY KEY) WITHOUT ROWID;
"""


def links_dir(dataset_dir: str | Path) -> Path:
    return Path(dataset_dir) / "links"


def _check(hashes: Iterable[str]) -> list[str]:
    hashes = list(hashes)
    for h in hashes:
        if not _HASH.fullmatch(h):
            raise ValueError("links take subject_hash(id), never a raw id")
    return hashes


class PersonLinks:
    """The id links of one dataset."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / FILE
        self._mutex = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        with self._mutex:
            self._db.executescript(_SCHEMA)

    def add(self, pairs: Iterable[tuple[str, str]]) -> set[str]:
        """Record links; returns the ids that are forgotten from now on because a link joined them to a
        forgotten person (already marked forgotten here: the caller forgets them everywhere else)."""
        pairs = sorted({tuple(sorted(p)) for p in pairs if p[0] != p[1]})
        for a, b in pairs:
            _check((a, b))
        if not pairs:
            return set()
        with self._transaction() as db:
            new = [p for p in pairs if not db.execute("SELECT 1 FROM links WHERE a = ? AND b = ?", p).fetchone()]
            if not new:
                return set()
            db.executemany("INSERT OR IGNORE INTO links (a, b) VALUES (?, ?)", new)
            touched = {h for p in new for h in p}
            forgotten = self._forgotten_among(db, touched)
            if not forgotten:
                return set()
            component = self._component(db, forgotten)
            fresh = component - self._forgotten_among(db, component)
            db.executemany("INSERT OR IGNORE INTO forgotten (subject) VALUES (?)", [(h,) for h in sorted(fresh)])
            return fresh

    def forget(self, subject: str, linked: Iterable[str] = ()) -> set[str]:
        """A deletion of `subject` (with the ids the request links to it): records those links, marks the whole
        connected component forgotten and returns it (the subject included)."""
        linked = _check([subject, *linked])[1:]
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO links (a, b) VALUES (?, ?)", [tuple(sorted((subject, h))) for h in linked if h != subject]
            )
            component = self._component(db, {subject, *linked})
            db.executemany("INSERT OR IGNORE INTO forgotten (subject) VALUES (?)", [(h,) for h in sorted(component)])
            return component

    def component(self, subject: str) -> set[str]:
        with self._mutex:
            return self._component(self._db, {subject})

    def forgotten(self) -> set[str]:
        with self._mutex:
            return {s for (s,) in self._db.execute("SELECT subject FROM forgotten")}

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    # --- internals ---------------------------------------------------------------------------------

    @staticmethod
    def _component(db: sqlite3.Connection, start: set[str]) -> set[str]:
        seen, frontier = set(start), list(start)
        while frontier:
            chunk, frontier = frontier[:400], frontier[400:]
            marks = ",".join("?" * len(chunk))
            for a, b in db.execute(f"SELECT a, b FROM links WHERE a IN ({marks}) OR b IN ({marks})", chunk + chunk):
                for h in (a, b):
                    if h not in seen:
                        seen.add(h)
                        frontier.append(h)
        return seen

    @staticmethod
    def _forgotten_among(db: sqlite3.Connection, hashes: set[str]) -> set[str]:
        hashes = sorted(hashes)
        out = set()
        for at in range(0, len(hashes), 500):
            chunk = hashes[at : at + 500]
            out |= {
                s for (s,) in db.execute(f"SELECT subject FROM forgotten WHERE subject IN ({','.join('?' * len(chunk))})", chunk)
            }
        return out

    def _transaction(self):
        links = self

        class _Tx:
            def __enter__(self):
                links._mutex.acquire()
                links._db.execute("BEGIN IMMEDIATE")
                return links._db

            def __exit__(self, exc_type, *_):
                try:
                    links._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
                finally:
                    links._mutex.release()

        return _Tx()

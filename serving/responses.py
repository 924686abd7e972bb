"""The durable log of served responses: what a later thumbs up/down refers to (prompt, answer, adapter version).

SQLite under the loopline home. A rating is claimed before its event is published and released if publishing
fails, so two concurrent ratings of one response never both publish, and a failed one can be retried.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from loopline.files import makedirs

PENDING = "pending"


@dataclass
class ServedResponse:
    response_id: str
    prompt: str
    response: str
    adapter_version: str
    created_ms: int
    rating: str | None


class UnknownResponse(LookupError):
    pass


class AlreadyRated(RuntimeError):
    pass


class ResponseLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        makedirs(self.path.parent)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (response_id TEXT PRIMARY KEY, prompt TEXT NOT NULL, "
            "response TEXT NOT NULL, adapter_version TEXT NOT NULL, created_ms INTEGER NOT NULL, "
            "rating TEXT, rated_ms INTEGER)"
        )
        # a rating claimed by a process that died mid-publish: it never got its answer, so it may rate again
        self._db.execute("UPDATE responses SET rating = NULL WHERE rating = ?", (PENDING,))

    def add(self, response_id: str, prompt: str, response: str, adapter_version: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO responses (response_id, prompt, response, adapter_version, created_ms) VALUES (?, ?, ?, ?, ?)",
                (response_id, prompt, response, adapter_version, _now_ms()),
            )

    def get(self, response_id: str) -> ServedResponse | None:
        with self._lock:
            row = self._db.execute(
                "SELECT response_id, prompt, response, adapter_version, created_ms, rating FROM responses WHERE response_id = ?",
                (response_id,),
            ).fetchone()
        return ServedResponse(*row) if row else None

    def claim(self, response_id: str) -> ServedResponse:
        """Mark the response as being rated; UnknownResponse / AlreadyRated (also while another rating is pending)."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE responses SET rating = ? WHERE response_id = ? AND rating IS NULL", (PENDING, response_id)
            )
            claimed = cur.rowcount == 1
        served = self.get(response_id)
        if served is None:
            raise UnknownResponse(response_id)
        if not claimed:
            raise AlreadyRated(response_id)
        return served

    def settle(self, response_id: str, rating: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE responses SET rating = ?, rated_ms = ? WHERE response_id = ?", (rating, _now_ms(), response_id)
            )

    def release(self, response_id: str) -> None:
        """Undo a claim whose event was not published: the response stays un-rated."""
        with self._lock:
            self._db.execute("UPDATE responses SET rating = NULL WHERE response_id = ? AND rating = ?", (response_id, PENDING))

    def prune(self, older_than_s: float) -> int:
        with self._lock:
            cur = self._db.execute("DELETE FROM responses WHERE created_ms < ?", (_now_ms() - int(older_than_s * 1000),))
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000

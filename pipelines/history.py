"""Thread history: every curated message of every thread of a dataset, so a thread that resumes in a
later session window (a ticket answered the next day, an email reply a week later) still pairs its
answer with the question asked in an earlier window.

Beam-free: the pairs stage (pipelines/pairs.py) turns Events into HistoryMessages (pipelines/model.py)
and back; the deletion path (pipelines/sink.py) calls forget().

One SQLite database per dataset, `<store_root>/datasets/<dataset>/history/threads.sqlite` (beside the
dedup index; a replay builds its own), in WAL mode: several worker processes on one machine may read
and write it at once (writes take the write lock with BEGIN IMMEDIATE and wait up to BUSY_TIMEOUT_S).

    messages      one row per curated message, unique by Kafka coordinates (topic, partition, offset):
                  thread key, window end, event time, kind, role, author (a hash, never the raw id),
                  ticket event type, email message-id / in-reply-to / recipients (hashes), the text as curation left
                  it, usable-or-not, PII counts, the subject hashes of everyone in the thread up to its window,
                  the event's identity hash (pipelines/identity.py: a later copy of it is a re-send)
    participants  (subject hash, message row): which rows forget() removes
    forgotten     subject hashes forgotten: their messages are never recorded again

Deletion leaves no copy behind: `secure_delete` overwrites deleted rows (and freed pages) with zeros,
and forget() then checkpoints the WAL and truncates it to zero bytes, so older page images in the log
go too. Writes are synchronous=FULL: a committed write survives a crash of the process or the machine.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from pipelines.model import Coordinates, HistoryMessage

FILE = "threads.sqlite"
BUSY_TIMEOUT_S = 120.0
_FORMAT = 2  # 2: messages.identity (format 1 files gain the column, NULL in their rows)
_HASH = re.compile(r"[0-9a-f]{64}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id              INTEGER PRIMARY KEY,
    thread_key      TEXT    NOT NULL,
    topic           TEXT    NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset    INTEGER NOT NULL,
    window_end_ms   INTEGER NOT NULL,
    event_time_ms   INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    role            TEXT,
    author          TEXT    NOT NULL,
    event_type      TEXT,
    message_ref     TEXT,
    reply_to_ref    TEXT,
    recipients      TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    usable          INTEGER NOT NULL,
    pii_counts      TEXT    NOT NULL,
    subjects        TEXT    NOT NULL,
    identity        TEXT,
    UNIQUE (topic, kafka_partition, kafka_offset)
);
CREATE INDEX IF NOT EXISTS messages_by_thread ON messages (thread_key, window_end_ms);
CREATE TABLE IF NOT EXISTS participants (
    subject TEXT    NOT NULL,
    message INTEGER NOT NULL,
    PRIMARY KEY (subject, message)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS participants_by_message ON participants (message);
CREATE TABLE IF NOT EXISTS forgotten (subject TEXT PRIMARY KEY) WITHOUT ROWID;
"""

_COLUMNS = (
    "thread_key, topic, kafka_partition, kafka_offset, window_end_ms, event_time_ms, kind, role, author, "
    "event_type, message_ref, reply_to_ref, recipients, text, usable, pii_counts, subjects, identity"
)


def history_dir(dataset_dir: str | Path) -> Path:
    """Where a dataset's thread history lives (`dataset_dir` = CuratedStore(root, dataset).path)."""
    return Path(dataset_dir) / "history"


class ThreadHistory:
    """The thread history of one dataset. Safe across threads (one connection, serialised) and across
    instances and processes on one machine (SQLite locking)."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / FILE
        self._mutex = threading.RLock()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, _FORMAT):
                raise ValueError(f"thread history {self.path} has format {version}, this code reads {_FORMAT}")
            if version == 1:
                db.execute("ALTER TABLE messages ADD COLUMN identity TEXT")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {_FORMAT}")

    # --- reading -----------------------------------------------------------------------------------

    def earlier(self, key: str, before_end_ms: int, exclude: Iterable[tuple[str, int, int]] = ()) -> list[HistoryMessage]:
        """The messages of thread `key` curated in windows that ended before `before_end_ms`, in event order,
        leaving out those at the coordinates in `exclude` (the current thread's own messages). Windows that
        end later are never seen, so re-processing a window after a crash reads the same history even when
        later windows were already recorded."""
        exclude = {Coordinates(*c) for c in exclude}
        with self._mutex:
            rows = (
                self._conn()
                .execute(
                    f"SELECT {_COLUMNS} FROM messages WHERE thread_key = ? AND window_end_ms < ? "
                    "ORDER BY event_time_ms, topic, kafka_partition, kafka_offset",
                    (key, before_end_ms),
                )
                .fetchall()
            )
        out = [_message(row) for row in rows]
        return [m for m in out if m.source not in exclude]

    def __len__(self) -> int:
        with self._mutex:
            return self._conn().execute("SELECT count(*) FROM messages").fetchone()[0]

    def forgotten(self) -> set[str]:
        with self._mutex:
            return {s for (s,) in self._conn().execute("SELECT subject FROM forgotten")}

    # --- writing -----------------------------------------------------------------------------------

    def record(self, messages: Iterable[HistoryMessage]) -> int:
        """Insert or update (by coordinates) these messages in one transaction; returns how many were
        written. A message whose thread included a forgotten subject is not written."""
        messages = list(messages)
        if not messages:
            return 0
        written = 0
        with self._write() as db:
            subjects = sorted({s for m in messages for s in m.subjects})
            forgotten = (
                {
                    s
                    for (s,) in db.execute(
                        f"SELECT subject FROM forgotten WHERE subject IN ({','.join('?' * len(subjects))})", subjects
                    )
                }
                if subjects
                else set()
            )
            for m in messages:
                if forgotten.intersection(m.subjects):
                    continue
                db.execute(
                    f"INSERT INTO messages ({_COLUMNS}) VALUES ({','.join('?' * 18)}) "
                    "ON CONFLICT (topic, kafka_partition, kafka_offset) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[4:]),
                    _row(m),
                )
                (row_id,) = db.execute(
                    "SELECT id FROM messages WHERE topic = ? AND kafka_partition = ? AND kafka_offset = ?", tuple(m.source)
                ).fetchone()
                db.execute("DELETE FROM participants WHERE message = ?", (row_id,))
                db.executemany(
                    "INSERT INTO participants (subject, message) VALUES (?, ?)", [(s, row_id) for s in sorted(set(m.subjects))]
                )
                written += 1
        return written

    def forget(self, subject_hash: str) -> int:
        """Remove every message whose thread included this subject, keep it out from now on, and leave no
        copy of the removed text in any file of the history. Returns how many messages were removed."""
        return self.forget_many([subject_hash])

    def forget_many(self, subject_hashes: Iterable[str]) -> int:
        hashes = sorted(set(subject_hashes))
        for h in hashes:
            if not _HASH.fullmatch(h):
                raise ValueError("forget() takes subject_hash(subject_id), never a raw subject id")
        if not hashes:
            return 0
        with self._write() as db:
            db.executemany("INSERT OR IGNORE INTO forgotten (subject) VALUES (?)", [(h,) for h in hashes])
            ids = sorted(
                {
                    i
                    for at in range(0, len(hashes), 500)
                    for (i,) in db.execute(
                        f"SELECT message FROM participants WHERE subject IN ({','.join('?' * len(hashes[at : at + 500]))})",
                        hashes[at : at + 500],
                    )
                }
            )
            for at in range(0, len(ids), 500):
                chunk = ids[at : at + 500]
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM participants WHERE message IN ({marks})", chunk)
                db.execute(f"DELETE FROM messages WHERE id IN ({marks})", chunk)
        self._truncate_log()
        return len(ids)

    def close(self) -> None:
        with self._mutex:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> ThreadHistory:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError("ThreadHistory is closed")
        return self._db

    def _write(self):
        return _Transaction(self)

    def _truncate_log(self) -> None:
        """Copy the WAL into the database and truncate it to zero bytes: until then it may still hold page
        images with deleted rows. It waits for other connections to finish what they are doing."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            with self._mutex:
                busy, _, _ = self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not checkpoint {self.path}: another connection kept it busy")
            time.sleep(0.05)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) under the instance's mutex."""

    def __init__(self, history: ThreadHistory):
        self.history = history

    def __enter__(self) -> sqlite3.Connection:
        self.history._mutex.acquire()
        try:
            db = self.history._conn()
            db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.history._mutex.release()
            raise
        return db

    def __exit__(self, exc_type, *_) -> None:
        db = self.history._conn()
        try:
            if exc_type is None:
                try:
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            else:
                db.execute("ROLLBACK")
        finally:
            self.history._mutex.release()


def _row(m: HistoryMessage) -> tuple:
    return (
        m.key,
        m.source.topic,
        m.source.partition,
        m.source.offset,
        m.window_end_ms,
        m.event_time_ms,
        m.kind,
        m.role,
        m.author,
        m.event_type,
        m.message_ref,
        m.reply_to_ref,
        ",".join(m.recipients),
        m.text,
        int(m.usable),
        json.dumps([list(p) for p in m.pii_counts]),
        ",".join(sorted(set(m.subjects))),
        m.identity,
    )


def _message(row: tuple) -> HistoryMessage:
    (
        key,
        topic,
        partition,
        offset,
        window_end,
        event_time,
        kind,
        role,
        author,
        event_type,
        message_ref,
        reply_to_ref,
        recipients,
        text,
        usable,
        pii_counts,
        subjects,
        identity,
    ) = row
    return HistoryMessage(
        key,
        Coordinates(topic, partition, offset),
        window_end,
        event_time,
        kind,
        role,
        author,
        text,
        bool(usable),
        event_type,
        message_ref,
        reply_to_ref,
        tuple(r for r in recipients.split(",") if r),
        tuple((k, n) for k, n in json.loads(pii_counts)),
        tuple(s for s in subjects.split(",") if s),
        identity,
    )

"""The thread history (pipelines/history.py): reading back earlier windows, idempotent upserts, several
processes at once, and deletion that leaves no byte of the subject's text in any file."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from loopline.config import PairsConfig
from loopline.store import CuratedStore, subject_hash
from pipelines.history import ThreadHistory, history_dir
from pipelines.model import Coordinates, HistoryMessage

ANNA, BEN, AGENT = subject_hash("anna@example.com"), subject_hash("ben@example.com"), subject_hash("agent-007")


def _message(
    offset: int,
    key: str = "email:t1",
    window_end: int = 10_000,
    text: str = "hello",
    subjects=(ANNA, AGENT),
    role: str = "customer",
    topic: str = "events.email",
) -> HistoryMessage:
    return HistoryMessage(
        key=key,
        source=Coordinates(topic, 0, offset),
        window_end_ms=window_end,
        event_time_ms=window_end - 5_000 + offset,
        kind="email",
        role=role,
        author=f"author-{role}",
        text=text,
        usable=True,
        message_ref=f"ref-{offset}",
        recipients=("r1", "r2"),
        pii_counts=(("PERSON", 1),),
        subjects=tuple(subjects),
    )


def _bytes_under(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_earlier_reads_only_windows_that_ended_before_in_event_order(tmp_path):
    with ThreadHistory(tmp_path) as h:
        h.record(
            [
                _message(2, window_end=10_000),
                _message(1, window_end=10_000),
                _message(3, window_end=20_000),
                _message(4, key="email:other", window_end=10_000),
            ]
        )
        assert [m.source.offset for m in h.earlier("email:t1", 20_000)] == [1, 2]
        assert [m.source.offset for m in h.earlier("email:t1", 20_001)] == [1, 2, 3]
        assert h.earlier("email:t1", 10_000) == []
        assert [m.source.offset for m in h.earlier("email:t1", 30_000, exclude=[("events.email", 0, 2)])] == [1, 3]
        back = h.earlier("email:t1", 20_000)[0]
        assert back == _message(1, window_end=10_000)  # every field round-trips


def test_record_is_an_idempotent_upsert_by_coordinates(tmp_path):
    with ThreadHistory(tmp_path) as h:
        assert h.record([_message(1), _message(2)]) == 2
        assert h.record([_message(1), _message(2)]) == 2
        assert len(h) == 2
        h.record([_message(1, text="hello again", subjects=(BEN, AGENT))])
        assert len(h) == 2 and h.earlier("email:t1", 99_999)[0].text == "hello again"
        assert h.forget(ANNA) == 1  # the participants were replaced with the row: message 1 is now BEN's only
        assert [m.source.offset for m in h.earlier("email:t1", 99_999)] == [1]


def test_forget_removes_the_subjects_rows_and_keeps_them_out(tmp_path):
    with ThreadHistory(tmp_path) as h:
        h.record([_message(1), _message(2, subjects=(BEN, AGENT)), _message(3, key="email:t2")])
        assert h.forget(ANNA) == 2
        assert [m.source.offset for m in h.earlier("email:t1", 99_999)] == [2]
        assert h.earlier("email:t2", 99_999) == []
        assert h.record([_message(5), _message(6, subjects=(BEN,))]) == 1  # ANNA's window is never recorded again
        assert [m.source.offset for m in h.earlier("email:t1", 99_999)] == [2, 6]
        assert h.forget(ANNA) == 0 and ANNA in h.forgotten()
        with pytest.raises(ValueError, match="subject_hash"):
            h.forget("anna@example.com")


def test_after_forget_no_file_under_the_history_holds_the_subjects_text(tmp_path):
    """Raw bytes, not the API: deleted rows must be overwritten in the database file, and the WAL (which
    keeps older page images) must not keep a copy either. Texts long enough for overflow pages, many rows
    so deletion frees and rewrites pages, and a second open connection (another worker) during it all."""
    anna_text = "ANNA-SECRET-" + "zebra quartz " * 600  # ~8 KB: overflow pages
    ben_text = "BEN-KEPT-" + "maple river " * 40
    directory = history_dir(tmp_path / "datasets" / "live")
    with ThreadHistory(directory) as h, ThreadHistory(directory) as other_worker:
        for i in range(300):
            h.record(
                [
                    _message(3 * i, key=f"email:t{i % 37}", text=f"{anna_text} #{i}"),
                    _message(3 * i + 1, key=f"email:t{i % 37}", text=f"{ben_text} #{i}", subjects=(BEN, AGENT)),
                    _message(3 * i + 2, key=f"email:t{i % 37}", text=f"short anna note ANNA-SHORT-{i}"),
                ]
            )
            if i % 50 == 0:
                other_worker.earlier(f"email:t{i % 37}", 99_999)
        before = b"".join(_bytes_under(directory).values())
        assert b"ANNA-SECRET-" in before and b"ANNA-SHORT-" in before  # the check can see text at all
        assert h.forget(ANNA) == 600
        other_worker.earlier("email:t1", 99_999)
        for name, data in _bytes_under(directory).items():
            assert b"ANNA-SECRET-" not in data and b"ANNA-SHORT-" not in data and b"zebra quartz" not in data, name
        assert sum(b"BEN-KEPT-" in data for data in _bytes_under(directory).values()) >= 1
        assert len(other_worker.earlier("email:t1", 99_999)) == sum(1 for i in range(300) if i % 37 == 1)
    for name, data in _bytes_under(directory).items():  # closed: still nothing
        assert b"ANNA-SECRET-" not in data and b"ANNA-SHORT-" not in data, name


def _writer(directory: str, worker: int, n: int) -> None:
    with ThreadHistory(directory) as h:
        for i in range(n):
            h.record([_message(worker * 10_000 + i, key=f"email:w{worker}-{i % 5}")])


def test_several_processes_write_one_history(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 60)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with ThreadHistory(tmp_path) as h:
        assert len(h) == 240
        assert len(h.earlier("email:w2-3", 99_999)) == 12


def test_a_deletion_reaches_the_history_before_the_store_accounts_it(tmp_path):
    """pipelines/sink.py _Forget: history first, so a crash before the store's entry (which accounts the
    deletion's offset) re-reads the deletion and forgets again."""
    from pipelines.links import PersonLinks
    from pipelines.model import Event, KafkaRecord
    from pipelines.sink import Eraser, _Forget

    calls = []

    class Store:
        path = tmp_path / "dataset"

        def forget(self, subject, offsets=()):
            calls.append(("store", subject, offsets, len(history)))
            return 0

    class Progress:
        def commit(self, store):
            calls.append(("progress",))

    class DeadLetters:
        def erase(self, hashes):
            calls.append(("deadletters", sorted(hashes)))
            return 0

    history = ThreadHistory(tmp_path)
    history.record([_message(1), _message(2, subjects=(BEN,))])
    fn = _Forget("unused:9092", str(tmp_path), "live")
    eraser = object.__new__(Eraser)  # no broker here: the dead-letter topic is faked
    eraser.store, eraser.history, eraser.deadletters = Store(), history, DeadLetters()
    fn._store, fn._progress, fn._eraser, fn._links = Store(), Progress(), eraser, PersonLinks(tmp_path / "links")
    deletion = Event(
        "deletion",
        "deletion:anna@example.com",
        0,
        {"subject_id": "anna@example.com", "event_time": 0},
        KafkaRecord("events.deletion", 0, 7, 0, None, b"{}"),
    )
    list(fn.process(deletion) or ())
    assert calls == [("deadletters", [ANNA]), ("store", ANNA, (("events.deletion", 0, 7),), 1), ("progress",)]
    assert ANNA in history.forgotten()
    history.close()


def test_the_pairs_stage_keeps_the_stores_forgotten_subjects_out_of_a_new_history(tmp_path):
    """A replay dataset starts with the live dataset's forgotten set (loopline replay): its history must too."""
    from pipelines.pairs import _ExtractPairs

    store = CuratedStore(tmp_path, "replay-1")
    store.create({})
    store.forget(ANNA)
    stage = _ExtractPairs(PairsConfig(), str(store.path))
    stage.setup()
    try:
        assert stage._history.dir == store.path / "history"
        assert stage._history.forgotten() == {ANNA}
    finally:
        stage.teardown()


def test_a_format_1_history_gains_the_identity_column_and_keeps_its_rows(tmp_path):
    with ThreadHistory(tmp_path) as h:
        h.record([_message(1)])
    db = sqlite3.connect(tmp_path / "threads.sqlite")  # as the code before identities left it
    db.execute("ALTER TABLE messages DROP COLUMN identity")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with ThreadHistory(tmp_path) as h:
        h.record([_message(2)._replace(identity="f" * 64)])
        assert [(m.source.offset, m.identity) for m in h.earlier("email:t1", 20_000)] == [(1, None), (2, "f" * 64)]

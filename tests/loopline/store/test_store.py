"""Curated store: exactly-once commits keyed to Kafka offsets, crash safety, concurrency and right-to-be-forgotten."""

from __future__ import annotations

import datetime
import json
import multiprocessing
import random
import threading
from pathlib import Path

import fastavro
import pytest

from loopline import store as store_mod
from loopline.store import CuratedStore, RangeSet, Unit, subject_hash
from tests.samples import SAMPLES

BASE = SAMPLES["CuratedPair"]["window"]["start"]
HOUR = 3_600_000
TOPIC = "events.ticket"


def pair(i: int, subject: str = "alice", start: int = BASE) -> dict:
    window = {**SAMPLES["CuratedPair"]["window"], "start": start, "end": start + 600_000}
    return {
        **SAMPLES["CuratedPair"],
        "pair_id": f"p-{i}",
        "instruction": f"question {i} from {subject}",
        "subject_hashes": [subject_hash(subject)],
        "window": window,
    }


def doc(i: int, subject: str = "alice", start: int = BASE) -> dict:
    window = {**SAMPLES["CuratedDocument"]["window"], "start": start, "end": start + 600_000}
    return {
        **SAMPLES["CuratedDocument"],
        "doc_id": f"d-{i}",
        "text": f"thread {i} by {subject}",
        "subject_hashes": [subject_hash(subject)],
        "window": window,
    }


def feedback(i: int, event_time: int = BASE) -> dict:
    return {**SAMPLES["FeedbackExample"], "example_id": f"f-{i}", "event_time": event_time}


def unit(i: int, subject: str = "alice", partition: int = 0, feedbacks: int = 0) -> Unit:
    """Window i consumed offsets 2i and 2i+1 and yields one pair and one document, spread over three hours."""
    start = BASE + (i % 3) * HOUR
    records = {"CuratedPair": [pair(i, subject, start)], "CuratedDocument": [doc(i, subject, start)]}
    if feedbacks:
        records["FeedbackExample"] = [feedback(i * 10 + k, start) for k in range(feedbacks)]
    return Unit(records=records, offsets=((TOPIC, partition, 2 * i), (TOPIC, partition, 2 * i + 1)))


@pytest.fixture
def store(tmp_path) -> CuratedStore:
    s = CuratedStore(tmp_path)
    s.create({"source": "test", "start_offsets": {TOPIC: {"0": 0}}})
    return s


def segment_files(s: CuratedStore) -> list[Path]:
    return sorted((s.path / "data").rglob("*.avro"))


def manifest_entries(s: CuratedStore) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((s.path / "manifest").glob("*.json"))]


def ids(s: CuratedStore, kind: str = "CuratedPair") -> list[str]:
    field = store_mod.ID_FIELDS[kind]
    return [r[field] for r in s.read(kind)]


def raw_records(path: Path) -> list[dict]:
    with open(path, "rb") as f:
        return list(fastavro.reader(f))


# --- layout and round trip -------------------------------------------------------------------------------


def test_round_trip_returns_exactly_what_was_written(store):
    u = unit(1, feedbacks=2)
    result = store.commit([u])
    assert (result.units_committed, result.units_skipped, result.seq) == (1, 0, 1)
    assert result.records_written == {"CuratedPair": 1, "CuratedDocument": 1, "FeedbackExample": 2}
    for kind, records in u.records.items():
        assert list(store.read(kind)) == records
    assert store.counts() == {"CuratedPair": 1, "CuratedDocument": 1, "FeedbackExample": 2}
    reopened = CuratedStore(store.root)
    assert list(reopened.read("CuratedPair")) == u.records["CuratedPair"]
    assert reopened.meta == {"source": "test", "start_offsets": {TOPIC: {"0": 0}}}


def test_files_are_partitioned_by_kind_and_utc_hour_and_carry_their_schema(store):
    store.commit([unit(1, feedbacks=1)])
    t = datetime.datetime.fromtimestamp((BASE + HOUR) / 1000, tz=datetime.UTC)
    partition = f"date={t:%Y-%m-%d}/hour={t:%H}"
    rel = sorted(p.relative_to(store.path).parent.as_posix() for p in segment_files(store))
    assert rel == [f"data/kind={k}/{partition}" for k in ("CuratedDocument", "CuratedPair", "FeedbackExample")]
    for path in segment_files(store):
        with open(path, "rb") as f:
            reader = fastavro.reader(f)
            kind = path.parent.parent.parent.name.removeprefix("kind=")
            assert reader.writer_schema["name"] == f"loopline.{kind}"
            assert reader.metadata["avro.codec"] == "deflate"
            assert len(list(reader)) >= 1
    doc = json.loads((store.path / "dataset.json").read_text())
    assert doc["name"] == "live" and isinstance(doc["created"], int) and doc["meta"]["source"] == "test"


def test_manifest_entry_describes_the_commit(store):
    store.commit([unit(0), unit(1, subject="bob")], dead_letters=[(TOPIC, 0, 9, "invalid_json")])
    [entry] = manifest_entries(store)
    assert entry["seq"] == 1 and isinstance(entry["created"], int)
    assert entry["accounted"] == {TOPIC: {"0": [[0, 3], [9, 9]]}}
    assert entry["dead_letters"] == {"invalid_json": 1}
    assert entry["counts"] == {"CuratedPair": 2, "CuratedDocument": 2, "FeedbackExample": 0}
    assert entry["replaces"] == [] and entry["forgotten"] == []
    pairs = [s for s in entry["segments"] if s["kind"] == "CuratedPair"]
    assert sorted(k for s in pairs for k in s["keys"]) == ["p-0", "p-1"]
    hour1 = next(s for s in pairs if s["keys"] == ["p-1"])
    assert hour1["subject_hashes"] == [subject_hash("bob")]
    assert hour1["min_time"] == hour1["max_time"] == BASE + HOUR
    assert all((store.path / s["path"]).exists() for s in entry["segments"])


def test_invalid_record_names_kind_and_field_and_writes_nothing(store):
    bad = unit(2)
    bad.records["CuratedDocument"][0]["text"] = 12345
    with pytest.raises(ValueError, match=r"CuratedDocument.*\.text"):
        store.commit([unit(1), bad])
    extra = unit(3)
    extra.records["CuratedPair"][0]["raw_sender_id"] = "cust-0001"
    with pytest.raises(ValueError, match=r"CuratedPair.*raw_sender_id"):
        store.commit([extra])
    with pytest.raises(ValueError, match="unknown record kind 'ChatEvent'"):
        store.commit([Unit({"ChatEvent": [SAMPLES["ChatEvent"]]}, ((TOPIC, 0, 99),))])
    assert segment_files(store) == [] and manifest_entries(store) == []
    assert store.accounted() == {} and store.counts()["CuratedPair"] == 0


def test_commit_requires_created_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="create"):
        CuratedStore(tmp_path, "missing").commit([unit(1)])


# --- exactly once --------------------------------------------------------------------------------------


def test_recommitting_a_unit_is_skipped_and_stores_one_copy(store):
    assert store.commit([unit(1)]).units_committed == 1
    again = store.commit([unit(1)], dead_letters=[(TOPIC, 0, 2, "too_late")])
    assert (again.units_committed, again.units_skipped, again.seq) == (0, 1, None)
    assert ids(store) == ["p-1"] and len(manifest_entries(store)) == 1
    within_one_call = store.commit([unit(2), unit(2)])
    assert (within_one_call.units_committed, within_one_call.units_skipped) == (1, 1)
    assert ids(store) == ["p-1", "p-2"]


def test_partially_accounted_unit_raises(store):
    store.commit([unit(1)])
    changed = Unit(unit(9).records, ((TOPIC, 0, 3), (TOPIC, 0, 4)))  # offset 3 belonged to window 1
    with pytest.raises(RuntimeError, match="1 of 2 offsets already accounted"):
        store.commit([changed])
    assert ids(store) == ["p-1"] and not store.is_accounted(TOPIC, 0, 4)


def test_record_with_existing_id_is_not_duplicated(store):
    store.commit([unit(1)])
    same_ids = Unit(unit(1).records, ((TOPIC, 1, 0),))
    result = store.commit([same_ids])
    assert result.units_committed == 1 and result.records_written["CuratedPair"] == 0
    assert ids(store) == ["p-1"] and store.is_accounted(TOPIC, 1, 0)


def test_an_event_identity_already_committed_is_a_resend_whose_records_are_left_out(store):
    """Identities (pipelines/identity.py) travel in the entry that stores their records; a copy of an event
    at another offset is accounted and counted, and no record whose lineage includes it is written."""
    first = Unit(unit(1).records, unit(1).offsets, identities=(("a" * 64, (TOPIC, 0, 2)), ("b" * 64, (TOPIC, 0, 3))))
    store.commit([first])
    [entry] = manifest_entries(store)
    assert (entry["identities"], entry["resent"]) == (["a" * 64, "b" * 64], 0)
    copy = unit(5)
    copy.records["CuratedPair"][0]["lineage"] = [{"topic": TOPIC, "partition": 0, "offset": 10}]
    copy = Unit(copy.records, copy.offsets, identities=(("a" * 64, (TOPIC, 0, 10)), ("c" * 64, (TOPIC, 0, 11))))
    result = store.commit([copy])
    assert (result.events_resent, result.records_written["CuratedPair"], result.records_written["CuratedDocument"]) == (1, 0, 1)
    assert ids(store) == ["p-1"] and store.is_accounted(TOPIC, 0, 10)
    assert (manifest_entries(store)[-1]["identities"], manifest_entries(store)[-1]["resent"]) == (["c" * 64], 1)
    legacy = manifest_entries(store)[0]  # entries written before identities existed have neither field
    del legacy["identities"], legacy["resent"]
    (store.path / "manifest" / "000000000001.json").write_text(json.dumps(legacy))
    [summary] = CuratedStore.list_datasets(store.root)
    assert summary["resent"] == 1


def test_dead_letters_are_accounted_and_counted_once(store):
    store.commit([], dead_letters=[(TOPIC, 0, 0, "invalid_json"), (TOPIC, 0, 1, "oversized")])
    again = store.commit([], dead_letters=[(TOPIC, 0, 1, "oversized"), (TOPIC, 0, 2, "oversized")])
    assert again.seq == 2
    assert store.commit([], dead_letters=[(TOPIC, 0, 2, "oversized")]).seq is None
    [summary] = CuratedStore.list_datasets(store.root)
    assert summary["dead_letters"] == {"invalid_json": 1, "oversized": 2}
    assert store.accounted() == {(TOPIC, 0): [(0, 2)]}


def test_resume_offset_skips_accounted_ranges_and_stops_at_gaps(store):
    store.commit([unit(0), unit(1), unit(3)], dead_letters=[(TOPIC, 0, 4, "invalid_json")])
    assert store.accounted() == {(TOPIC, 0): [(0, 4), (6, 7)]}
    assert store.resume_offset(TOPIC, 0, 0) == 5
    assert store.resume_offset(TOPIC, 0, 5) == 5
    assert store.resume_offset(TOPIC, 0, 6) == 8
    assert store.resume_offset(TOPIC, 0, 100) == 100
    assert store.resume_offset(TOPIC, 1, 0) == 0
    assert store.is_accounted(TOPIC, 0, 4) and not store.is_accounted(TOPIC, 0, 5)


def test_rangeset_merges_a_million_offsets_added_in_batches():
    batches = [range(start, start + 1000) for start in range(0, 1_000_000, 1000)]
    random.Random(7).shuffle(batches)
    ranges = RangeSet()
    for batch in batches:
        ranges.add(batch)
    assert ranges.ranges == [(0, 999_999)]
    assert ranges.first_gap(0) == 1_000_000 and 999_999 in ranges and 1_000_000 not in ranges
    holes = RangeSet([(0, 9), (20, 29)])
    holes.add([10, 12, 30])
    assert holes.ranges == [(0, 10), (12, 12), (20, 30)]
    assert (holes.first_gap(0), holes.first_gap(11), holes.first_gap(12), holes.first_gap(25)) == (11, 11, 13, 31)
    assert -1 not in holes and 11 not in holes


# --- concurrency ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False], ids=["one-instance", "instance-per-thread"])
def test_concurrent_thread_commits_land_exactly_once(store, shared):
    per_thread, threads = 10, 4
    barrier = threading.Barrier(threads)

    def work(t: int) -> None:
        s = store if shared else CuratedStore(store.root)
        barrier.wait()
        for i in range(per_thread):
            s.commit([unit(t * per_thread + i, partition=t % 2)])

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert_all_present_once(store, threads * per_thread)


def commit_in_process(root: str, worker: int, n: int) -> None:
    s = CuratedStore(Path(root))
    for i in range(n):
        s.commit([unit(worker * n + i, partition=worker)])


def test_concurrent_process_commits_land_exactly_once(store):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=commit_in_process, args=(str(store.root), w, 15)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert_all_present_once(store, 30)


def assert_all_present_once(s: CuratedStore, n: int) -> None:
    fresh = CuratedStore(s.root)
    for reader in (s, fresh):
        assert sorted(ids(reader)) == sorted(f"p-{i}" for i in range(n))
        assert reader.counts()["CuratedDocument"] == n
    seqs = [e["seq"] for e in manifest_entries(s)]
    assert seqs == list(range(1, n + 1))
    assert len(segment_files(s)) == 2 * n  # one pair + one document segment per commit, no orphans


# --- crash safety --------------------------------------------------------------------------------------


def test_crash_before_manifest_leaves_invisible_orphans_that_gc_removes(store, monkeypatch):
    store.commit([unit(0)])

    def crash(self, entry):
        raise OSError("simulated crash before the manifest entry")

    monkeypatch.setattr(CuratedStore, "_write_entry", crash)
    with pytest.raises(OSError, match="simulated crash"):
        store.commit([unit(1), unit(2)])
    monkeypatch.undo()
    orphans = len(segment_files(store)) - 2
    assert orphans == 4  # pair + document for each of two hours
    for reader in (store, CuratedStore(store.root)):
        assert ids(reader) == ["p-0"] and not reader.is_accounted(TOPIC, 0, 2)
    (store.path / "manifest" / ".000000000002.json.dead.tmp").write_text("{")

    result = store.commit([unit(1), unit(2)])
    assert result.units_committed == 2 and ids(store) == ["p-0", "p-1", "p-2"]
    assert store.gc() == orphans + 1
    assert store.gc() == 0
    assert len(segment_files(store)) == 6
    assert ids(CuratedStore(store.root)) == ["p-0", "p-1", "p-2"]


# --- right to be forgotten -----------------------------------------------------------------------------


def test_forget_removes_subject_from_reads_and_from_disk(store):
    store.commit([unit(0, "alice"), unit(1, "bob"), unit(3, "alice")])
    store.commit([unit(4, "alice"), unit(6, "bob")])
    alice = subject_hash("alice")
    with_alice = [p for p in segment_files(store) if any(alice in r["subject_hashes"] for r in raw_records(p))]

    deletion = (("events.deletion", 0, 17),)
    assert store.forget(alice, deletion) == 6  # 3 windows x (pair + document)
    assert ids(store) == ["p-1", "p-6"] and ids(store, "CuratedDocument") == ["d-1", "d-6"]
    assert store.is_accounted("events.deletion", 0, 17)
    assert store.forgotten() == CuratedStore(store.root).forgotten() == {alice}
    for path in segment_files(store):  # every file on disk, live or not
        for record in raw_records(path):
            assert alice not in record["subject_hashes"] and "alice" not in json.dumps(record, default=str)
    assert len(with_alice) == 4 and not any(p.exists() for p in with_alice)  # rewritten, then deleted
    assert store.counts()["CuratedPair"] == 2
    assert ids(CuratedStore(store.root)) == ["p-1", "p-6"]

    later = store.commit([unit(7, "alice"), unit(8, "carol")])
    assert later.records_forgotten == 2 and later.records_written["CuratedPair"] == 1
    assert ids(store) == ["p-1", "p-6", "p-8"]

    entries = len(manifest_entries(store))
    assert store.forget(alice, deletion) == 0
    assert len(manifest_entries(store)) == entries
    assert store.gc() == 0


def test_forget_rejects_raw_subject_ids(store):
    with pytest.raises(ValueError, match="subject_hash"):
        store.forget("cust-0001")


def test_forget_of_unseen_subject_blocks_its_future_records(store):
    assert store.forget(subject_hash("dave")) == 0
    assert store.commit([unit(1, "dave")]).records_forgotten == 2
    assert ids(store) == [] and store.is_accounted(TOPIC, 0, 3)


def test_read_in_progress_follows_segments_rewritten_by_forget(store):
    store.commit([unit(0, "bob")])
    store.commit([Unit({"CuratedPair": [pair(1, "alice"), pair(2, "bob")]}, ((TOPIC, 0, 10),))])
    reading = store.read("CuratedPair")
    assert next(reading)["pair_id"] == "p-0"
    assert CuratedStore(store.root).forget(subject_hash("alice")) == 1
    assert [r["pair_id"] for r in reading] == ["p-2"]


# --- datasets ------------------------------------------------------------------------------------------


def test_datasets_are_independent_and_listed(tmp_path):
    live, v2 = CuratedStore(tmp_path, "live"), CuratedStore(tmp_path, "v2")
    live.create({"source": "kafka"})
    v2.create({"source": "replay", "end_offsets": {TOPIC: {"0": 100}}})
    with pytest.raises(FileExistsError, match="'live' already exists"):
        CuratedStore(tmp_path, "live").create({})
    live.create({"ignored": True}, exist_ok=True)
    assert live.meta == {"source": "kafka"}

    live.commit([unit(0), unit(1)], dead_letters=[(TOPIC, 0, 4, "invalid_json")])
    v2.commit([unit(1, feedbacks=1)])
    v2.forget(subject_hash("alice"))
    assert ids(live) == ["p-0", "p-1"] and ids(v2) == []

    listed = {d["name"]: d for d in CuratedStore.list_datasets(tmp_path)}
    assert set(listed) == {"live", "v2"}
    assert listed["live"]["meta"] == {"source": "kafka"} and isinstance(listed["live"]["created"], int)
    assert listed["live"]["counts"] == {"CuratedPair": 2, "CuratedDocument": 2, "FeedbackExample": 0}
    assert listed["live"]["accounted"] == {TOPIC: {0: [(0, 4)]}}
    assert listed["live"]["dead_letters"] == {"invalid_json": 1}
    assert listed["live"]["segments"] == 4
    assert listed["v2"]["counts"] == {"CuratedPair": 0, "CuratedDocument": 0, "FeedbackExample": 1}
    assert listed["v2"]["accounted"] == {TOPIC: {0: [(2, 3)]}} and listed["v2"]["dead_letters"] == {}
    assert CuratedStore.list_datasets(tmp_path / "nowhere") == []

"""The store's reader: snapshots pinned to a manifest seq, reads since a cursor, forgotten subjects never returned."""

from __future__ import annotations

import json

import pytest

from loopline.store import CuratedStore, SegmentError, subject_hash
from tests.loopline.store.test_store import TOPIC, unit


@pytest.fixture
def store(tmp_path) -> CuratedStore:
    s = CuratedStore(tmp_path)
    s.create({"source": "test"})
    return s


def pair_ids(records) -> list[str]:
    return sorted(r["pair_id"] for r in records)


def test_snapshot_is_pinned_while_the_dataset_grows(store):
    store.commit([unit(0), unit(1)])
    snap = store.snapshot()
    store.commit([unit(2)])
    assert snap.seq == 1
    assert pair_ids(snap.read("CuratedPair")) == ["p-0", "p-1"]
    assert pair_ids(store.snapshot().read("CuratedPair")) == ["p-0", "p-1", "p-2"]
    assert pair_ids(store.snapshot(1).read("CuratedPair")) == ["p-0", "p-1"]


def test_read_since_a_cursor_returns_only_later_commits(store):
    for i in range(4):
        store.commit([unit(i)])  # seq i + 1
    snap = store.snapshot()
    assert pair_ids(snap.read("CuratedPair", since=0)) == ["p-0", "p-1", "p-2", "p-3"]
    assert pair_ids(snap.read("CuratedPair", since=2)) == ["p-2", "p-3"]
    assert list(snap.read("CuratedPair", since=4)) == []
    with pytest.raises(ValueError, match="outside this snapshot"):
        list(snap.read("CuratedPair", since=5))


def test_a_deletion_never_makes_old_records_new_and_hides_them_from_old_snapshots(store):
    store.commit([unit(0, "alice"), unit(3, "bob")])  # seq 1: one segment per kind holds both
    old = store.snapshot(1)
    store.commit([unit(2, "carol")])  # seq 2
    store.forget(subject_hash("alice"))  # seq 3 rewrites seq 1's segments without alice
    snap = store.snapshot()
    # bob's records were rewritten by seq 3 but first committed at seq 1: not new since the cursor 1
    assert pair_ids(snap.read("CuratedPair", since=1)) == ["p-2"]
    assert pair_ids(snap.read("CuratedPair")) == ["p-2", "p-3"]
    # the pinned snapshot's files are gone: it reads their replacements, and never alice
    assert pair_ids(old.read("CuratedPair")) == ["p-3"]
    assert subject_hash("alice") in snap.forgotten


def test_orphan_segments_on_disk_are_never_read(store):
    store.commit([unit(0)])
    orphan = store.path / "data" / "kind=CuratedPair" / "seg-000000000099-orphan.avro"
    live = next((store.path / "data" / "kind=CuratedPair").rglob("*.avro"))
    orphan.write_bytes(live.read_bytes())
    assert pair_ids(store.snapshot().read("CuratedPair")) == ["p-0"]


@pytest.mark.parametrize("damage", ["truncate", "flip_one_byte"])
def test_a_damaged_segment_is_a_clear_error_naming_it(store, damage):
    """A flipped byte inside a deflate block can still decode, to other text: the manifest's checksum catches it."""
    store.commit([unit(0)])
    live = next((store.path / "data" / "kind=CuratedPair").rglob("*.avro"))
    data = bytearray(live.read_bytes())
    if damage == "truncate":
        data = data[:40]
    else:
        data[len(data) // 2] ^= 0x01
    live.write_bytes(bytes(data))
    with pytest.raises(SegmentError, match=r"segment live/data/kind=CuratedPair/.*\.avro does not match its manifest checksum"):
        list(store.snapshot().read("CuratedPair"))
    [problem] = store.verify()
    assert "kind=CuratedPair" in problem and "loopline replay" in problem


def test_a_segment_without_a_checksum_is_still_decoded_and_checked(store):
    """Manifests written before checksums: a truncated segment is still refused by the decoder, naming it."""
    store.commit([unit(0)])
    entry = next((store.path / "manifest").glob("*.json"))
    doc = json.loads(entry.read_text())
    for seg in doc["segments"]:
        del seg["sha256"]
    entry.write_text(json.dumps(doc))
    assert [r["pair_id"] for r in CuratedStore(store.root).read("CuratedPair")]
    live = next((store.path / "data" / "kind=CuratedPair").rglob("*.avro"))
    live.write_bytes(live.read_bytes()[:40])
    with pytest.raises(SegmentError, match=r"segment live/data/kind=CuratedPair/.*\.avro is unreadable"):
        list(CuratedStore(store.root).read("CuratedPair"))


def test_snapshot_of_a_seq_that_does_not_exist_is_refused(store):
    store.commit([unit(0)], dead_letters=[(TOPIC, 0, 99, "invalid_json")])
    with pytest.raises(ValueError, match="0..1, not 7"):
        store.snapshot(7)

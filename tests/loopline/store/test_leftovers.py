"""Crash leftovers never outlive a deletion: commits SIGKILLed between the segment and the manifest entry (and
mid segment write) leave orphan segments and temp files with a subject's records; forget(), a writer opening
the dataset and `loopline datasets gc` remove them. Checked with an independent Avro reader (`avro`, not the
store's fastavro) over every file under the dataset folder."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loopline.cli import app
from loopline.store import CuratedStore, Unit, exclusive_writer, subject_hash
from tests.pipelines.truth import avro_records
from tests.samples import SAMPLES

REPO = Path(__file__).resolve().parents[3]
TOPIC = "events.ticket"
HOUR = 3_600_000
BASE = SAMPLES["CuratedPair"]["window"]["start"]
DELETED, KEPT = subject_hash("deleted-person"), subject_hash("kept-person")

# A child that commits one unit and is SIGKILLed at the chosen moment: after its segment files are durable but
# before the manifest entry ("entry"), or after the first segment's temp file is written but before its rename.
CHILD = """
import json, os, signal, sys
from loopline.store import CuratedStore, Unit
root, moment, unit = sys.argv[1], sys.argv[2], json.loads(sys.stdin.read())
kill = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
if moment == "entry":
    CuratedStore._write_entry = kill
else:
    os.rename = kill
unit = Unit(records=unit["records"], offsets=tuple(tuple(o) for o in unit["offsets"]))
CuratedStore(root).commit([unit])
"""


def unit(i: int, subjects: list[str]) -> Unit:
    """Window i: one pair and one document naming `subjects`, consuming offsets 2i and 2i+1."""
    start = BASE + (i % 3) * HOUR
    window = {**SAMPLES["CuratedPair"]["window"], "start": start, "end": start + 600_000}
    pair = {**SAMPLES["CuratedPair"], "pair_id": f"p-{i}", "subject_hashes": subjects, "window": window}
    doc = {**SAMPLES["CuratedDocument"], "doc_id": f"d-{i}", "subject_hashes": subjects, "window": window}
    return Unit(records={"CuratedPair": [pair], "CuratedDocument": [doc]}, offsets=((TOPIC, 0, 2 * i), (TOPIC, 0, 2 * i + 1)))


def crash_commit(store: CuratedStore, moment: str, u: Unit) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(store.root), moment],
        input=json.dumps({"records": u.records, "offsets": u.offsets}),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


def live_ids(store: CuratedStore) -> list[str]:
    return sorted(r["pair_id"] for r in store.read("CuratedPair")) + sorted(r["doc_id"] for r in store.read("CuratedDocument"))


@pytest.fixture
def crashed(tmp_path) -> CuratedStore:
    """A dataset with two committed units (one of them the deleted person's) and five commits killed part-way,
    three after their segments and two mid segment write, all naming the deleted person."""
    store = CuratedStore(tmp_path)
    store.create({"start_offsets": {}})
    store.commit([unit(0, [KEPT]), unit(1, [DELETED, KEPT])])
    for i in range(2, 5):
        crash_commit(store, "entry", unit(i, [DELETED]))
    for i in range(5, 7):
        crash_commit(store, "rename", unit(i, [DELETED, KEPT]))
    on_disk = avro_records(store.path)
    assert len(on_disk) == 4 + 3 * 2 + 2  # live segments (2 hours x 2 kinds), orphans, temp files
    assert sum(DELETED in r["subject_hashes"] for records in on_disk.values() for r in records) == 2 + 6 + 2
    assert len(list(store.path.rglob("*.tmp"))) == 2
    assert live_ids(store) == ["p-0", "p-1", "d-0", "d-1"]  # readers go by the manifest: leftovers are invisible
    return store


def assert_gone_from_disk(store: CuratedStore) -> None:
    on_disk = avro_records(store.path)
    assert not any(DELETED in r["subject_hashes"] for records in on_disk.values() for r in records)
    assert not list(store.path.rglob("*.tmp"))
    on_disk_ids = sorted(r.get("pair_id") or r["doc_id"] for records in on_disk.values() for r in records)
    assert on_disk_ids == sorted(live_ids(store))  # no orphan: every record on disk is a live one, once


@pytest.mark.parametrize("first", ["forget", "writer_then_forget"])
def test_kill_between_writes_then_deletion_leaves_no_record_of_the_subject_on_disk(crashed, first):
    before = live_ids(crashed)
    if first == "writer_then_forget":
        with exclusive_writer(crashed) as removed:
            assert (removed.segments, removed.temp_files) == (6, 2) and removed.bytes > 0
            assert not crashed.leftovers()
            assert crashed.forget(DELETED) == 2
    else:
        assert crashed.forget(DELETED) == 2
    assert_gone_from_disk(crashed)
    assert live_ids(crashed) == [i for i in before if i not in ("p-1", "d-1")] == ["p-0", "d-0"]
    assert live_ids(CuratedStore(crashed.root)) == ["p-0", "d-0"]


def test_datasets_gc_reports_and_removes_leftovers(crashed, tmp_path):
    config = tmp_path / "loopline.yaml"
    config.write_text(yaml.safe_dump({"pipeline": {"store": {"root": str(crashed.root)}}}))
    before = live_ids(crashed)

    result = CliRunner().invoke(app, ["datasets", "gc", "--dataset", "live", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "live: removed 6 orphan segment(s) and 2 temp file(s)" in result.output
    assert "deleted-person" not in result.output and DELETED not in result.output
    assert not crashed.leftovers() and not list(crashed.path.rglob("*.tmp"))
    assert live_ids(crashed) == before

    again = CliRunner().invoke(app, ["datasets", "gc", "--config", str(config)])
    assert again.exit_code == 0 and "live: removed 0 orphan segment(s) and 0 temp file(s), 0 bytes" in again.output

    missing = CliRunner().invoke(app, ["datasets", "gc", "--dataset", "nope", "--config", str(config)])
    assert missing.exit_code == 1 and "dataset 'nope' does not exist" in missing.output

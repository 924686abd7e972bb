"""Fault injection on the real stack: the pipeline is SIGKILLed at random points and between a segment and its
manifest entry, its broker is killed and restarted under it, its disk fills during a commit, a segment is damaged
on disk, and poison messages of every kind arrive. After each fault the dataset is checked against the
simulator's ground truth and against an undisturbed run of the same topics: every offset accounted once, no
record lost or duplicated, no record of a deleted subject in any file on disk, no leftovers. The last test
prints one row per scenario (the table in the issue note).

One broker and one batch of traffic for the module. Scenarios that append to the topics (a deletion, poison)
also bring the undisturbed `reference` dataset up to date, so the comparison stays like for like.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import yaml

from loopline.store import SegmentError, subject_hash
from tests.conftest import end_offsets, running_broker
from tests.pipelines.truth import (
    REPO,
    Traffic,
    accounted_total,
    all_records,
    assert_store_consistent,
    avro_records,
    coord,
    dead_letters,
    expected,
    lineage_counts,
    simulate_traffic,
)

ROWS: list[dict] = []

# Runs the CLI with one fault installed in its process (the store's sink runs there, on either runner):
#   kill_before_entry N: the Nth manifest entry write SIGKILLs the process group (the pipeline and its Prism)
#                        after the entry's segments are durable: the crash between segment and manifest;
#   enospc N:            from the Nth segment write on, the disk is full: half a file, then ENOSPC.
FAULTY_CLI = """
import errno, os, signal, sys
from loopline.store import dataset, segments
fault, n, calls = sys.argv[1], int(sys.argv[2]), [0]
if fault == "kill_before_entry":
    write_entry = dataset.CuratedStore._write_entry
    def _write_entry(self, entry):
        calls[0] += 1
        if calls[0] >= n:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        write_entry(self, entry)
    dataset.CuratedStore._write_entry = _write_entry
elif fault == "enospc":
    atomic_write = segments.atomic_write
    def _atomic_write(path, write):
        calls[0] += 1
        if calls[0] < n:
            return atomic_write(path, write)
        def half(f):
            f.write(b"Obj" + bytes(4096))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return atomic_write(path, half)
    segments.atomic_write = _atomic_write
from loopline.cli import app
sys.argv = ["loopline", *sys.argv[3:]]
app()
"""


@pytest.fixture(scope="module")
def traffic(tmp_path_factory, cache_dir) -> Traffic:
    home = tmp_path_factory.mktemp("faults")
    with running_broker(home / "kafka", cache_dir) as broker:
        yield simulate_traffic(home, broker, seed=11)


@pytest.fixture(scope="module")
def reference(traffic) -> str:
    """The undisturbed run every scenario is compared with."""
    traffic.cli("run", "--until-now", "--dataset", "reference")
    return "reference"


def cli_process(traffic: Traffic, *args: str, fault: tuple[str, int] | None = None, config: Path | None = None):
    """The CLI in its own process group (so a kill takes its Prism too), output appended to a log."""
    prefix = ["-c", FAULTY_CLI, fault[0], str(fault[1])] if fault else ["-m", "loopline.cli"]
    return subprocess.Popen(
        [sys.executable, *prefix, *args, "--config", str(config or traffic.config_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def kill_group(proc: subprocess.Popen) -> str:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    out, _ = proc.communicate()
    return out


def follow(dataset: str) -> list[str]:
    return ["run", "--follow", "--idle-stop", "4", "--dataset", dataset]


def check(
    traffic: Traffic, dataset: str, reference: str, scenario: str, faults: str, started: float, strict: bool = True
) -> None:
    """The scenario's dataset against the ground truth and the undisturbed run; one row of the table.

    strict=False where the scenario applies a deletion at another point of the stream than the undisturbed run:
    near-duplicate removal is order-dependent (a message that arrives after the original was forgotten has no
    original left to be a duplicate of, so it is kept), so only extra documents are allowed, never missing ones."""
    traffic.cli("run", "--until-now", "--dataset", reference)  # takes in whatever the scenario appended
    store, ref = traffic.store(dataset), traffic.store(reference)
    exp = expected(traffic)
    total = sum(end_offsets(traffic.broker).values())
    stored, wanted = lineage_counts(store, "CuratedDocument"), lineage_counts(ref, "CuratedDocument")
    fb = lineage_counts(store, "FeedbackExample")
    forgotten = {subject_hash(s) for s in exp["deleted"]}
    on_disk = avro_records(store.path)
    row = {
        "scenario": scenario,
        "faults": faults,
        "accounted": f"{accounted_total(store)}/{total}",
        "documents": sum(stored.values()),
        "pairs": len(list(store.read("CuratedPair"))),
        "lost": len(set(wanted) - set(stored)),
        "duplicated": sum(n - 1 for n in (stored + fb).values() if n > 1),
        "same as undisturbed": all_records(store) == all_records(ref),
        "deleted on disk": sum(bool(forgotten & set(r.get("subject_hashes", ()))) for rs in on_disk.values() for r in rs),
        "leftovers": len(store.leftovers()),
        "seconds": round(time.monotonic() - started),
    }
    ROWS.append(row)
    print(row)
    assert accounted_total(store) == total
    assert row["lost"] == 0 and row["duplicated"] == 0, row
    if strict:
        assert row["same as undisturbed"], differences(all_records(store), all_records(ref))
    elif not row["same as undisturbed"]:
        row["same as undisturbed"] = differences(all_records(store), all_records(ref))
        assert set(wanted) <= set(stored), row
    assert row["deleted on disk"] == 0 and row["leftovers"] == 0, row
    assert_store_consistent(store, exp)
    assert store.verify() == []


def differences(got: dict[str, list[dict]], want: dict[str, list[dict]]) -> str:
    """Which records differ from the undisturbed run's, and in which fields: what a failure must say."""
    ids = {"CuratedDocument": "doc_id", "FeedbackExample": "example_id", "CuratedPair": "pair_id"}
    out = []
    for kind, key in ids.items():
        a, b = {r[key]: r for r in got[kind]}, {r[key]: r for r in want[kind]}
        fields = Counter(f for k in set(a) & set(b) for f in a[k] if a[k][f] != b[k][f])
        out.append(f"{kind}: {len(set(a) - set(b))} extra, {len(set(b) - set(a))} missing, fields differing {dict(fields)}")
    return "; ".join(out)


def test_sigkill_at_twenty_random_points(traffic, reference):
    """Half the kills at a random time after start (start-up, planning, reading), half at a random share of
    the progress (mid-commit included); each restart resumes from the manifest."""
    started, rng = time.monotonic(), random.Random(20261124)
    store = traffic.store("killed")
    fractions = iter(sorted(rng.uniform(0.05, 0.95) for _ in range(10)))
    mid_run = []
    for i in range(20):
        proc = cli_process(traffic, *follow("killed"))
        if i % 2:
            deadline = time.monotonic() + rng.uniform(0.5, 6.0)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
        else:
            goal, deadline = next(fractions) * len(traffic.truth), time.monotonic() + 120
            while accounted_total(store) < goal and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
        assert proc.poll() is None, "the run ended before its kill"
        kill_group(proc)
        mid_run.append(0 < accounted_total(store) < len(traffic.truth))
    assert sum(mid_run) >= 8, f"too few kills landed mid-run: {mid_run}"
    traffic.cli(*follow("killed"))
    check(traffic, "killed", reference, "SIGKILL at random points", "20 kills", started)


def test_broker_killed_and_restarted_under_a_run(traffic, reference):
    """The run stops within its unreachable timeout with one clear line; after `stack up`, a re-run completes it."""
    started, store = time.monotonic(), traffic.store("brokerless")
    config = traffic.home / "short-timeout.yaml"
    doc = yaml.safe_load(traffic.config_path.read_text())
    doc["pipeline"]["source"] = {"unreachable_timeout_s": 8}
    config.write_text(yaml.safe_dump(doc))
    proc = cli_process(traffic, *follow("brokerless"), config=config)
    deadline = time.monotonic() + 120
    while accounted_total(store) < 0.3 * len(traffic.truth) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None
    assert traffic.broker.kill()
    killed = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        stopped = time.monotonic() - killed
        kill_group(proc)
        traffic.broker.start()
    (traffic.home / "brokerless-run.log").write_text(out)  # the whole output, for a failure's post-mortem
    assert proc.returncode not in (0, None)
    assert "Traceback" not in out
    errors = [line for line in out.splitlines() if "unreachable" in line.lower() or "not reachable" in line.lower()]
    assert errors and traffic.broker.config.bootstrap in errors[-1], out[-3000:]
    assert len(out.splitlines()) < 40, out[-3000:]  # librdkafka's connection retries are rate-limited
    traffic.cli(*follow("brokerless"))
    faults = f"1 broker kill (run stopped in {stopped:.0f} s)"
    check(traffic, "brokerless", reference, "broker SIGKILL + restart mid-run", faults, started)


def test_disk_full_during_a_commit(traffic, reference):
    """ENOSPC while a segment is written: the run fails with one line naming the disk problem, leaves no torn
    state readers can see, and a re-run once there is space completes the dataset."""
    started, store = time.monotonic(), traffic.store("diskfull")
    proc = cli_process(traffic, "run", "--until-now", "--dataset", "diskfull", fault=("enospc", 4))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode not in (0, None), out[-2000:]
    assert "Traceback" not in out and "No space left on device" in out, out[-3000:]
    assert 0 < accounted_total(store) < len(traffic.truth)
    assert store.verify() == []  # what the manifest names is whole
    traffic.cli("run", "--until-now", "--dataset", "diskfull")
    check(traffic, "diskfull", reference, "disk full (ENOSPC) during a commit", "ENOSPC from the 4th segment", started)


def test_damaged_segments_are_named_and_a_replay_rebuilds_the_dataset(traffic, reference):
    """A truncated segment and one with a flipped byte: reads and `datasets verify` name them (never wrong
    records); the documented fix, a replay into a new version, gives the undisturbed dataset back."""
    started = time.monotonic()
    traffic.cli("run", "--until-now", "--dataset", "damaged")
    store = traffic.store("damaged")
    live = sorted(store.snapshot()._view.segments)
    truncated, flipped = store.path / live[0], store.path / live[-1]
    truncated.write_bytes(truncated.read_bytes()[:100])
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x20
    flipped.write_bytes(bytes(data))
    from typer.testing import CliRunner

    from loopline.cli import app

    result = CliRunner().invoke(app, ["datasets", "verify", "--dataset", "damaged", "--config", str(traffic.config_path)])
    assert result.exit_code == 1
    assert live[0] in result.output.replace("\n", "") and live[-1] in result.output.replace("\n", "")
    with pytest.raises(SegmentError):
        for kind in ("CuratedDocument", "CuratedPair", "FeedbackExample"):
            list(store.read(kind))
    traffic.cli("replay", "--from-beginning", "--dataset-version", "rebuilt")
    check(traffic, "rebuilt", reference, "truncated + bit-flipped segment, replayed", "2 damaged segments", started)


POISON = {
    # reason -> how a real connector produces it
    "invalid_json": lambda ok: ok[: len(ok) // 2],
    "invalid_utf8": lambda ok: ok.replace(b'"', b'"\xff\xfe', 1),
    "oversized": lambda ok: ok[:-1] + b', "pad": "' + b"x" * 600_000 + b'"}',
    "schema_mismatch": lambda ok: json.dumps({"text": "a chat turn without any of its ids"}).encode(),
    "invalid_text": None,  # valid JSON whose text holds a lone surrogate: the scrubber's reason
}


def test_poison_messages_of_every_kind(traffic, reference):
    """Each poison message is dead-lettered with its reason and raw bytes; its thread and everything else go on."""
    started = time.monotonic()
    forgotten = set(expected(traffic)["deleted"])  # a forgotten person's letters are withheld by design
    chat = next(
        json.loads(traffic.values[coord(t)])
        for t in traffic.truth
        if t["kind"] == "chat" and not t["malformed"] and not forgotten & set(t["subject_ids"])
    )
    now = int(time.time() * 1000)
    sent = {}
    for reason, breaker in POISON.items():
        ids = {"message_id": f"poison-{uuid.uuid4().hex[:8]}", "conversation_id": f"poison-{reason}"}
        record = {**chat, **ids, "event_time": now}
        if breaker is None:
            record["text"] = "my card ends in \ud800 please help"
            value = json.dumps(record).encode()  # ensure_ascii: the lone surrogate travels as \\ud800
        else:
            value = breaker(json.dumps(record).encode())
        sent[reason] = traffic.produce("events.chat", record["conversation_id"].encode(), value, malformed=reason)
    sent["tombstone"] = traffic.produce("events.chat", b"poison-null", None, malformed="schema_mismatch")
    traffic.cli("run", "--until-now", "--dataset", "poisoned")
    letters = dead_letters(traffic)
    assert {reason: letters[c] for reason, c in sent.items()} == {
        **{reason: {reason} for reason in POISON},
        "tombstone": {"schema_mismatch"},
    }
    check(traffic, "poisoned", reference, "poison messages", f"{len(sent)} kinds: {', '.join(sent)}", started)


def test_sigkill_between_segment_and_manifest_then_a_deletion(traffic, reference):
    """Commits die after their segments are durable and before their manifest entry; then a subject whose
    records are in those orphan segments asks to be forgotten. No file under the dataset may keep a record of
    theirs. Runs last of the scenarios: the deletion it appends would otherwise reach the others at another
    point of the stream than the undisturbed run."""
    started, store = time.monotonic(), traffic.store("torn")
    orphaned: dict[str, int] = Counter()
    for n in (2, 3, 5):
        proc = cli_process(traffic, *follow("torn"), fault=("kill_before_entry", n))
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, out[-2000:]
        live = {Path(p) for p in store.snapshot()._view.segments}
        for path, records in avro_records(store.path).items():
            if path.relative_to(store.path) not in live:
                orphaned.update(h for r in records for h in r.get("subject_hashes", ()))
    assert orphaned, "the kills must leave orphan segments"
    ids = {subject_hash(s): s for t in traffic.truth for s in t["subject_ids"]}
    victim = next(ids[h] for h, _ in orphaned.most_common() if h in ids and ids[h].startswith("cust"))
    traffic.produce_deletion(victim)
    traffic.cli(*follow("torn"))
    scenario = "SIGKILL between segment and manifest, then a deletion"
    check(traffic, "torn", reference, scenario, "3 kills + 1 deletion", started, strict=False)


def test_summary_table(capsys):
    """The table of the note: one row per scenario run in this module."""
    assert ROWS, "run the scenarios first"
    columns = list(ROWS[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in ROWS]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert all(row["lost"] == 0 and row["duplicated"] == 0 and row["deleted on disk"] == 0 for row in ROWS)

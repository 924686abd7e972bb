"""A deletion reaches the person, everywhere: simulator traffic with many deletions through a real broker
and `loopline run --until-now`, then independent readers of every place data lands (Avro files on disk,
the SQLite files' raw bytes, the dead-letter topic read with a plain consumer, the reports) search for
each deleted person's raw ids and their subject hashes. Who the person is comes from the simulator's
ground truth (`deletion_person_ids`, `person_ids`), not from the pipeline's linking rule.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import fastavro
import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from typer.testing import CliRunner

from loopline.catalog import DEADLETTER_TOPIC
from loopline.cli import app
from loopline.config import KafkaConfig, LooplineConfig, WindowConfig
from loopline.simulator.generate import SimConfig
from loopline.simulator.produce import simulate_burst
from loopline.stack.kafka import KafkaBroker, free_port
from loopline.store import subject_hash
from pipelines import deadletter

EVENTS = 1500
HORIZON_MS = WindowConfig().late_horizon_s * 1000  # later than this: dead-lettered too_late; earlier: curated
SIM = SimConfig(deletion_fraction=0.05, deletion_linked_fraction=0.6, malformed_fraction=0.04, late_fraction=0.04, customers=60)


@pytest.fixture(scope="module")
def run(tmp_path_factory, cache_dir):
    home = tmp_path_factory.mktemp("deletion")
    kafka = KafkaConfig(
        port=free_port(), controller_port=free_port(), partitions=3, deadletter_segment_ms=500, cleaner_backoff_ms=500
    )
    broker = KafkaBroker(kafka, home / "kafka", cache_dir)
    broker.start()
    broker.create_topics()
    simulate_burst(broker.config, EVENTS, seed=11, truth_path=home / "truth.jsonl", sim_config=SIM)
    truth = [json.loads(line) for line in (home / "truth.jsonl").read_text().splitlines()]
    config = home / "loopline.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "home": str(home),
                "kafka": {
                    "port": kafka.port,
                    "controller_port": kafka.controller_port,
                    "deadletter_segment_ms": 500,
                    "cleaner_backoff_ms": 500,
                },
                "pipeline": {"follow": {"metrics_port": 0}},
            }
        )
    )
    result = CliRunner().invoke(app, ["run", "--until-now", "--config", str(config)])
    assert result.exit_code == 0, result.output
    cfg = LooplineConfig(home=home, kafka=broker.config)
    yield home, broker, truth, cfg
    broker.stop()


def all_ids(truth: list[dict]) -> dict[str, set[str]]:
    """Deleted person -> every id the truth knows for them."""
    return {t["deletion_person"]: set(t["deletion_person_ids"]) for t in truth if t["kind"] == "deletion"}


def people(truth: list[dict]) -> dict[str, set[str]]:
    """Deleted person -> the ids of theirs that anything in the traffic ties together: the id the deletion
    names, its linked_ids, and the ids the truth shows together on one event (a ticket's author_id and
    author_email), transitively. An id of the person that nothing ever connects to the others (say an email
    address used only in email threads, while the deletion names the customer id) cannot be found by any
    pipeline: those are counted in test_the_traffic..., not searched for."""
    edges = defaultdict(set)
    for t in truth:
        admitted = not t["malformed"] and t["delay_ms"] <= HORIZON_MS  # a too-late ticket is dead-lettered: never seen
        ids = t["subject_ids"] if t["kind"] == "deletion" or (t["kind"] == "ticket" and admitted) else []
        for other in ids[1:]:
            edges[ids[0]].add(other)
            edges[other].add(ids[0])
    out = {}
    for t in truth:
        if t["kind"] == "deletion":
            seen, todo = {t["deletion_subject"]}, [t["deletion_subject"]]
            while todo:
                for nxt in edges[todo.pop()] - seen:
                    seen.add(nxt)
                    todo.append(nxt)
            assert seen <= set(t["deletion_person_ids"])
            out[t["deletion_person"]] = seen
    return out


def needles(ids: set[str]) -> list[bytes]:
    return [i.encode() for i in ids] + [subject_hash(i).encode() for i in ids]


def test_the_traffic_exercises_what_a_deletion_must_reach(run):
    _, _, truth, _ = run
    deletions = [t for t in truth if t["kind"] == "deletion"]
    deleted = people(truth)
    primary = {t["deletion_person"]: t for t in deletions}
    assert len(deleted) >= 10
    # deletions that name a non-primary id (an email address), and ones that list linked ids
    assert sum(not t["deletion_subject"].startswith("cust-") for t in deletions) >= 3
    assert sum(len(t["subject_ids"]) > 1 for t in deletions) >= 5
    # persons whose messages appear under several of their ids
    seen = defaultdict(set)
    for t in truth:
        if t["person"] in deleted and t["kind"] in ("chat", "email", "ticket"):
            seen[t["person"]] |= set(t["subject_ids"])
    reachable, everything = sum(map(len, deleted.values())), sum(map(len, all_ids(truth).values()))
    print(
        f"{len(deleted)} deleted persons with {everything} ids, {reachable} of them tied to the named id by the "
        f"traffic; {sum(len(ids) > 1 for ids in seen.values())} persons seen under several ids"
    )
    assert sum(len(ids) > 1 for ids in deleted.values()) >= 5, "deletions must reach ids beyond the one named"
    assert sum(len(ids) > 1 for ids in seen.values()) >= 1, seen
    assert primary


def _files(root: Path, pattern: str) -> list[Path]:
    return [p for p in root.rglob(pattern) if p.is_file()]


def test_no_record_of_a_deleted_person_remains_in_the_store_files(run):
    home, _, truth, cfg = run
    dataset = cfg.store_root / "datasets" / "live"
    hashes = {subject_hash(i) for ids in people(truth).values() for i in ids}
    raw = {i for ids in people(truth).values() for i in ids}
    records = found = 0
    for path in _files(dataset, "*.avro"):  # every file on disk, live or not
        with open(path, "rb") as f:
            for r in fastavro.reader(f):
                records += 1
                text = json.dumps(r, default=str)
                found += bool(hashes & set(r.get("subject_hashes") or ())) + any(i in text for i in raw)
    print(f"store: {records} records in Avro files, {len(people(truth))} deleted persons, {len(raw)} ids: {found} found")
    assert records > 500 and found == 0


def test_history_links_and_dedup_files_hold_none_of_their_ids(run):
    import sqlite3

    home, _, truth, cfg = run
    dataset = cfg.store_root / "datasets" / "live"
    deleted = people(truth)
    raw = [i.encode() for ids in deleted.values() for i in ids]
    hashes = [subject_hash(i) for ids in deleted.values() for i in ids]
    # raw ids: in no file of the history, the links, the dedup index or the dead-letter index
    for sub in ("history", "links", "dedup", "deadletters"):
        files = _files(dataset / sub, "*")
        assert files, sub
        for path in files:
            data = path.read_bytes()
            assert not any(r in data for r in raw), path
    # subject hashes: only in the forgotten sets (that is how they are kept out), never in the data
    db = sqlite3.connect(dataset / "history" / "threads.sqlite")
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] > 100
    marks = ",".join("?" * len(hashes))
    assert db.execute(f"SELECT count(*) FROM participants WHERE subject IN ({marks})", hashes).fetchone()[0] == 0
    assert not any(set(s.split(",")) & set(hashes) for (s,) in db.execute("SELECT subjects FROM messages"))
    assert set(hashes) <= {s for (s,) in db.execute("SELECT subject FROM forgotten")}
    links = sqlite3.connect(dataset / "links" / "links.sqlite")
    assert set(hashes) <= {s for (s,) in links.execute("SELECT subject FROM forgotten")}
    index_files = [p for p in _files(dataset / "dedup", "*") if p.name.startswith(("log-", "snapshot-"))]
    assert index_files and sum(p.stat().st_size for p in index_files) > 1000
    for path in index_files:
        data = path.read_bytes()
        assert not any(h.encode() in data for h in hashes), path


def _dead_letters(broker: KafkaBroker) -> tuple[list[dict], int]:
    """Every dead letter the topic holds now, read from the beginning by a plain consumer; and how many
    records (tombstones included) it returned."""
    c = Consumer(
        {
            "bootstrap.servers": broker.config.bootstrap,
            "group.id": f"dl-{time.time_ns()}",
            "enable.auto.commit": False,
            "log_level": 2,
        }
    )
    parts = c.list_topics(DEADLETTER_TOPIC, timeout=10).topics[DEADLETTER_TOPIC].partitions
    ends = {p: c.get_watermark_offsets(TopicPartition(DEADLETTER_TOPIC, p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition(DEADLETTER_TOPIC, p, 0) for p in parts])
    letters, n, done = [], 0, {p for p, end in ends.items() if end == 0}
    while len(done) < len(parts):
        for m in c.consume(500, timeout=5):
            n += 1
            if m.value() is not None:
                letters.append(deadletter.decode(m.value()))
            if m.offset() >= ends[m.partition()] - 1:
                done.add(m.partition())
    c.close()
    return letters, n


def test_the_dead_letter_topic_compacts_away_every_letter_of_a_deleted_person(run):
    _, broker, truth, _ = run
    deleted = people(truth)
    ids = [i.encode() for person_ids in deleted.values() for i in person_ids]
    dead = [t for t in truth if t["malformed"] or t["delay_ms"] > HORIZON_MS and t["kind"] != "deletion"]
    # letters that held a deleted person's id when they were written (from the truth: who sent them)
    theirs = [t for t in dead if set(t["person_ids"]) & {i.decode() for i in ids}]
    assert len(theirs) >= 3, "the traffic must dead-letter messages of people who are then deleted"
    deadline = time.monotonic() + 60
    while True:
        letters, n = _dead_letters(broker)
        leaked = [d for d in letters if any(i in d["raw"] for i in ids)]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(
        f"dead letters: {len(dead)} written, {len(theirs)} of deleted persons; the topic now holds {len(letters)} "
        f"letters in {n} records; {len(leaked)} with a deleted person's id"
    )
    assert not leaked
    assert len(letters) >= len(dead) - len(theirs), "letters of other people must stay"


def test_reports_carry_no_ids(run):
    home, _, truth, _ = run
    files = _files(home / "reports", "*")
    assert files
    for ids in people(truth).values():
        for needle in needles(ids):
            for path in files:
                assert needle not in path.read_bytes(), path

"""Ground truth for end-to-end tests: simulator traffic on a real broker, and what the store and the dead-letter
topic must hold for it. Shared by the pipeline tests and the fault-injection suite."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import avro.datafile
import avro.io
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from typer.testing import CliRunner

from loopline.catalog import DEADLETTER_TOPIC
from loopline.cli import app
from loopline.config import DedupConfig, LooplineConfig
from loopline.simulator.produce import simulate_burst
from loopline.stack.kafka import KafkaBroker
from loopline.store import CuratedStore, subject_hash
from pipelines import deadletter

EVENTS = 2000
REPO = Path(__file__).resolve().parents[2]


class Traffic:
    def __init__(self, home: Path, broker: KafkaBroker, truth: list[dict]):
        self.home, self.broker, self.truth = home, broker, truth
        self.config_path = home / "loopline.yaml"
        self.config_path.write_text(
            yaml.safe_dump(
                {
                    "home": str(home),
                    "kafka": {"port": broker.config.port, "controller_port": broker.config.controller_port},
                    "pipeline": {"follow": {"metrics_port": 0}},
                }
            )
        )  # any free port: runs may overlap a user's
        self.cfg = LooplineConfig(home=home, kafka=broker.config)
        self.values = self._values()

    def _values(self) -> dict[tuple, bytes]:
        c = Consumer({"bootstrap.servers": self.broker.config.bootstrap, "group.id": "truth", "enable.auto.commit": False})
        coords = {(t["topic"], t["partition"], t["offset"]) for t in self.truth}
        c.assign([TopicPartition(t, p, 0) for t, p in {(t, p) for t, p, _ in coords}])
        values = {}
        while len(values) < len(coords):
            msgs = c.consume(2000, timeout=10)
            assert msgs
            values.update({(m.topic(), m.partition(), m.offset()): m.value() for m in msgs})
        c.close()
        return values

    def cli(self, *args: str):
        result = CliRunner().invoke(app, [*args, "--config", str(self.config_path)])
        assert result.exit_code == 0, result.output
        return result

    def produce(self, topic: str, key: bytes, value: bytes | None, **truth) -> tuple[str, int, int]:
        """Append one message to a topic (acks=all) and to the ground truth; its (topic, partition, offset)."""
        delivered = []
        producer = Producer({"bootstrap.servers": self.broker.config.bootstrap, "acks": "all", "message.max.bytes": 2_000_000})
        producer.produce(topic, key=key, value=value, on_delivery=lambda err, msg: delivered.append((err, msg)))
        assert producer.flush(30) == 0
        [(err, msg)] = delivered
        assert err is None, err
        at = (msg.topic(), msg.partition(), msg.offset())
        now = int(time.time() * 1000)
        row = {"kind": None, "malformed": None, "id": None, "thread_id": None, "subject_ids": [], "duplicate_of": None}
        row |= {"event_time": now, "arrival_time": now, "delay_ms": 0, "pii": [], "role": None} | truth
        self.truth.append(row | {"topic": at[0], "partition": at[1], "offset": at[2]})
        self.values[at] = value
        return at

    def produce_deletion(self, subject: str) -> tuple[str, int, int]:
        """A DeletionEvent naming one id of a person (the pipeline ties their other ids as it can)."""
        value = json.dumps({"subject_id": subject, "event_time": int(time.time() * 1000)}).encode()
        return self.produce(
            "events.deletion",
            subject.encode(),
            value,
            kind="deletion",
            subject_ids=[subject],
            deletion_subject=subject,
            deletion_person_ids=[subject],
        )

    def store(self, dataset: str) -> CuratedStore:
        return CuratedStore(self.cfg.store_root, dataset)


def simulate_traffic(home: Path, broker: KafkaBroker, events: int = EVENTS, seed: int = 5) -> Traffic:
    """`events` simulated events (all at once) on the broker's topics, with their ground truth."""
    simulate_burst(broker.config, events, seed=seed, truth_path=home / "truth.jsonl")
    truth = [json.loads(line) for line in (home / "truth.jsonl").read_text().splitlines()]
    return Traffic(home, broker, truth)


def coord(t: dict) -> tuple[str, int, int]:
    return (t["topic"], t["partition"], t["offset"])


def expected(traffic: Traffic) -> dict:
    """What the store and the dead-letter topic must hold, derived from the ground truth."""
    horizon_ms = traffic.cfg.pipeline.window.late_horizon_s * 1000  # later than the allowed lateness: curated, late
    valid = [t for t in traffic.truth if not t["malformed"]]
    too_late = {coord(t) for t in valid if t["kind"] != "deletion" and t["delay_ms"] > horizon_ms}
    # a deletion reaches the whole person (truth: deletion_person_ids), as far as the traffic ties their ids
    # to the one named: the request's linked_ids, and ids the truth shows together on one ticket event
    # (author_id, author_email). An id of theirs that nothing ever ties to the others cannot be known.
    ties = defaultdict(set)
    for t in valid:
        if t["kind"] == "deletion" or (t["kind"] == "ticket" and t["role"] == "customer" and coord(t) not in too_late):
            for other in t["subject_ids"][1:]:
                ties[t["subject_ids"][0]].add(other)
                ties[other].add(t["subject_ids"][0])
    deleted = set()
    for t in valid:
        if t["kind"] == "deletion":
            person, todo = {t["deletion_subject"]}, [t["deletion_subject"]]
            while todo:
                for nxt in (ties[todo.pop()] & set(t["deletion_person_ids"])) - person:
                    person.add(nxt)
                    todo.append(nxt)
            deleted |= person
    participants = defaultdict(set)  # a thread's records go when any participant asks to be forgotten
    for t in valid:
        if t["kind"] in ("chat", "email", "ticket") and coord(t) not in too_late:
            r = json.loads(traffic.values[coord(t)])
            ids = {
                r.get("sender_id"),
                r.get("author_id"),
                r.get("author_email"),
                r.get("from_address"),
                *r.get("to_addresses", []),
            }
            participants[(t["kind"], t["thread_id"])] |= ids - {None}
    forgotten_threads = {k for k, ids in participants.items() if ids & deleted}
    messages = {
        coord(t): t
        for t in valid
        if t["kind"] in ("chat", "email", "ticket")
        and coord(t) not in too_late
        and (t["kind"], t["thread_id"]) not in forgotten_threads
    }
    admitted = {t["id"]: t for t in valid if coord(t) not in too_late}
    lateness_ms = traffic.cfg.pipeline.window.allowed_lateness_s * 1000

    def window_time(t: dict) -> int:  # where windowing places it: a late event at its arrival (pipelines/windowing.py)
        return t["arrival_time"] if t["delay_ms"] > lateness_ms else t["event_time"]

    # the first occurrence in window time wins: a copy is the duplicate, unless its original came late, after it;
    # a duplicate whose original never made it in (too late) is a first occurrence
    duplicates = set()
    for c, t in messages.items():
        original = admitted.get(t["duplicate_of"]) if t["duplicate_of"] is not None else None
        if original is not None:
            duplicates.add(c if window_time(original) <= window_time(t) else coord(original))
    feedback = {coord(t) for t in valid if t["kind"] == "feedback" and coord(t) not in too_late}
    dead = {coord(t): t["malformed"] for t in traffic.truth if t["malformed"]} | {c: "too_late" for c in too_late}
    return {"messages": messages, "duplicates": duplicates, "feedback": feedback, "dead": dead, "deleted": deleted}


def lineage_counts(store: CuratedStore, kind: str) -> Counter:
    return Counter((ref["topic"], ref["partition"], ref["offset"]) for r in store.read(kind) for ref in r["lineage"])


def all_records(store: CuratedStore) -> dict[str, list[dict]]:
    ids = {"CuratedDocument": "doc_id", "FeedbackExample": "example_id", "CuratedPair": "pair_id"}
    return {kind: sorted(store.read(kind), key=lambda r: r[key]) for kind, key in ids.items()}


def dedup_scores(store: CuratedStore, exp: dict, min_words: int) -> tuple[float, float]:
    """Recall and precision of duplicate removal: a message counts as removed as a duplicate when it has
    no document although its clean text is long enough to be a document (and a dedup candidate)."""
    stored = set(lineage_counts(store, "CuratedDocument"))
    candidates = {c for c, t in exp["messages"].items() if len((t["expected_clean"] or "").split()) >= min_words}
    removed = candidates - stored
    true_removed = removed & exp["duplicates"]
    recall = len(true_removed) / len(exp["duplicates"] & candidates)
    precision = len(true_removed) / len(removed) if removed else 1.0
    return recall, precision


def assert_store_consistent(store: CuratedStore, exp: dict) -> None:
    """Exactly once, nothing unexpected, nothing forgotten; curation drops only duplicates and empty text."""
    docs = lineage_counts(store, "CuratedDocument")
    assert set(docs) <= set(exp["messages"]), "a document from a late, malformed or forgotten message"
    assert max(docs.values()) == 1, "a message was stored twice"
    fb = lineage_counts(store, "FeedbackExample")
    assert set(fb) == exp["feedback"] and max(fb.values()) == 1
    recall, precision = dedup_scores(store, exp, min_words=DedupConfig().min_words)
    assert recall >= 0.95 and precision >= 0.98, (recall, precision)
    forgotten = {subject_hash(s) for s in exp["deleted"]}
    for kind in ("CuratedDocument", "CuratedPair"):
        assert not any(set(r["subject_hashes"]) & forgotten for r in store.read(kind))


def accounted_total(store: CuratedStore) -> int:
    return sum(b - a + 1 for rs in store.accounted().values() for a, b in rs) if store.exists() else 0


def dead_letters(traffic: Traffic) -> dict[tuple, set[str]]:
    c = Consumer({"bootstrap.servers": traffic.broker.config.bootstrap, "group.id": "dl-check", "enable.auto.commit": False})
    parts = c.list_topics(DEADLETTER_TOPIC, timeout=10).topics[DEADLETTER_TOPIC].partitions
    ends = {p: c.get_watermark_offsets(TopicPartition(DEADLETTER_TOPIC, p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition(DEADLETTER_TOPIC, p, 0) for p in parts])
    out, position = defaultdict(set), {p: 0 for p in parts}
    while any(position[p] < end for p, end in ends.items()):  # offsets, not counts: compaction leaves gaps
        msgs = c.consume(1000, timeout=10)
        assert msgs
        for m in msgs:
            position[m.partition()] = m.offset() + 1
            if m.value() is None:
                continue  # a tombstone: an erased letter, or a segment roll
            d = deadletter.decode(m.value())
            out[(d["topic"], d["partition"], d["offset"])].add(d["reason"])
            assert d["raw"] == (traffic.values[(d["topic"], d["partition"], d["offset"])] or b"")  # b"": a null value
    c.close()
    return out


def avro_records(folder: Path) -> dict[Path, list[dict]]:
    """Every Avro container file under the folder, whatever its name (orphans, temp files), read with the
    reference `avro` library rather than the store's fastavro: what any Avro tool would find on disk."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(path, "rb") as f:
            if f.read(4) != b"Obj\x01":
                continue
            f.seek(0)
            with avro.datafile.DataFileReader(f, avro.io.DatumReader()) as reader:
                found[path] = list(reader)
    return found

"""A re-send storm through a real broker: the simulator's traffic plus a producer re-sending 10% of its events
(same identity, new Kafka offsets), some later in the stream before the first run, some after it (across a
restart of the run), some twice. Every event must be stored exactly once, and every re-send counted, in the
runs and in a replay of the topics."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from loopline.store import CuratedStore
from tests.conftest import running_broker
from tests.pipelines.truth import EVENTS, Traffic, accounted_total, assert_store_consistent, coord, expected, simulate_traffic

SHARE = 0.10  # of the valid events, re-sent
LABEL = "re-sent events (stored once)"  # the report's funnel row


@pytest.fixture(scope="module")
def traffic(tmp_path_factory, cache_dir) -> Traffic:
    home = tmp_path_factory.mktemp("storm")
    with running_broker(home / "kafka", cache_dir) as broker:
        yield simulate_traffic(home, broker)


class _Originals:
    """The store read with each record's lineage mapped from a re-sent copy to the event's first offset, so
    the ground truth's checks (truth.py) count events, not Kafka messages."""

    def __init__(self, store: CuratedStore, first: dict[tuple, tuple]):
        self.store, self.first = store, first

    def read(self, kind: str):
        for r in self.store.read(kind):
            lineage = [dict(zip(("topic", "partition", "offset"), self.first.get(c, c))) for c in map(_coord, r["lineage"])]
            yield {**r, "lineage": lineage}


def _coord(ref: dict) -> tuple:
    return (ref["topic"], ref["partition"], ref["offset"])


def _messages(traffic: Traffic) -> dict[tuple, tuple[bytes | None, int]]:
    """(key, Kafka timestamp) of every event message: a re-send keeps both (same partition, same arrival verdict)."""
    c = Consumer({"bootstrap.servers": traffic.broker.config.bootstrap, "group.id": "storm", "enable.auto.commit": False})
    coords = {coord(t) for t in traffic.truth}
    c.assign([TopicPartition(t, p, 0) for t, p in {(t, p) for t, p, _ in coords}])
    out = {}
    while len(out) < len(coords):
        msgs = c.consume(2000, timeout=10)
        assert msgs
        out.update({(m.topic(), m.partition(), m.offset()): (m.key(), m.timestamp()[1]) for m in msgs})
    c.close()
    return out


def _resend(traffic: Traffic, originals: list[tuple], messages: dict) -> list[tuple]:
    """Produce each original's bytes again (key, partition and timestamp kept); the copies' coordinates."""
    producer = Producer({"bootstrap.servers": traffic.broker.config.bootstrap, "acks": "all", "message.max.bytes": 2_000_000})
    delivered = []
    for at in originals:
        key, timestamp = messages[at]
        producer.produce(
            at[0],
            key=key,
            value=traffic.values[at],
            partition=at[1],
            timestamp=timestamp,
            on_delivery=lambda err, msg: delivered.append((err, msg)),
        )
    assert producer.flush(60) == 0
    assert all(err is None for err, _ in delivered)
    return [(m.topic(), m.partition(), m.offset()) for _, m in delivered]


def _funnel(traffic: Traffic, dataset: str) -> list[dict]:
    return [json.loads(p.read_text())["funnel"] for p in sorted((traffic.home / "reports").glob(f"{dataset}-*/report.json"))]


def test_every_event_of_a_resend_storm_is_stored_exactly_once_and_every_resend_is_counted(traffic):
    exp = expected(traffic)  # of the traffic as simulated: what storing each event once means
    messages = _messages(traffic)
    identified = [t for t in traffic.truth if not t["malformed"] and t["kind"] != "deletion"]
    rng = random.Random(11)
    chosen = rng.sample(identified, round(SHARE * len(identified)))
    before, after = chosen[: len(chosen) // 2], chosen[len(chosen) // 2 :]
    twice = rng.sample(before, 20)  # a retry of a retry
    assert {t["kind"] for t in chosen} == {"chat", "email", "ticket", "feedback"}
    assert sum(len((t["expected_clean"] or "").split()) < 20 for t in chosen if t["kind"] != "feedback") > 50
    first = {}  # copy's coordinates -> the original's

    def storm(events: list[dict]) -> None:
        copies = _resend(traffic, [coord(t) for t in events], messages)
        first.update(zip(copies, (coord(t) for t in events)))

    storm(before)  # later in the stream than the originals, read by the same run
    one = traffic.cli("run", "--until-now", "--dataset", "storm").output
    storm(after + twice)  # after the run: the next run has only the store's memory
    two = traffic.cli("run", "--until-now", "--dataset", "storm").output

    store = traffic.store("storm")
    assert accounted_total(store) == EVENTS + len(first)  # every copy accounted for
    assert_store_consistent(_Originals(store, first), exp)  # each event once; copies collapse onto their event
    stored = Counter(first.get(c, c) for kind in ("CuratedDocument", "FeedbackExample") for c in _lineages(store, kind))
    assert max(stored.values()) == 1
    responses = Counter(first.get(c, c) for c in (_coord(p["lineage"][-1]) for p in store.read("CuratedPair")))
    assert max(responses.values()) == 1, "an answer paired twice: once as itself, once as its copy"

    admitted = [c for c, original in first.items() if original not in exp["dead"]]  # a late event's copy is late too
    assert len(admitted) > 150
    counted = [f[LABEL] for f in _funnel(traffic, "storm")]
    print(f"re-send storm: {len(first)} copies of {len(chosen)} events, {len(admitted)} admitted; counted per run {counted}")
    assert sum(counted) == len(admitted) and all(counted), counted  # both runs met re-sends
    info = next(d for d in CuratedStore.list_datasets(traffic.cfg.store_root) if d["name"] == "storm")
    assert info["resent"] == len(admitted)
    assert sum(info["dead_letters"].values()) == len(exp["dead"]) + len(first) - len(admitted)  # no re-send is an error
    for out, n in zip((one, two), counted):
        assert f"{LABEL} {n:,}" in " ".join(out.split())

    traffic.cli("replay", "--from-beginning", "--dataset-version", "storm-replay")  # every copy in one run
    replay = traffic.store("storm-replay")
    assert_store_consistent(_Originals(replay, first), exp)
    info = next(d for d in CuratedStore.list_datasets(traffic.cfg.store_root) if d["name"] == "storm-replay")
    assert info["resent"] == len(admitted)


def _lineages(store: CuratedStore, kind: str) -> list[tuple]:
    return [_coord(ref) for r in store.read(kind) for ref in r["lineage"]]

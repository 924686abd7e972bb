"""The sink: units commit to a real curated store exactly once, the durable progress is mirrored to the dataset's
consumer group, a person's id links are recorded, and a forgotten person's records stay out.

The consumer group lives on librdkafka's own mock cluster (`test.mock.num.brokers`): real group commits over
the Kafka protocol, in-process, in milliseconds. Deletions (`ApplyDeletions`) tombstone dead letters, which the
mock cannot describe; tests/pipelines/test_deletion.py runs them against a real broker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from confluent_kafka import Consumer, Producer, TopicPartition

from loopline.store import CuratedStore, Unit, subject_hash
from pipelines.links import PersonLinks, links_dir
from pipelines.sink import WriteToStore
from pipelines.source import consumer_group
from tests.loopline.store.test_store import TOPIC, unit

DATASET = "live"


@pytest.fixture
def bootstrap() -> Iterator[str]:
    """A one-broker mock cluster that lives as long as its owning client; the metadata request creates TOPIC."""
    owner = Producer({"test.mock.num.brokers": 1, "log_level": 2})
    brokers = owner.list_topics(TOPIC, timeout=10).brokers
    yield ",".join(f"{b.host}:{b.port}" for b in brokers.values())
    owner.flush(10)


@pytest.fixture
def store(tmp_path) -> CuratedStore:
    store = CuratedStore(tmp_path, DATASET)
    store.create({})
    return store


def _write(bootstrap: str, store: CuratedStore, units: list[Unit]) -> dict[str, int]:
    """Commit `units` through the sink on the FnApiRunner; its store counters by name."""
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    _ = p | beam.Create(units) | WriteToStore(bootstrap, store.root, DATASET)
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("loopline"))["counters"]
    return {c.key.metric.name: c.committed for c in counters if c.key.metric.name.startswith("store.")}


def _group_offset(bootstrap: str, partition: int = 0) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": consumer_group(DATASET), "log_level": 3})
    try:
        [tp] = consumer.committed([TopicPartition(TOPIC, partition)], timeout=10)
        return tp.offset
    finally:
        consumer.close()


def test_units_commit_once_and_the_group_follows_the_durable_prefix(bootstrap, store):
    counters = _write(bootstrap, store, [unit(0), unit(1)])
    assert counters["store.units_committed"] == 2 and counters["store.written.CuratedPair"] == 2
    assert store.counts() == {"CuratedPair": 2, "CuratedDocument": 2, "FeedbackExample": 0}
    assert _group_offset(bootstrap) == 4  # offsets 0..3 are durable: a restart resumes at 4

    counters = _write(bootstrap, store, [unit(1), unit(2), unit(5)])  # unit 1 re-delivered after a crash
    assert (counters["store.units_committed"], counters["store.units_already_stored"]) == (2, 1)
    assert store.counts()["CuratedPair"] == 4
    assert _group_offset(bootstrap) == 6  # never past the gap at 6..9: offsets 10 and 11 wait for it


def test_links_are_recorded_and_a_forgotten_persons_records_stay_out(bootstrap, store):
    store.forget(subject_hash("bob"))  # a deletion applied before bob's windows arrive
    ids = (subject_hash("alice"), subject_hash("alice@example.com"))
    counters = _write(bootstrap, store, [replace(unit(0), links=(ids,)), unit(1, subject="bob")])
    assert (counters["store.units_committed"], counters["store.records_forgotten"]) == (2, 2)
    assert [r["pair_id"] for r in store.read("CuratedPair")] == ["p-0"]
    assert store.is_accounted(TOPIC, 0, 3)  # bob's offsets are consumed all the same
    links = PersonLinks(links_dir(store.path))
    try:
        assert links.component(ids[0]) == set(ids)
    finally:
        links.close()

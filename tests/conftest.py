"""Shared fixtures. Kafka tests run against a real Apache Kafka broker started here, once per session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from loopline import catalog
from loopline import config as cfg
from loopline.stack.kafka import KafkaBroker, free_port


def kafka_config(partitions: int = 3) -> cfg.KafkaConfig:
    return cfg.KafkaConfig(port=free_port(), controller_port=free_port(), partitions=partitions)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return cfg.LooplineConfig().cache_dir


@contextmanager
def running_broker(data_dir: Path, cache_dir: Path) -> Iterator[KafkaBroker]:
    """A real single-node KRaft broker on free loopback ports with its own data dir, topics created."""
    broker = KafkaBroker(kafka_config(), data_dir, cache_dir)
    broker.start()
    broker.create_topics()
    try:
        yield broker
    finally:
        broker.stop()


def end_offsets(broker: KafkaBroker) -> dict[tuple[str, int], int]:
    """(topic, partition) -> end offset, for every event topic."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": broker.config.bootstrap, "group.id": "ends"})
    try:
        return {
            (t, p): c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
            for t in catalog.topics()
            for p in c.list_topics(t, timeout=10).topics[t].partitions
        }
    finally:
        c.close()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory, cache_dir) -> KafkaBroker:
    """The session's broker, for tests that don't mind each other's topics."""
    with running_broker(tmp_path_factory.mktemp("kafka"), cache_dir) as broker:
        yield broker


@pytest.fixture
def loopline_config(tmp_path, kafka) -> Path:
    """A config file pointing the CLI at the session broker, with its own home directory."""
    path = tmp_path / "loopline.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "home": str(tmp_path / "home"),
                "kafka": {"port": kafka.config.port, "controller_port": kafka.config.controller_port},
                "pipeline": {"follow": {"metrics_port": 0}},
            }
        )
    )
    return path

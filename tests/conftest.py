"""Shared fixtures. Kafka tests run against a real Apache Kafka broker started here, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loopline import config as cfg
from loopline.stack.kafka import KafkaBroker, free_port



def kafka_config(partitions: int = 3) -> cfg.KafkaConfig:
    return cfg.KafkaConfig(port=free_port(), controller_port=free_port(), partitions=partitions)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return cfg.LooplineConfig().cache_dir


@pytest.fixture(scope="session")
def kafka(tmp_path_factory, cache_dir) -> KafkaBroker:
    """A real single-node KRaft broker on free loopback ports with its own data dir, topics created."""
    broker = KafkaBroker(kafka_config(), tmp_path_factory.mktemp("kafka"), cache_dir)
    broker.start()
    broker.create_topics()
    yield broker
    broker.stop()


@pytest.fixture
def loopline_config(tmp_path, kafka) -> Path:
    """A config file pointing the CLI at the session broker, with its own home directory."""
    path = tmp_path / "loopline.yaml"
    path.write_text(yaml.safe_dump({
        "home": str(tmp_path / "home"),
        "kafka": {"port": kafka.config.port, "controller_port": kafka.config.controller_port},
        "pipeline": {"follow": {"metrics_port": 0}},
    }))
    return path

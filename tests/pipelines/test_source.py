"""The Java-source adapter: Java Kafka rows become KafkaRecords, and it reads unbounded only."""

from __future__ import annotations

import collections

import pytest

from loopline.config import SourceConfig, WindowConfig
from pipelines.model import KafkaRecord
from pipelines.source import PartitionSlice, ReadKafka, from_java_record


def test_java_kafka_rows_map_to_kafka_records():
    Row = collections.namedtuple("Row", "topic partition offset timestamp key value headers")
    rec = from_java_record(Row("events.chat", 2, 41, 1_793_000_000_000, b"c-1", b"{}", []))
    assert rec == KafkaRecord("events.chat", 2, 41, 1_793_000_000_000, b"c-1", b"{}")


def test_java_source_refuses_bounded_runs():
    read = ReadKafka(
        "127.0.0.1:1", [PartitionSlice("events.chat", 0, 0, 10)], SourceConfig(implementation="beam-java"), WindowConfig(), "live"
    )
    with pytest.raises(ValueError, match="unbounded only"):
        read._java(follow=False)

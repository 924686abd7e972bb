"""`loopline simulate` through the real broker: what the ground truth says was sent is exactly what Kafka holds."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from confluent_kafka import Consumer, TopicPartition
from typer.testing import CliRunner

from loopline import catalog, schemas
from loopline.cli import app
from loopline.simulator.generate import SimConfig


def _end_offsets(kafka, consumer) -> dict[tuple[str, int], int]:
    return {
        (t, p): consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
        for t in catalog.topics()
        for p in range(kafka.config.partitions)
    }


def test_simulate_10k_events_ground_truth_matches_kafka(kafka, loopline_config, tmp_path):
    consumer = Consumer({"bootstrap.servers": kafka.config.bootstrap, "group.id": "sim-check", "enable.auto.commit": False})
    before = _end_offsets(kafka, consumer)
    truth_path = tmp_path / "truth.jsonl"

    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--config",
            str(loopline_config),
            "--rate",
            "2500",
            "--duration",
            "4",
            "--seed",
            "11",
            "--truth",
            str(truth_path),
        ],
    )
    assert result.exit_code == 0, result.output
    truth = [json.loads(line) for line in truth_path.read_text().splitlines()]
    assert len(truth) == 10_000
    assert sorted(t["seq"] for t in truth) == list(range(10_000))

    # Everything this run added to the event topics, and nothing else.
    after = _end_offsets(kafka, consumer)
    consumer.assign([TopicPartition(t, p, before[(t, p)]) for (t, p) in before])
    sent: dict[tuple[str, int, int], bytes] = {}
    stamped: dict[tuple[str, int, int], int] = {}
    while len(sent) < sum(after[k] - before[k] for k in after):
        msgs = consumer.consume(2000, timeout=10)
        assert msgs, "Kafka returned fewer messages than its end offsets promise"
        for m in msgs:
            if m.error() is None:
                sent[(m.topic(), m.partition(), m.offset())] = m.value()
                stamped[(m.topic(), m.partition(), m.offset())] = m.timestamp()[1]
    consumer.close()
    assert len(sent) == 10_000

    for t in truth:
        value = sent[(t["topic"], t["partition"], t["offset"])]
        assert hashlib.sha256(value).hexdigest() == t["value_sha256"]
        assert stamped[(t["topic"], t["partition"], t["offset"])] == t["arrival_time"]
        if t["malformed"]:
            continue
        record = json.loads(value)
        schemas.validate(catalog.by_topic(t["topic"]).schema, record)
        for pii in t["pii"]:
            assert record[pii["field"]][pii["start"] : pii["end"]] == pii["value"]

    # The traffic has what later stages are measured on.
    malformed = Counter(t["malformed"] for t in truth if t["malformed"])
    assert set(malformed) == {"invalid_json", "schema_mismatch", "invalid_utf8", "oversized"}
    assert {t["duplicate_kind"] for t in truth} >= {"exact", "near"}
    assert Counter(t["topic"] for t in truth).keys() == set(catalog.topics())
    assert sum(1 for t in truth if t["late"]) > 0
    assert sum(1 for t in truth if t["answers"]) > 500

    # Several producers with skewed clocks: CreateTime within a partition goes backwards at times, by
    # less than 2 * producer_clock_skew_ms (inside the pipeline's window.timestamp_skew_s of 60 s).
    bound = 2 * SimConfig().producer_clock_skew_ms
    regressions = Counter()
    latest: dict[tuple[str, int], int] = {}
    for topic, partition, offset in sorted(stamped):
        ts, key = stamped[(topic, partition, offset)], (topic, partition)
        if key in latest and ts < latest[key]:
            assert latest[key] - ts < bound, (topic, partition, offset)
            regressions[key] += 1
        latest[key] = max(latest.get(key, ts), ts)
    busy = {(t["topic"], t["partition"]) for t in truth if t["kind"] in ("chat", "email", "ticket")}
    assert busy and all(regressions[key] > 0 for key in busy), regressions


def test_simulate_refuses_without_a_broker(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"home: {tmp_path}\nkafka: {{port: 1, controller_port: 2}}\n")
    result = CliRunner().invoke(app, ["simulate", "--config", str(cfg), "--duration", "1"])
    assert result.exit_code == 1
    assert "not reachable" in result.output

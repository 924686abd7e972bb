"""Events/s of the ingestion spine (Kafka -> decode -> window -> store) against plain Kafka reads.

Against a real broker started for the benchmark, filled by the simulator:
  kafka read           - confluent-kafka consuming every event topic, nothing else (the baseline)
  spine + identity     - the bounded pipeline (decode, window, records, store) with an identity
                         transform where curation plugs in: the framework's overhead
  spine + curation     - the whole pipeline: clean, scrub PII, dedup, pairs (model loading included)
  ... embedding tasks  - the same with pairs.task_method "embedding" instead of keyword rules
The ratio column is each row's time over the baseline's; the last line is what embedding task labels cost
per event (the two curation rows' difference, model loading included).
Usage: .venv/bin/python bench/pipeline_throughput.py [--events 10000] [--runner fnapi|prism]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import apache_beam as beam
from confluent_kafka import Consumer, TopicPartition
from traffic import simulated_broker  # bench/traffic.py

from loopline import catalog
from pipelines.run import execute, plan


def kafka_read(bootstrap: str, partitions: int) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False})
    tps = [TopicPartition(t, p, 0) for t in catalog.topics() for p in range(partitions)]
    total = sum(c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps)
    c.assign(tps)
    n = 0
    while n < total:
        n += len(c.consume(5000, timeout=5))
    c.close()
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--runner", default="fnapi")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, simulated_broker(Path(tmp), args.events) as cfg:
        rows = []
        t = time.perf_counter()
        n = kafka_read(cfg.kafka.bootstrap, cfg.kafka.partitions)
        rows.append(("kafka read", time.perf_counter() - t))
        embedding = cfg.model_copy(deep=True)
        embedding.pipeline.pairs.task_method = "embedding"
        for name, dataset, run_cfg, curation in [
            ("spine + identity", "identity", cfg, beam.Map(lambda thread: thread)),
            ("spine + curation", "curation", cfg, None),
            ("... embedding tasks", "embedding-tasks", embedding, None),
        ]:
            run = plan(run_cfg, dataset=dataset, follow=False)
            out = execute(run_cfg, run, args.runner, curation)
            assert out["counters"]["source.read"] == n
            rows.append((name, out["seconds"]))
    base = rows[0][1]
    print(f"{n} events, runner {args.runner}")
    print(f"{'stage':<20}{'seconds':>10}{'events/s':>12}{'vs kafka read':>15}")
    for name, s in rows:
        print(f"{name:<20}{s:>10.2f}{n / s:>12,.0f}{s / base:>14.1f}x")
    print(f"embedding task labels: {1000 * (rows[3][1] - rows[2][1]) / n:+.2f} ms per event")


if __name__ == "__main__":
    main()

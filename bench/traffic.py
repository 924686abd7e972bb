"""A broker of the benchmarks' own, on free loopback ports, filled by the simulator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from loopline.config import KafkaConfig, LooplineConfig
from loopline.simulator.produce import simulate_burst
from loopline.stack.kafka import KafkaBroker, free_port


@contextlib.contextmanager
def simulated_broker(home: Path, events: int, seed: int = 7) -> Iterator[LooplineConfig]:
    """A config whose home is `home` and whose broker holds `events` simulated events (all sent at once)."""
    cfg = LooplineConfig(home=home, kafka=KafkaConfig(port=free_port(), controller_port=free_port()))
    broker = KafkaBroker(cfg.kafka, home / "kafka", cfg.cache_dir)
    broker.start()
    try:
        broker.create_topics()
        simulate_burst(cfg.kafka, events, seed=seed, truth_path=home / "truth.jsonl")
        yield cfg
    finally:
        broker.stop()

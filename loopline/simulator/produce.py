"""Send simulated traffic to Kafka at a steady rate and record what was sent as ground truth.

The ground truth is JSON lines, one per event, each the generator's truth plus the Kafka
coordinates (topic/partition/offset) and a sha256 of the exact bytes the broker acknowledged,
so tests and benchmarks can line every stored record up with what really went in.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaError, Producer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loopline.config import KafkaConfig, SimulateConfig
from loopline.simulator.generate import SimConfig, generate
from loopline.simulator.truth import SimEvent
from loopline.timeparse import parse_time_ms


@dataclass
class SimulationSummary:
    sent: int
    acknowledged: int
    failed: int
    seconds: float
    truth_path: Path
    by_topic: Counter = field(default_factory=Counter)
    malformed: Counter = field(default_factory=Counter)
    duplicates: Counter = field(default_factory=Counter)

    @property
    def events_per_s(self) -> float:
        return self.sent / self.seconds if self.seconds else float("inf")


def producer(kafka: KafkaConfig) -> Producer:
    """acks=all + idempotence: an acknowledged event is durable and never written twice by retries."""
    return Producer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "compression.type": "lz4",
            "message.max.bytes": kafka.max_message_bytes,
            "queue.buffering.max.messages": 200_000,
        }
    )


def simulate(
    kafka: KafkaConfig,
    *,
    rate: float,
    duration: float,
    seed: int,
    start_ms: int,
    truth_path: Path,
    sim_config: SimConfig | None = None,
    show_progress: bool = True,
) -> SimulationSummary:
    """Produce round(rate*duration) events paced at `rate`/s; write ground truth atomically at the end."""
    count = round(rate * duration)
    truth_path = Path(truth_path)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = truth_path.with_suffix(truth_path.suffix + ".tmp")
    summary = SimulationSummary(sent=0, acknowledged=0, failed=0, seconds=0.0, truth_path=truth_path)
    errors: list[str] = []
    prod = producer(kafka)

    with open(tmp, "w") as out, _progress(show_progress) as progress:
        task = progress.add_task("simulate", total=count)

        def on_delivery(event: SimEvent, err: KafkaError | None, msg) -> None:
            if err is not None:
                summary.failed += 1
                errors.append(f"{event.topic} seq={event.truth['seq']}: {err.str()}")
                return
            summary.acknowledged += 1
            line = {
                **event.truth,
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "value_sha256": hashlib.sha256(event.value).hexdigest(),
                "value_bytes": len(event.value),
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            progress.advance(task)

        t0 = time.monotonic()
        for i, event in enumerate(generate(seed, count, start_ms, sim_config or SimConfig())):
            _pace(t0, i, rate, prod)
            _produce(prod, event, on_delivery)
            summary.sent += 1
            summary.by_topic[event.topic] += 1
            if event.truth.get("malformed"):
                summary.malformed[event.truth["malformed"]] += 1
            if event.truth.get("duplicate_kind"):
                summary.duplicates[event.truth["duplicate_kind"]] += 1
        remaining = prod.flush(60)
        summary.seconds = time.monotonic() - t0
    if remaining or summary.failed:
        raise RuntimeError(
            f"{summary.failed + remaining} of {count} events were not acknowledged by Kafka at "
            f"{kafka.bootstrap}; ground truth kept at {tmp}. First errors: {errors[:3]}"
        )
    tmp.rename(truth_path)
    return summary


def simulate_burst(
    kafka: KafkaConfig, events: int, *, seed: int, truth_path: Path, sim_config: SimConfig | None = None
) -> SimulationSummary:
    """`events` events sent as fast as the broker takes them, their event times from the default start
    (tests and benchmarks: traffic that is all there when a pipeline starts)."""
    return simulate(
        kafka,
        rate=1e9,
        duration=events / 1e9,
        seed=seed,
        start_ms=parse_time_ms(SimulateConfig().start),
        truth_path=truth_path,
        sim_config=sim_config,
        show_progress=False,
    )


def _produce(prod: Producer, event: SimEvent, on_delivery) -> None:
    while True:
        try:
            prod.produce(
                event.topic,
                key=event.key,
                value=event.value,
                timestamp=event.truth["arrival_time"],
                on_delivery=lambda err, msg, e=event: on_delivery(e, err, msg),
            )
            return
        except BufferError:  # local queue full: let deliveries drain, then retry
            prod.poll(0.1)


def _pace(t0: float, i: int, rate: float, prod: Producer) -> None:
    """Hold event i back until its slot at `rate` events/s, serving delivery callbacks meanwhile."""
    prod.poll(0)
    # poll() returns as soon as it serves one delivery report, so wait in a loop until the slot
    while (wait := t0 + i / rate - time.monotonic()) > 0:
        prod.poll(wait)


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("acknowledged"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=False,
    )

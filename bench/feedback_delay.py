"""Delay from thumbs-down events reaching Kafka to the training cycle they trigger, through the real services.

Needs the local stack (`loopline stack up`). Starts `loopline run --follow` into a fresh dataset (it first catches
up with what the topics hold) and `loopline train --follow` on it (a tiny random model from trainer/tiny_model.py:
the measured part is the trigger path, not training speed; triggers: thumbs-down rate only, default poll_s).
Once both are idle, sends --events thumbs-down FeedbackEvents stamped now, then reports when they were committed
to the store (pipeline part: a feedback event commits once the watermark passes it, and the source holds the
watermark `allowed_lateness_s + timestamp_skew_s` behind the stream's time) and when the cycle started (trainer
part: one poll plus the trigger's reads).
Usage: .venv/bin/python bench/feedback_delay.py [--events 12] [--timeout-min 20]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from confluent_kafka import Producer

from loopline.config import load
from loopline.store import CuratedStore
from trainer.registry import AdapterRegistry
from trainer.tiny_model import build_tiny_model


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_until(condition, timeout_s: float, every_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=12)
    parser.add_argument("--timeout-min", type=float, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loopline-feedback-delay-"))
    c = load()
    c.pipeline.store.dataset = c.trainer.dataset = f"fbdelay{uuid.uuid4().hex[:6]}"
    c.pipeline.follow.metrics_port = None
    c.trainer.registry = work / "adapters"
    t = c.trainer
    t.model.base, t.model.max_length = str(build_tiny_model(work / "tiny")), 96
    t.sft.max_steps, t.sft.batch_size, t.kto.max_steps, t.kto.batch_size = 2, 4, 2, 4
    t.eval.max_golden, t.eval.rouge_samples, t.eval.max_new_tokens, t.eval.general_ppl_tolerance = 8, 1, 4, 10.0
    t.triggers.new_pairs, t.triggers.every_s = None, None
    t.triggers.min_feedback, t.triggers.feedback_window = args.events, args.events
    config = work / "loopline.yaml"
    config.write_text(yaml.safe_dump(c.model_dump(mode="json")))
    store = CuratedStore(c.store_root, t.dataset)
    registry = AdapterRegistry(t.registry)
    logs = {name: open(work / f"{name}.log", "w") for name in ("pipeline", "trainer")}
    cli = [sys.executable, "-m", "loopline.cli"]
    services = [
        subprocess.Popen(
            cli + ["run", "--follow", "--dataset", t.dataset, "--config", str(config)],
            stdout=logs["pipeline"],
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        print(f"catching up into dataset {t.dataset} ...", flush=True)
        last = {"n": -1, "since": time.monotonic()}

        def settled() -> bool:
            n = sum(store.counts().values()) if store.exists() else -1
            if n != last["n"]:
                last.update(n=n, since=time.monotonic())
            return n > 0 and time.monotonic() - last["since"] > 90

        if not wait_until(settled, args.timeout_min * 60, 5):
            sys.exit(f"the follow pipeline did not settle; see {work / 'pipeline.log'}")
        services.append(
            subprocess.Popen(
                cli + ["train", "--follow", "--config", str(config)], stdout=logs["trainer"], stderr=subprocess.STDOUT
            )
        )
        time.sleep(30)  # a cycle on the feedback already there may start; let it finish
        wait_until(lambda: not list(registry.root.glob("versions/*/plan.json")), 600)
        cycles_before = len(registry.list())

        producer = Producer({"bootstrap.servers": c.kafka.bootstrap, "acks": "all"})
        ids = [f"delay-{uuid.uuid4().hex[:12]}" for _ in range(args.events)]
        for rid in ids:
            event = {
                "response_id": rid,
                "prompt": f"Where is my order? ({rid})",
                "response": "I cannot help with that.",
                "adapter_version": "v0001",
                "rating": "down",
                "comment": None,
                "event_time": now_ms(),
            }
            producer.produce("events.feedback", key=rid.encode(), value=json.dumps(event).encode())
        producer.flush(30)
        sent_ms = now_ms()
        print(f"sent {len(ids)} thumbs-down events; waiting ...", flush=True)

        def committed():
            prompts = [r["prompt"] for r in store.snapshot().read("FeedbackExample")]
            return now_ms() if all(any(rid in p for p in prompts) for rid in ids) else None

        committed_ms = wait_until(committed, args.timeout_min * 60, 1)

        def cycle_started():
            cards = registry.list()[cycles_before:]
            plans = [json.loads(p.read_text())["created_ms"] for p in registry.root.glob("versions/*/plan.json")]
            started = [card.created_ms for card in cards if "thumbs-down" in card.lineage.get("trigger", "")]
            return min(started + [ms for ms in plans if ms >= sent_ms], default=None)

        cycle_ms = wait_until(cycle_started, args.timeout_min * 60, 1)
    finally:
        for service in services:
            service.send_signal(signal.SIGTERM)
        for service in services:
            try:
                service.wait(timeout=180)
            except subprocess.TimeoutExpired:
                service.kill()
    hold_s = c.pipeline.window.allowed_lateness_s + c.pipeline.window.timestamp_skew_s
    print(
        json.dumps(
            {
                "events": len(ids),
                "watermark_hold_s": hold_s,
                "trainer_poll_s": t.triggers.poll_s,
                "kafka_to_store_s": (committed_ms - sent_ms) / 1000 if committed_ms else None,
                "kafka_to_cycle_start_s": (cycle_ms - sent_ms) / 1000 if cycle_ms else None,
                "logs": str(work),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

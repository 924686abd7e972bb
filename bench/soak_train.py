"""Soak of `loopline train --follow` (the trainer as a service): cycles keep coming, memory stays flat, triggers are prompt.

Starts the real CLI service on a tiny random model (trainer/tiny_model.py: the same transformers/peft/trl/bitsandbytes
code paths as the real base, at a fraction of the cost) against a real store, then for --minutes feeds the store the
way the pipeline does: a batch of new pairs every --pair-every-s seconds (the trigger fires on every second batch),
a run of thumbs-down feedback now and then (the thumbs-down trigger), and a deletion of one subject (retrain from
the base; weights of adapters holding it deleted). Samples the service's RSS and open files every few seconds.
Reports cycles by outcome and trigger, the delay from the commit that crossed a trigger to the start of its cycle,
RSS at the first and last cycle and its peak, and the shutdown on SIGTERM.
Usage: .venv/bin/python bench/soak_train.py [--minutes 10] [--pair-every-s 6]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from loopline.config import LooplineConfig
from loopline.store import CuratedStore, Unit
from trainer.registry import AdapterRegistry
from trainer.tiny_model import SUPPORT_PAIRS, build_tiny_model

SUBJECTS = [hashlib.sha256(f"person-{i}".encode()).hexdigest() for i in range(6)]


def pair(n: int, base: dict) -> dict:
    return {
        "pair_id": f"{base['pair_id']}-{n}",
        "instruction": base["instruction"],
        "input": base["input"],
        "output": base["output"],
        "task": base["task"],
        "quality_score": 0.9,
        "source_kind": "ticket",
        "lineage": [{"topic": "events.ticket", "partition": 0, "offset": n}],
        "content_hash": hashlib.sha256(f"{n}{base['output']}".encode()).hexdigest(),
        "pii_entity_counts": {},
        "subject_hashes": [SUBJECTS[n % len(SUBJECTS)]],
        "window": {"key": f"T-{n}", "start": 1_793_000_000_000, "end": 1_793_000_600_000},
        "created_at": int(time.time() * 1000),
        "pipeline_version": "0.1.0",
    }


def feedback(n: int, desirable: bool) -> dict:
    base = SUPPORT_PAIRS[n % len(SUPPORT_PAIRS)]
    return {
        "example_id": f"f{n}",
        "prompt": base["instruction"],
        "response": base["output"] if desirable else "No.",
        "desirable": desirable,
        "adapter_version": "v0001",
        "comment": None,
        "event_time": int(time.time() * 1000),
        "lineage": [{"topic": "events.feedback", "partition": 0, "offset": n}],
        "created_at": int(time.time() * 1000),
        "pipeline_version": "0.1.0",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--pair-every-s", type=float, default=6)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="loopline-soak-train-"))
    c = LooplineConfig(home=home)
    t = c.trainer
    t.model.base, t.model.max_length = str(build_tiny_model(home / "tiny")), 96
    t.data.task_caps, t.data.golden_percent = {}, 10
    t.sft.max_steps, t.sft.batch_size, t.sft.checkpoint_every = 20, 4, 10
    t.kto.min_examples, t.kto.max_steps, t.kto.batch_size = 8, 2, 4
    t.eval.max_golden, t.eval.rouge_samples, t.eval.max_new_tokens = 16, 2, 8
    t.eval.domain_ppl_tolerance, t.eval.general_ppl_tolerance = 0.05, 10.0
    t.triggers.new_pairs, t.triggers.min_feedback, t.triggers.feedback_window, t.triggers.poll_s = 2 * 16, 8, 16, 1.0
    (home / "loopline.yaml").write_text(yaml.safe_dump(c.model_dump(mode="json")))
    store = CuratedStore(c.store_root, t.dataset)
    store.create(meta={})

    service = subprocess.Popen(
        [sys.executable, "-m", "loopline.cli", "train", "--follow", "--config", str(home / "loopline.yaml")],
        stdout=subprocess.DEVNULL,
        stderr=open(home / "train.log", "w"),
    )
    try:
        proc = psutil.Process(service.pid)
        crossings: list[tuple[int, str]] = []  # (commit ms, what) of each commit that should trigger a cycle
        samples: list[tuple[float, int, int]] = []
        started = time.monotonic()
        n = offset = batches = 0
        next_pairs = next_sample = started
        deleted = False
        while time.monotonic() - started < args.minutes * 60:
            now = time.monotonic()
            if now >= next_pairs:
                batches += 1
                records = {"CuratedPair": [pair(n + i, SUPPORT_PAIRS[i]) for i in range(len(SUPPORT_PAIRS))]}
                n += len(SUPPORT_PAIRS)
                if batches % 5 == 0:  # a run of thumbs-down
                    records["FeedbackExample"] = [feedback(n + i, desirable=i % 4 == 0) for i in range(8)]
                store.commit([Unit(records=records, offsets=(("events.ticket", 0, offset),))])
                offset += 1
                if batches % 2 == 0 or batches % 5 == 0:
                    crossings.append((int(time.time() * 1000), "pairs" if batches % 2 == 0 else "thumbs-down"))
                next_pairs = now + args.pair_every_s
            if not deleted and now - started > args.minutes * 30:
                store.forget(SUBJECTS[0])
                deleted = True
            if now >= next_sample:
                samples.append((now - started, proc.memory_info().rss, proc.num_fds()))
                next_sample = now + 5
            if service.poll() is not None:
                sys.exit(f"the service died (exit {service.returncode}); see {home / 'train.log'}")
            time.sleep(0.2)

    except BaseException:
        service.kill()  # never leave the service behind
        raise
    stop = time.monotonic()
    service.send_signal(signal.SIGTERM)
    code = service.wait(timeout=600)
    shutdown_s = time.monotonic() - stop
    cards = AdapterRegistry(c.registry_root).list()
    plans = sorted(card.created_ms for card in cards)
    delays = [min((p - ms for p in plans if p >= ms), default=None) for ms, _ in crossings]
    delays = [d / 1000 for d in delays if d is not None]
    by_outcome: dict[str, int] = {}
    for card in cards:
        trigger = "rebuild" if card.lineage.get("rebuild") else card.lineage.get("trigger", "?")
        kind = next((k for k in ("thumbs-down", "new pairs", "schedule", "resume") if k in trigger), trigger)
        key = f"{card.status} ({kind})"
        by_outcome[key] = by_outcome.get(key, 0) + 1
    cycle_rss = [rss for _, rss, _ in samples]
    registry = AdapterRegistry(c.registry_root)
    on_disk = [card.version for card in cards if card.holds_forgotten and registry.adapter_dir(card.version).exists()]
    print(
        json.dumps(
            {
                "minutes": args.minutes,
                "pair_batches": batches,
                "cycles": len(cards),
                "by_outcome": by_outcome,
                "trigger_to_cycle_start_s": {
                    "median": statistics.median(delays) if delays else None,
                    "max": max(delays) if delays else None,
                    "n": len(delays),
                },
                "rss_mib": {
                    "at_quarter_time": cycle_rss[len(cycle_rss) // 4] / 2**20,
                    "last_sample": cycle_rss[-1] / 2**20,
                    "peak": max(cycle_rss) / 2**20,
                    "at_half_time": cycle_rss[len(cycle_rss) // 2] / 2**20,
                },
                "open_files": {"first": samples[0][2], "last": samples[-1][2], "max": max(s[2] for s in samples)},
                "sigterm_exit_code": code,
                "shutdown_s": round(shutdown_s, 1),
                "forgotten_adapters_with_weights_on_disk": on_disk,
                "home": str(home),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""Soak: `loopline run --follow` as a service under steady simulated traffic, for as long as you give it.

Starts its own broker, the follow run (a separate process, as users run it, scraped over HTTP) and
the simulator at a steady rate with simulated time running at the wall clock's pace. Every minute it
prints consumer lag, end-to-end latency p50/p99 (Kafka arrival -> store commit, from the
Prometheus histogram, interpolated within buckets), RSS of the Python process (it hosts the
LOOPBACK SDK worker) and of Prism, open threads and store growth. At the end: traffic stops, lag
must reach 0, SIGTERM drains the run, and the store is checked against the simulator's ground
truth: every offset accounted once, no message stored twice, no late/malformed message stored,
dead letters exactly the malformed and too-late events, and which expected messages have no
document. Memory is flat when RSS over the last 20 minutes stays within 10% of its first value.

Windows are shorter than the defaults (gap 2 min, lateness 1 min) so records commit within the
soak; everything else runs as configured by default.
Usage: .venv/bin/python bench/soak_follow.py [--minutes 30] [--rate 5] [--out var/bench/soak]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import yaml
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from loopline.catalog import DEADLETTER_TOPIC
from loopline.config import KafkaConfig, LooplineConfig
from loopline.simulator.generate import SimConfig, generate
from loopline.simulator.produce import simulate
from loopline.stack.kafka import KafkaBroker, free_port
from loopline.store import CuratedStore
from pipelines import deadletter
from pipelines.clean import Cleaner

REPO = Path(__file__).resolve().parent.parent
LONG_GAPS = (600_000, 1_500_000)
WINDOWS = {"window": {"session_gap_s": 120, "allowed_lateness_s": 60, "timestamp_skew_s": 60}, "dedup": {"order_batch_s": 30}}


def paced_sim_config(rate: float) -> SimConfig:
    """A SimConfig whose simulated time advances about as fast as the wall clock at `rate` events/s, with
    long reply gaps scaled to the soak's 2-minute session gap (10-25 min instead of hours to days):
    threads still resume in later windows, and their replies arrive during the soak instead of in one
    burst at its end (a finite run flushes the replies still ahead)."""
    probe = [e.truth["arrival_time"] for e in generate(99, 3000, 0, SimConfig(long_reply_gap_ms=LONG_GAPS))]
    per_sim_s = 3000 / (statistics.median(probe) / 1000 * 2)  # the median event arrives halfway through the bulk
    return SimConfig(
        mean_thread_gap_ms=max(1, round(SimConfig().mean_thread_gap_ms * per_sim_s / rate)), long_reply_gap_ms=LONG_GAPS
    )


def scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        families = list(text_string_to_metric_families(r.read().decode()))
    return {f.name: f.samples for f in families}


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Interpolated quantile from cumulative (upper bound, count) histogram buckets."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank, prev_le, prev_n = q * total, 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_n) / (n - prev_n) if n > prev_n else 1)
        prev_le, prev_n = le, n
    return prev_le


def latency_buckets(samples) -> dict[float, float]:
    return {float(s.labels["le"]): s.value for s in samples if s.name.endswith("_bucket")}


def rss_mb(proc: psutil.Process) -> tuple[float, float]:
    """(the loopline process, its Prism) resident memory in MB."""
    prism = [p for p in proc.children(recursive=True) if "prism" in p.name()]
    return proc.memory_info().rss / 2**20, sum(p.memory_info().rss for p in prism) / 2**20


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0


def check_against_truth(cfg: LooplineConfig, dataset: str, truth: list[dict], bootstrap: str) -> dict:
    store = CuratedStore(cfg.store_root, dataset)
    horizon_ms = cfg.pipeline.window.late_horizon_s * 1000  # later than the lateness but within it: curated, late
    coord = lambda t: (t["topic"], t["partition"], t["offset"])  # noqa: E731
    too_late = {coord(t) for t in truth if not t["malformed"] and t["kind"] != "deletion" and t["delay_ms"] > horizon_ms}
    malformed = {coord(t): t["malformed"] for t in truth if t["malformed"]}
    ends = Counter()
    for t in truth:
        ends[(t["topic"], t["partition"])] = max(ends[(t["topic"], t["partition"])], t["offset"] + 1)
    accounted = store.accounted()
    unaccounted = sum(end - sum(b - a + 1 for a, b in accounted.get(tp, [])) for tp, end in ends.items())
    docs = Counter((ref["topic"], ref["partition"], ref["offset"]) for r in store.read("CuratedDocument") for ref in r["lineage"])
    messages = [t for t in truth if not t["malformed"] and t["kind"] in ("chat", "email", "ticket") and coord(t) not in too_late]
    expected = [t for t in messages if (t["expected_clean"] or "").strip() and t["duplicate_of"] is None]
    deleted = {
        i
        for t in truth
        if t["kind"] == "deletion" and not t["malformed"]
        for i in t["deletion_person_ids"] or [t["deletion_subject"]]
    }
    participants = {}
    for t in truth:
        if t["thread_id"]:
            participants.setdefault(t["thread_id"], set()).update(t["subject_ids"])
    cleaner = Cleaner(cfg.pipeline.clean)  # the clean stage's own rule for chat messages that are only filler
    no_doc = Counter(
        "in a deleted person's thread"
        if participants.get(t["thread_id"], set()) & deleted
        else "chat filler (emptied by design)"
        if t["kind"] == "chat" and not cleaner.clean("chat", t["expected_clean"]).strip()
        else "LOST"
        for t in expected
        if coord(t) not in docs
    )
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "soak-check", "enable.auto.commit": False})
    parts = c.list_topics(DEADLETTER_TOPIC, timeout=10).topics[DEADLETTER_TOPIC].partitions
    ends = {p: c.get_watermark_offsets(TopicPartition(DEADLETTER_TOPIC, p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition(DEADLETTER_TOPIC, p, 0) for p in parts])
    letters, position = [], {p: 0 for p in parts}
    while any(position[p] < end for p, end in ends.items()):  # offsets, not counts: compaction leaves gaps
        for m in c.consume(1000, timeout=10):
            position[m.partition()] = m.offset() + 1
            if m.value() is not None:  # None: a tombstone of an erased letter, or a segment roll
                letters.append(deadletter.decode(m.value()))
    c.close()
    dead = Counter((d["topic"], d["partition"], d["offset"]) for d in letters)
    want_dead = set(malformed) | too_late
    return {
        "events": len(truth),
        "unaccounted_offsets": unaccounted,
        "messages_stored_twice": sum(1 for n in docs.values() if n > 1),
        "docs_from_late_or_malformed": sum(1 for k in docs if k in too_late or k in malformed),
        # a deletion erases the dead letters that name the deleted person, so some may be missing by design
        "dead_letters_missing_or_erased": len(want_dead - set(dead)),
        "dead_letters_unexpected": len(set(dead) - want_dead),
        "dead_letters_published_twice": sum(1 for n in dead.values() if n > 1),
        "expected_documents": len(expected),
        "expected_without_document": dict(no_doc),
        "forgotten_subjects": len(store.forgotten()),
        "records": store.counts(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=5, help="simulated events per second")
    ap.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "soak")
    ap.add_argument("--seed", type=int, default=31)
    args = ap.parse_args()
    home = args.out / time.strftime("%Y%m%d-%H%M%S")
    home.mkdir(parents=True)
    kafka = KafkaConfig(port=free_port(), controller_port=free_port())
    broker = KafkaBroker(kafka, home / "kafka", LooplineConfig().cache_dir)
    broker.start()
    broker.create_topics()
    port = free_port()
    config = home / "loopline.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "home": str(home),
                "kafka": {"port": kafka.port, "controller_port": kafka.controller_port},
                "pipeline": {"follow": {"metrics_port": port}, **WINDOWS},
            }
        )
    )
    cfg = LooplineConfig.model_validate(yaml.safe_load(config.read_text()))
    log = open(home / "follow.log", "w")
    run = subprocess.Popen(
        [sys.executable, "-m", "loopline.cli", "run", "--follow", "--dataset", "soak", "--config", str(config)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    proc = psutil.Process(run.pid)
    sim = paced_sim_config(args.rate)
    truth_path = home / "truth.jsonl"
    sender = threading.Thread(
        target=simulate,
        daemon=True,
        kwargs=dict(
            kafka=kafka,
            rate=args.rate,
            duration=args.minutes * 60,
            seed=args.seed,
            start_ms=int(time.time() * 1000),
            truth_path=truth_path,
            sim_config=sim,
            show_progress=False,
        ),
    )
    print(
        f"soak: {args.minutes:.0f} min at {args.rate:g} events/s (mean thread gap {sim.mean_thread_gap_ms} ms), home {home}",
        flush=True,
    )
    print(
        f"{'min':>4} {'lag':>6} {'p50 s':>7} {'p99 s':>7} {'rss MB':>7} {'prism MB':>8} {'open':>5} {'records':>8} "
        f"{'store MB':>8} {'restarts':>8}",
        flush=True,
    )
    rows, t0, last = [], time.monotonic(), {}
    sender.start()
    minute = 0
    while sender.is_alive() or minute < args.minutes:
        time.sleep(max(0, t0 + 60 * (minute + 1) - time.monotonic()))
        minute += 1
        if run.poll() is not None:
            sys.exit(f"the follow run exited with {run.returncode} in minute {minute}; see {home / 'follow.log'}")
        m = scrape(port)
        lag = sum(s.value for s in m.get("loopline_consumer_lag_messages", []))
        buckets = latency_buckets(m.get("loopline_end_to_end_latency_seconds", []))
        delta = sorted((le, n - last.get(le, 0)) for le, n in buckets.items())
        last = buckets
        rss, prism = rss_mb(proc)
        records = sum(s.value for s in m.get("loopline_records_written", []) if s.name.endswith("_total"))
        row = dict(
            minute=minute,
            lag=lag,
            p50=quantile(delta, 0.5),
            p99=quantile(delta, 0.99),
            rss_mb=rss,
            prism_mb=prism,
            open=next((s.value for s in m.get("loopline_open_threads", [])), 0),
            records=records,
            store_mb=dir_mb(cfg.store_root),
            restarts=next((s.value for s in m.get("loopline_job_restarts", []) if s.name.endswith("_total")), 0),
        )
        rows.append(row)
        fmt = lambda v: f"{v:7.0f}" if v is not None else "      -"  # noqa: E731
        print(
            f"{minute:4d} {lag:6.0f} {fmt(row['p50'])} {fmt(row['p99'])} {rss:7.0f} {prism:8.0f} {row['open']:5.0f} "
            f"{records:8.0f} {row['store_mb']:8.1f} {row['restarts']:8.0f}",
            flush=True,
        )
    sender.join()
    deadline = time.monotonic() + 300
    while sum(s.value for s in scrape(port).get("loopline_consumer_lag_messages", [])) > 0 and time.monotonic() < deadline:
        time.sleep(2)
    t_stop = time.monotonic()
    os.killpg(run.pid, signal.SIGTERM)
    code = run.wait(600)
    print(f"SIGTERM: the run drained and exited {code} in {time.monotonic() - t_stop:.1f} s", flush=True)
    truth = [json.loads(line) for line in truth_path.read_text().splitlines()]
    result = check_against_truth(cfg, "soak", truth, kafka.bootstrap)
    tail = [r["rss_mb"] for r in rows[-20:]]
    result["rss_last_20_min_mb"] = {
        "first": round(tail[0]),
        "max": round(max(tail)),
        "min": round(min(tail)),
        "growth_pct": round(100 * (max(tail) - tail[0]) / tail[0], 1),
    }
    prism_tail = [r["prism_mb"] for r in rows[-20:]]
    result["prism_rss_last_20_min_mb"] = {
        "first": round(prism_tail[0]),
        "max": round(max(prism_tail)),
        "growth_pct": round(100 * (max(prism_tail) - prism_tail[0]) / max(prism_tail[0], 1), 1),
    }
    result["exit_code"] = code
    print(json.dumps(result, indent=1), flush=True)
    (home / "soak.json").write_text(json.dumps({"rows": rows, "result": result}, indent=1))
    broker.stop()


if __name__ == "__main__":
    main()

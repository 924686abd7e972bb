"""Events/s of the whole pipeline on each runner, for the same simulated events, side by side in one run.

What scaling out costs and buys on one machine: FnApiRunner (in-process), Prism, and Flink at parallelism
1 and 2 (`flink.master`: the embedded mini cluster, or --flink-master host:port for a standing cluster such
as `loopline stack up --flink`'s). One broker, filled once by the simulator; each runner runs in a fresh
process of its own (models load once per runner, the same for all) into a dataset of its own. Columns:
  setup     starting the runner's job server (Prism, Flink's job server); 0 for the FnApiRunner
  submit    from submission until the job is RUNNING (pipeline translation, Flink job graph and deployment)
  process   from RUNNING until the job is done: reading, curating and writing every event
  events/s  events / process
Every run must account for every event (source.read) and write record for record what the first runner
wrote, else the benchmark fails: at the defaults that is the demo's traffic (seed 7, 10,000 events).
Usage: .venv/bin/python bench/runner_throughput.py [--events 10000] [--runners fnapi prism flink:1 flink:2]
       [--flink-master [local]]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from apache_beam.runners.runner import PipelineState
from traffic import simulated_broker  # bench/traffic.py

from loopline.config import KafkaConfig, LooplineConfig
from loopline.store import CuratedStore
from pipelines.run import job_server, loopline_counters, partition_offsets, plan, start


def dataset(runner: str) -> str:
    return runner.replace(":", "-p")


def records(cfg: LooplineConfig, name: str) -> dict[str, list[dict]]:
    """Every record of the dataset, in id order: what two runners must agree on."""
    store = CuratedStore(cfg.store_root, name)
    ids = {"CuratedDocument": "doc_id", "FeedbackExample": "example_id", "CuratedPair": "pair_id"}
    return {kind: sorted(store.read(kind), key=lambda r: r[key]) for kind, key in ids.items()}


def run_one(home: Path, port: int, runner: str, flink_master: str) -> dict:
    """One runner's timings, in this process (the parent starts one process per runner)."""
    name, _, parallelism = runner.partition(":")
    cfg = LooplineConfig(home=home, kafka=KafkaConfig(port=port))
    cfg.flink.master, cfg.flink.parallelism = flink_master, int(parallelism) if parallelism else None
    run = plan(cfg, dataset=dataset(runner), follow=False)
    server = None if name == "fnapi" else job_server(cfg, name, home / "run" / f"{name}.log")
    t0 = time.perf_counter()
    endpoint = server.start() if server else None
    t1 = time.perf_counter()
    try:
        result = start(cfg, run, name, job_endpoint=endpoint)  # the FnApiRunner runs the whole job in here
        t2 = time.perf_counter()
        while name != "fnapi" and result.state != PipelineState.RUNNING and not PipelineState.is_terminal(result.state):
            time.sleep(0.05)
        t3 = time.perf_counter()
        result.wait_until_finish()
        t4 = time.perf_counter()
        counters = loopline_counters(result)
    finally:
        if server:
            server.stop()
    if name == "fnapi":
        return {"setup": 0.0, "submit": 0.0, "process": t2 - t0, "read": counters.get("source.read", 0)}
    return {"setup": t1 - t0, "submit": t3 - t1, "process": t4 - t3, "read": counters.get("source.read", 0)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--runners", nargs="+", default=["fnapi", "prism", "flink:1", "flink:2"])
    ap.add_argument("--flink-master", default="[local]")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: RUNNER HOME PORT, one runner in this process
    args = ap.parse_args()
    if args.one:
        runner, home, port = args.one.split(",")
        print(json.dumps(run_one(Path(home), int(port), runner, args.flink_master)))
        return
    rows, first = [], None
    with tempfile.TemporaryDirectory() as tmp, simulated_broker(Path(tmp), args.events) as cfg:
        n = sum(high - low for low, high in partition_offsets(cfg.kafka.bootstrap, cfg.pipeline.source.topics).values())
        for runner in args.runners:
            one = f"{runner},{cfg.home},{cfg.kafka.port}"
            proc = subprocess.run(
                [sys.executable, __file__, "--one", one, "--flink-master", args.flink_master], capture_output=True, text=True
            )
            if proc.returncode != 0:
                sys.exit(f"{runner} failed:\n{proc.stderr[-3000:]}")
            timing = json.loads(proc.stdout.strip().splitlines()[-1])
            if timing["read"] != n:
                sys.exit(f"{runner} read {timing['read']} of {n} events")
            written = records(cfg, dataset(runner))
            first = first or (runner, written)
            if written != first[1]:
                sys.exit(f"{runner} wrote other records than {first[0]}")
            rows.append((runner, timing))
            print(f"{runner}: {timing}", file=sys.stderr)  # progress: a runner takes minutes
    print(f"{n} events (simulator seed 7), flink.master {args.flink_master}; every dataset equals {first[0]}'s")
    print(f"{'runner':<10}{'setup s':>9}{'submit s':>10}{'process s':>11}{'events/s':>10}{'vs ' + rows[0][0]:>10}")
    base = rows[0][1]["process"]
    for runner, t in rows:
        print(
            f"{runner:<10}{t['setup']:>9.1f}{t['submit']:>10.1f}{t['process']:>11.1f}"
            f"{n / t['process']:>10,.0f}{base / t['process']:>9.2f}x"
        )


if __name__ == "__main__":
    main()

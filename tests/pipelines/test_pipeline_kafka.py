"""The ingestion spine on simulator traffic through a real broker, checked against the ground truth.

One broker and one batch of traffic for the module; each test builds its own dataset from it.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fastavro
import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from typer.testing import CliRunner

from loopline.cli import app
from loopline.config import FlinkConfig, ScrubConfig
from loopline.stack.flink_cluster import FlinkCluster
from loopline.stack.kafka import free_port
from loopline.store import CuratedStore, subject_hash
from pipelines.source import consumer_group
from tests.conftest import end_offsets, running_broker
from tests.pipelines.truth import (
    EVENTS,
    Traffic,
    accounted_total,
    all_records,
    assert_store_consistent,
    coord,
    dead_letters,
    expected,
    lineage_counts,
    simulate_traffic,
)

# Share of a PII type's distinct values that may appear verbatim in the store: 0 for every type but
# names, whose bound is the measured rate (2 of 436 distinct names, seed 5) plus a small margin; a first
# name alone can be an ordinary word elsewhere. Simulator text: real-text recall is issue 9's business.
LEAK_ALLOWED = {"PERSON": 0.01}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory, cache_dir) -> Traffic:
    home = tmp_path_factory.mktemp("pipeline")
    with running_broker(home / "kafka", cache_dir) as broker:
        yield simulate_traffic(home, broker)


@pytest.fixture(scope="module")
def live(traffic) -> str:
    """The bounded run into `live` that several tests compare against: built once, its CLI output."""
    return traffic.cli("run", "--until-now").output


def test_bounded_run_stores_every_expected_record_once_and_dead_letters_the_rest(traffic, live):
    exp = expected(traffic)
    assert exp["dead"] and exp["deleted"], "the traffic must exercise dead letters and deletions"
    out = live
    assert "report:" in out
    store = traffic.store("live")
    assert_store_consistent(store, exp)
    before = all_records(store)
    assert {c: reasons for c, reasons in dead_letters(traffic).items()} == {c: {r} for c, r in exp["dead"].items()}
    info = next(d for d in CuratedStore.list_datasets(traffic.cfg.store_root) if d["name"] == "live")
    assert info["dead_letters"] == dict(Counter(exp["dead"].values()))
    # every offset of every topic is accounted for: stored, dropped by curation, dead-lettered, or applied
    accounted = sum(b - a + 1 for rs in store.accounted().values() for a, b in rs)
    assert accounted == EVENTS
    # the dataset's consumer group mirrors the durable progress: everything, here
    group = Consumer({"bootstrap.servers": traffic.broker.config.bootstrap, "group.id": consumer_group("live")})
    committed = group.committed([TopicPartition(t, p) for (t, p) in store.accounted()], timeout=10)
    group.close()
    assert {(tp.topic, tp.partition): tp.offset for tp in committed} == {k: v[-1][1] + 1 for k, v in store.accounted().items()}
    report = json.loads(next((traffic.home / "reports").glob("live-*/report.json")).read_text())
    assert report["funnel"]["read"] == EVENTS and sum(report["dead_letters"].values()) == len(exp["dead"])
    assert (next((traffic.home / "reports").glob("live-*/report.html"))).read_text().count("<img") >= 2

    again = traffic.cli("run", "--until-now").output  # nothing new: nothing written, nothing duplicated
    assert "0 offsets to read" in " ".join(again.split())  # rich wraps long dataset paths
    assert all_records(store) == before


def test_curated_store_holds_no_raw_structured_pii_and_masks_persons(traffic, live):
    exp = expected(traffic)
    store = traffic.store("live")
    corpus = "\n".join(
        [r["text"] for r in store.read("CuratedDocument")]
        + [f"{r['instruction']}\n{r['output']}" for r in store.read("CuratedPair")]
        + [f"{r['prompt']}\n{r['response']}\n{r['comment'] or ''}" for r in store.read("FeedbackExample")]
    )
    values = defaultdict(set)
    for t in traffic.truth:
        for p in t["pii"]:
            values[p["type"]].add(p["value"])
    assert set(values) >= set(ScrubConfig().entities), "the traffic must carry every PII type the scrubber knows"
    leaked = {kind: {v for v in vs if v in corpus or v.replace(" ", "") in corpus} for kind, vs in values.items()}
    print("values leaked into the store, by type:", {k: f"{len(leaked[k])}/{len(values[k])}" for k in sorted(values)})
    for kind in ScrubConfig().entities:  # every type the scrubber knows, at its measured rate (+ a small margin)
        assert len(leaked[kind]) <= LEAK_ALLOWED.get(kind, 0) * len(values[kind]), (kind, sorted(leaked[kind])[:5])

    total = masked = 0
    for r in store.read("CuratedDocument"):
        [ref] = r["lineage"]
        truth = exp["messages"][(ref["topic"], ref["partition"], ref["offset"])]
        for name in {p["value"] for p in truth["pii"] if p["type"] == "PERSON"}:
            pattern = re.compile(rf"\b{re.escape(name)}\b")
            if pattern.search(truth["expected_clean"] or ""):
                total += 1
                masked += not pattern.search(r["text"])
    print(f"PERSON recall in the store: {masked / total:.3f} of {total}")
    assert masked / total >= 0.98  # measured 1.000 of 1,063 (seed 5)
    pairs = list(store.read("CuratedPair"))
    assert pairs and {p["task"] for p in pairs} >= {"billing", "technical", "account", "shipping"}
    # roles from the ground truth, not from the production rule: prompts are the customer's, answers the agent's
    role = {coord(t): t["role"] for t in traffic.truth}
    inverted = [
        p["pair_id"]
        for p in pairs
        if any(role[(ref["topic"], ref["partition"], ref["offset"])] != "customer" for ref in p["lineage"][:-1])
        or role[tuple(p["lineage"][-1][k] for k in ("topic", "partition", "offset"))] != "agent"
    ]
    times = defaultdict(list)
    for t in traffic.truth:
        if t["thread_id"] and not t["malformed"]:
            times[t["thread_id"]].append(t["event_time"])
    gap_ms = traffic.cfg.pipeline.window.session_gap_s * 1000
    spanning = [k for k, ts in times.items() if any(b - a >= gap_ms for a, b in zip(sorted(ts), sorted(ts)[1:]))]
    assert len(spanning) > 20, "the traffic must have threads whose replies come after the session gap"
    assert not inverted, f"{len(inverted)} of {len(pairs)} pairs have a non-customer prompt or a non-agent answer"
    assert all(0.0 <= p["quality_score"] <= 1.0 for p in pairs)


def test_follow_mode_on_prism_writes_exactly_the_bounded_records(traffic, live):
    """Follow on Prism accounts every offset and writes record for record what the bounded run wrote."""
    traffic.cli("run", "--follow", "--idle-stop", "4", "--dataset", "follow")
    follow = traffic.store("follow")
    assert accounted_total(follow) == EVENTS
    assert all_records(follow) == all_records(traffic.store("live"))


def test_bounded_run_on_flink_writes_exactly_the_fnapi_records(traffic, live):
    """The same pipeline on Apache Flink (Beam's Flink job server, an embedded mini cluster): record for record."""
    out = traffic.cli("run", "--until-now", "--runner", "flink", "--dataset", "flink").output
    flink = traffic.store("flink")
    assert accounted_total(flink) == EVENTS, out
    assert all_records(flink) == all_records(traffic.store("live"))


def test_follow_mode_on_flink_writes_exactly_the_bounded_records(traffic, live):
    """Follow on Flink's streaming mode (a job server of the service's own): record for record the bounded run."""
    out = traffic.cli("run", "--follow", "--runner", "flink", "--idle-stop", "4", "--dataset", "flink-follow").output
    follow = traffic.store("flink-follow")
    assert accounted_total(follow) == EVENTS, out
    assert all_records(follow) == all_records(traffic.store("live"))


@contextmanager
def flink_cluster(traffic: Traffic, home: Path, cache_dir: Path) -> Iterator[tuple[FlinkCluster, Path]]:
    """A FlinkCluster on free ports, and a variant of the traffic's config whose flink.master is its REST address."""
    flink = FlinkConfig(rest_port=free_port(), rpc_port=free_port())
    cluster = FlinkCluster(flink, home / "flink", cache_dir)
    config = home / "loopline.yaml"
    settings = yaml.safe_load(traffic.config_path.read_text())
    config.write_text(yaml.safe_dump(settings | {"flink": {"master": cluster.rest}}))
    started = time.monotonic()
    cluster.start()
    print(f"Flink cluster ready in {time.monotonic() - started:.1f}s")
    try:
        yield cluster, config
    finally:
        cluster.stop()


def flink_jobs(cluster: FlinkCluster) -> list[dict]:
    with urllib.request.urlopen(f"http://{cluster.rest}/jobs/overview", timeout=5) as r:
        return json.load(r)["jobs"]


def test_bounded_run_on_a_flink_cluster_writes_exactly_the_fnapi_records(traffic, live, tmp_path, cache_dir):
    """The same pipeline on a JobManager and a TaskManager of their own (`stack up --flink`): record for record."""
    with flink_cluster(traffic, tmp_path, cache_dir) as (cluster, config):
        started = time.monotonic()
        result = CliRunner().invoke(
            app, ["run", "--until-now", "--runner", "flink", "--dataset", "flink-cluster", "--config", str(config)]
        )
        print(f"bounded run on the cluster: {time.monotonic() - started:.1f}s")
        assert result.exit_code == 0, result.output
        assert [j["state"] for j in flink_jobs(cluster)] == ["FINISHED"]  # it ran there, not on an embedded mini cluster
    store = traffic.store("flink-cluster")
    assert accounted_total(store) == EVENTS, result.output
    assert all_records(store) == all_records(traffic.store("live"))


def test_taskmanager_killed_mid_run_then_restarted_leaves_the_store_exactly_once(traffic, live, tmp_path, cache_dir):
    """SIGKILL the TaskManager while the bounded run's job runs, start another: Flink restarts the job on it."""
    store = traffic.store("flink-tm-kill")
    with flink_cluster(traffic, tmp_path, cache_dir) as (cluster, config):
        cmd = [sys.executable, "-m", "loopline.cli", "run", "--until-now", "--runner", "flink", "--dataset", "flink-tm-kill"]
        proc = subprocess.Popen(
            [*cmd, "--config", str(config)],
            cwd=REPO,
            stdout=open(tmp_path / "run.log", "a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            deadline = time.monotonic() + 180
            while not any(j["state"] == "RUNNING" for j in flink_jobs(cluster)) and proc.poll() is None:
                assert time.monotonic() < deadline, "the job never ran"
                time.sleep(0.2)
            running = time.monotonic()  # kill once the store holds a first commit, or 30 s into the job's work
            while accounted_total(store) == 0 and time.monotonic() - running < 30 and proc.poll() is None:
                time.sleep(0.05)
            assert cluster.kill_taskmanager()
            at_kill, killed_after = accounted_total(store), time.monotonic() - running
            cluster.start_taskmanager()
            rc = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        [job] = flink_jobs(cluster)  # one job: Flink restarted it, nobody resubmitted it
        with urllib.request.urlopen(f"http://{cluster.rest}/jobs/{job['jid']}/exceptions", timeout=5) as r:
            failures = [e["exceptionName"] for e in json.load(r)["exceptionHistory"]["entries"]]
        print(f"accounted at the kill {at_kill}, {killed_after:.1f}s after RUNNING; job {job['state']}, {failures}")
    assert at_kill < EVENTS, "the kill did not land mid-run"
    assert rc == 0 and job["state"] == "FINISHED" and failures, (rc, job, failures)
    assert accounted_total(store) == EVENTS
    assert all_records(store) == all_records(traffic.store("live"))


def test_replay_reproduces_the_live_dataset_and_is_repeatable(traffic, live):
    traffic.cli("replay", "--from-beginning", "--dataset-version", "replay1")
    traffic.cli("replay", "--from-beginning", "--dataset-version", "replay2")
    first = all_records(traffic.store("replay1"))
    assert first == all_records(traffic.store("replay2"))
    assert first == all_records(traffic.store("live"))
    listed = traffic.cli("datasets", "list").output
    assert "replay1" in listed and "replay2" in listed


def test_sigkill_at_random_points_then_restart_stores_everything_exactly_once(traffic, live):
    """Kill the follow pipeline (and its Prism runner) at three random points of its progress, restart each time."""
    exp = expected(traffic)
    store = traffic.store("crashy")
    cmd = [
        sys.executable,
        "-m",
        "loopline.cli",
        "run",
        "--follow",
        "--idle-stop",
        "4",
        "--dataset",
        "crashy",
        "--config",
        str(traffic.config_path),
    ]
    rng = random.Random(1234)
    kills = []
    for fraction in sorted(rng.uniform(0.05, 0.95) for _ in range(3)):
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=open(traffic.home / "crashy.log", "a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        deadline = time.monotonic() + 120
        while accounted_total(store) < fraction * EVENTS and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the pipeline and its Prism runner, no goodbyes
        proc.wait()
        kills.append(accounted_total(store))
    assert all(0 < n < EVENTS for n in kills), f"a kill did not land mid-run: accounted after kills {kills}"
    traffic.cli("run", "--until-now", "--dataset", "crashy")
    assert accounted_total(store) == EVENTS
    assert_store_consistent(store, exp)
    assert set(lineage_counts(store, "CuratedDocument")) == set(lineage_counts(traffic.store("live"), "CuratedDocument"))


def test_admission_does_not_depend_on_batch_boundaries_when_kafka_timestamps_go_backwards(traffic):
    """Whether an event is admitted or too late is a function of the event: the same topics read in
    batches of 1, 7 and 2,000 records give the same dataset (the spine; curation plugs in behind it)."""
    import apache_beam as beam

    from pipelines.run import execute, plan

    regressions = Counter()
    last = {}
    for t in sorted(traffic.truth, key=lambda t: (t["topic"], t["partition"], t["offset"])):
        tp = (t["topic"], t["partition"])
        regressions[tp] += tp in last and t["arrival_time"] < last[tp]
        last[tp] = max(last.get(tp, 0), t["arrival_time"])
    assert sum(regressions.values()) > 50, "the input must have Kafka timestamps that go backwards"

    datasets = {}
    for batch_size in (1, 7, 2000):
        cfg = traffic.cfg.model_copy(deep=True)
        cfg.pipeline.source.batch_size = batch_size
        name = f"batch-{batch_size}"
        execute(cfg, plan(cfg, dataset=name, follow=False), "fnapi", curation=beam.Map(lambda thread: thread))
        store = traffic.store(name)
        assert accounted_total(store) == sum(end_offsets(traffic.broker).values())
        datasets[batch_size] = (
            all_records(store),
            dict(next(d for d in CuratedStore.list_datasets(traffic.cfg.store_root) if d["name"] == name)["dead_letters"]),
        )
    assert datasets[1] == datasets[7] == datasets[2000]
    exp = expected(traffic)
    assert datasets[1][1] == dict(Counter(exp["dead"].values())), "dead letters are exactly the malformed and too-late events"


def test_deletion_event_removes_the_subject_from_store_files_and_replays(traffic, live):
    """Appends a deletion to the module's topics, so it runs last."""
    store = traffic.store("live")
    doc = next(r for r in store.read("CuratedDocument") if r["source_kind"] == "ticket")
    record = json.loads(traffic.values[(doc["lineage"][0]["topic"], doc["lineage"][0]["partition"], doc["lineage"][0]["offset"])])
    subject = record["author_id"] if record.get("author_id", "").startswith("cust") else None
    subject = subject or next(
        json.loads(traffic.values[(ref["topic"], ref["partition"], ref["offset"])])["author_id"]
        for r in store.read("CuratedDocument")
        if r["window"]["key"] == doc["window"]["key"]
        for ref in r["lineage"]
    )
    h = subject_hash(subject)
    assert any(h in r["subject_hashes"] for r in store.read("CuratedDocument"))

    prod = Producer({"bootstrap.servers": traffic.broker.config.bootstrap, "acks": "all"})
    prod.produce(
        "events.deletion",
        key=subject.encode(),
        value=json.dumps({"subject_id": subject, "event_time": int(time.time() * 1000)}).encode(),
    )
    assert prod.flush(10) == 0
    traffic.cli("run", "--until-now")

    assert not any(h in r["subject_hashes"] for r in store.read("CuratedDocument"))
    for path in (store_root := traffic.cfg.store_root / "datasets" / "live").rglob("*.avro"):
        with open(path, "rb") as f:
            assert not any(h in r.get("subject_hashes", []) for r in fastavro.reader(f)), path
    assert store_root.exists()
    traffic.cli("replay", "--from-beginning", "--dataset-version", "after-deletion")
    assert not any(h in r["subject_hashes"] for r in traffic.store("after-deletion").read("CuratedDocument"))

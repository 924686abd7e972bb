"""`loopline run --follow` as a service, run as users run it: a separate process on the real broker and
Prism, stopped with SIGTERM, its runner killed under it, its metrics scraped over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import pytest
import yaml
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from loopline.config import LooplineConfig
from loopline.simulator.produce import simulate
from loopline.stack.kafka import KafkaBroker, free_port
from loopline.store import CuratedStore
from tests.conftest import end_offsets, running_broker

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def broker(tmp_path_factory, cache_dir) -> KafkaBroker:
    """A broker of the module's own: its tests account for every offset of every topic."""
    with running_broker(tmp_path_factory.mktemp("kafka"), cache_dir) as b:
        yield b


class Follow:
    """A `loopline run --follow` process with its own home, config and metrics port."""

    def __init__(self, home: Path, broker: KafkaBroker, dataset: str, **pipeline):
        self.home, self.broker, self.dataset = home, broker, dataset
        self.port = free_port()
        home.mkdir(parents=True, exist_ok=True)
        self.config = home / "loopline.yaml"
        follow = {"metrics_port": self.port, **pipeline.pop("follow", {})}
        self.config.write_text(
            yaml.safe_dump(
                {
                    "home": str(home),
                    "kafka": {"port": broker.config.port, "controller_port": broker.config.controller_port},
                    "pipeline": {"follow": follow, **pipeline},
                }
            )
        )
        self.cfg = LooplineConfig.model_validate(yaml.safe_load(self.config.read_text()))
        self.log = home / "follow.log"
        self.proc = None

    def start(self) -> Follow:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loopline.cli", "run", "--follow", "--dataset", self.dataset, "--config", str(self.config)],
            cwd=REPO,
            stdout=open(self.log, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        wait_for(lambda: self.healthy(), 120, "the follow job never became healthy")
        return self

    def healthy(self) -> bool:
        assert self.proc.poll() is None, f"follow run exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        """Samples by 'name{label=value,...}' (labels sorted)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return {
            s.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}" if s.labels else ""): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def lag(self) -> float | None:
        """Total consumer lag once every partition's reader has reported it, else None."""
        lags = [v for k, v in self.metrics().items() if k.startswith("loopline_consumer_lag_messages{")]
        return sum(lags) if len(lags) == len(end_offsets(self.broker)) else None

    def stop(self, timeout: float = 180) -> str:
        """SIGTERM, as systemd or `docker stop` would send; returns the log once the process exited 0."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        assert self.proc.wait(timeout) == 0, self.log.read_text()[-3000:]
        return self.log.read_text()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def store(self) -> CuratedStore:
        return CuratedStore(self.cfg.store_root, self.dataset)


def wait_for(condition, timeout: float, message: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(message)


def assert_exactly_once(store: CuratedStore, broker: KafkaBroker) -> None:
    """Every offset of every topic accounted once (stored, dropped by curation, dead-lettered), no message stored twice."""
    ends = end_offsets(broker)
    accounted = store.accounted()
    for tp, end in ends.items():
        assert accounted.get(tp, []) == ([(0, end - 1)] if end else []), f"{tp}: accounted {accounted.get(tp)}, ends at {end}"
    docs = Counter((ref["topic"], ref["partition"], ref["offset"]) for r in store.read("CuratedDocument") for ref in r["lineage"])
    assert docs and max(docs.values()) == 1, "a message was stored twice"


def send_traffic(
    broker: KafkaBroker, home: Path, *, rate: float, duration: float, seed: int, ago_s: float = 0
) -> threading.Thread:
    """Simulated traffic starting `ago_s` before today's clock, sent in the background at `rate` events/s."""

    def send():
        simulate(
            broker.config,
            rate=rate,
            duration=duration,
            seed=seed,
            start_ms=int((time.time() - ago_s) * 1000),
            truth_path=home / f"truth-{seed}.jsonl",
            show_progress=False,
        )

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender


FAST_WINDOWS = {"window": {"allowed_lateness_s": 30, "timestamp_skew_s": 5, "session_gap_s": 20}, "dedup": {"order_batch_s": 5}}


def test_follow_run_outlives_the_job_server_deadline_then_drains_on_sigterm(broker, tmp_path):
    """Beam's client used to tear every job down at --job_server_timeout; set it to 20 s and run far past it."""
    run = Follow(tmp_path / "home", broker, "deadline", follow={"job_server_timeout_s": 20}, **FAST_WINDOWS)
    try:
        run.start()
        started = time.monotonic()
        sender = send_traffic(broker, tmp_path, rate=10, duration=45, seed=21)
        while time.monotonic() - started < 60:  # three deadlines' worth, with traffic throughout the first 45 s
            assert run.healthy()
            time.sleep(2)
        sender.join()
        wait_for(lambda: run.lag() == 0, 60, "consumer lag did not drop to zero after traffic stopped")
        seen = run.metrics()
        assert seen["loopline_job_restarts_total"] == 0, "the job died and was restarted"
        assert seen["loopline_job_up"] == 1
        assert seen["loopline_stage_events_in_total{stage=decode}"] > 0
        assert seen["loopline_records_written_total{kind=CuratedDocument}"] > 0
        assert seen["loopline_end_to_end_latency_seconds_count"] > 0
        log = run.stop()
    finally:
        run.kill()
    assert "Traceback" not in log and "DEADLINE_EXCEEDED" not in log
    assert_exactly_once(run.store(), broker)  # the drain committed everything read, open windows included


def test_killing_prism_under_a_follow_run_restarts_the_job_and_stores_exactly_once(broker, tmp_path):
    run = Follow(tmp_path / "home", broker, "killed", **FAST_WINDOWS)
    try:
        run.start()
        # simulated time runs ahead of the clock (a burst covers minutes): start it in the past so windows can close
        send_traffic(broker, tmp_path, rate=1e9, duration=400 / 1e9, seed=22, ago_s=900).join()
        wait_for(
            lambda: sum(b - a + 1 for rs in run.store().accounted().values() for a, b in rs) > 100, 120, "nothing was stored"
        )
        [prism] = [p for p in psutil.Process(run.proc.pid).children(recursive=True) if "prism" in p.name()]
        prism.kill()
        wait_for(
            lambda: run.metrics().get("loopline_job_restarts_total", 0) >= 1 and run.healthy(),
            120,
            "the job was not restarted after its runner died",
        )
        assert prism.pid not in {p.pid for p in psutil.Process(run.proc.pid).children(recursive=True)}
        send_traffic(broker, tmp_path, rate=1e9, duration=300 / 1e9, seed=23, ago_s=600).join()
        wait_for(lambda: run.lag() == 0, 120, "consumer lag did not drop to zero")
        log = run.stop()
    finally:
        run.kill()
    assert "restarting in" in log and "Traceback" not in log
    assert_exactly_once(run.store(), broker)


def _produce(broker: KafkaBroker, topic: str, key: str, record: dict, kafka_ms: int) -> None:
    p = Producer({"bootstrap.servers": broker.config.bootstrap, "acks": "all"})
    p.produce(topic, key=key.encode(), value=json.dumps(record).encode(), timestamp=kafka_ms)
    assert p.flush(10) == 0


def test_a_resolved_ticket_commits_without_waiting_for_the_session_gap(broker, tmp_path):
    now = int(time.time() * 1000)
    ticket = dict(ticket_id="T-fresh", product="Portal", tags=[])
    _produce(
        broker,
        "events.ticket",
        "T-fresh",
        {
            **ticket,
            "event_id": "e1",
            "event_type": "opened",
            "author_role": "customer",
            "author_id": "cust-fresh",
            "text": "The export to CSV fails with a timeout error every time I try it.",
            "event_time": now - 3000,
        },
        now - 3000,
    )
    _produce(
        broker,
        "events.ticket",
        "T-fresh",
        {
            **ticket,
            "event_id": "e2",
            "event_type": "resolved",
            "author_role": "agent",
            "author_id": "agent-7",
            "text": "The CSV export timeout is fixed: exports over 10k rows now run in the "
            "background and you get an email when the file is ready.",
            "event_time": now - 1000,
        },
        now - 1000,
    )
    # a ticket answered the next day: two sessions of one thread
    day_ago = now - 26 * 3600_000
    resumed = dict(ticket_id="T-resumed", product="Billing", tags=[])
    _produce(
        broker,
        "events.ticket",
        "T-resumed",
        {
            **resumed,
            "event_id": "r1",
            "event_type": "opened",
            "author_role": "customer",
            "author_id": "cust-resumed",
            "text": "We were charged twice for the November invoice, please refund one payment.",
            "event_time": day_ago,
        },
        day_ago,
    )
    _produce(
        broker,
        "events.ticket",
        "T-resumed",
        {
            **resumed,
            "event_id": "r2",
            "event_type": "resolved",
            "author_role": "agent",
            "author_id": "agent-3",
            "text": "You were right, the November invoice was charged twice; the second payment "
            "is refunded and reaches your card within five days.",
            "event_time": now - 500,
        },
        now - 500,
    )
    _produce(
        broker,
        "events.chat",
        "c-open",
        {
            "conversation_id": "c-open",
            "message_id": "m1",
            "sender_role": "customer",
            "sender_id": "cust-chat",
            "text": "Is there a way to change the billing address on my invoices?",
            "event_time": now - 2000,
            "channel": "web",
            "tenant": "acme",
        },
        now - 2000,
    )
    # a 10 min gap the test never waits out; the hold (lateness + skew) is 7 s
    run = Follow(
        tmp_path / "home",
        broker,
        "fresh",
        window={"allowed_lateness_s": 5, "timestamp_skew_s": 2, "session_gap_s": 600},
        dedup={"order_batch_s": 1},
    )
    keys = lambda: {r["window"]["key"] for r in run.store().read("CuratedDocument")} if run.store().exists() else set()
    try:
        run.start()
        wait_for(lambda: "ticket:T-fresh" in keys(), 90, "the resolved ticket's records did not commit")
        assert "chat:c-open" not in keys(), "a chat without an end marker closed before its gap"
        assert any(p["window"]["key"] == "ticket:T-fresh" for p in run.store().read("CuratedPair"))
        wait_for(lambda: "ticket:T-resumed" in keys(), 60, "the resumed ticket's records did not commit")
        [across] = [p for p in run.store().read("CuratedPair") if p["window"]["key"] == "ticket:T-resumed"]
        assert "charged twice" in across["instruction"] and "refunded" in across["output"]
        assert across["window"]["start"] > day_ago, "formed in the second session, from the first read back"
        run.stop()
    finally:
        run.kill()
    assert "chat:c-open" in keys(), "SIGTERM must commit the windows still open"


def test_a_traceback_printed_to_stderr_becomes_one_log_line(caplog):
    """Beam's SDK worker prints a failed bundle's traceback to stderr, bypassing logging; the service
    keeps its log one line per event (what the killed-runner test above can hit, depending on timing)."""
    import io

    from pipelines.follow import _OneLineTracebacks

    out = io.StringIO()
    stderr = _OneLineTracebacks(out)
    print(
        'Traceback (most recent call last):\n  File "x.py", line 1, in f\n    g()\n'
        "grpc._channel._MultiThreadedRendezvous: <_MultiThreadedRendezvous of RPC that terminated with:\n"
        "\tstatus = StatusCode.UNAVAILABLE\n>\n",
        file=stderr,
    )
    print("an ordinary line", file=stderr)
    assert out.getvalue() == "an ordinary line\n"
    [record] = [r for r in caplog.records if r.name == "loopline.follow"]
    assert record.getMessage() == (
        "a bundle failed: grpc._channel._MultiThreadedRendezvous: <_MultiThreadedRendezvous of RPC that terminated with:"
    )

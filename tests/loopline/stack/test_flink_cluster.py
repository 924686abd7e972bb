"""The stack's Flink cluster is real: a JobManager and a TaskManager JVM, listening on loopback only."""

from __future__ import annotations

import json
import time
import urllib.request

import psutil
import yaml
from typer.testing import CliRunner

from loopline.cli import app
from loopline.config import FlinkConfig
from loopline.stack.flink_cluster import FlinkCluster
from loopline.stack.kafka import free_port
from tests.listeners import listening, on_loopback


def test_cluster_serves_its_slots_on_loopback_only_and_stops_without_a_trace(tmp_path, cache_dir):
    """Started as `stack up --flink` does; `stack status --json` shows it and `stack down` stops it (no Kafka here)."""
    flink = FlinkConfig(rest_port=free_port(), rpc_port=free_port(), taskmanager_slots=3)
    config = tmp_path / "loopline.yaml"
    config.write_text(yaml.safe_dump({"home": str(tmp_path), "kafka": {"port": free_port()}, "flink": flink.model_dump()}))
    cluster = FlinkCluster(flink, tmp_path / "flink", cache_dir)
    started = time.monotonic()
    cluster.start()
    try:
        print(f"cluster ready in {time.monotonic() - started:.1f}s")
        with urllib.request.urlopen(f"http://{cluster.rest}/overview", timeout=5) as r:
            overview = json.load(r)
        assert overview["taskmanagers"] == 1 and overview["slots-total"] == 3
        shown = json.loads(_cli("stack", "status", "--json", "--config", str(config)))["flink"]
        assert shown["running"] and shown["reachable"] and shown["slots_total"] == 3 and shown["rest"] == cluster.rest
        pids = [shown["jobmanager_pid"], shown["taskmanager_pid"]]
        assert all(pids) and pids[0] != pids[1]
        assert all("java" in psutil.Process(p).name() for p in pids)  # the scripts exec'd the JVMs: the pids are theirs
        sockets = set(listening(*map(psutil.Process, pids)))
        # rest + rpc + blob on the JobManager, rpc + data on the TaskManager at least
        assert {p for p, _, _ in sockets} == set(pids) and len(sockets) >= 5, sockets
        print("listening:", sorted(sockets))
        assert all(on_loopback(ip) for _, ip, _ in sockets), sockets
        assert {cluster.config.rest_port, cluster.config.rpc_port} <= {port for _, _, port in sockets}
        assert {p.name.split("_")[0] for p in cluster.tmp_dir.iterdir()} >= {"jm", "tm"}  # working dirs: not in /tmp
    finally:
        down = CliRunner().invoke(app, ["stack", "down", "--config", str(config)])
        cluster.stop()  # no-op after `stack down`; stops the JVMs when something failed first
    assert down.exit_code == 0 and "Flink stopped." in down.output, down.output
    assert not any(psutil.pid_exists(p) for p in pids)
    assert not cluster.tmp_dir.exists()
    assert cluster.status().running is False and cluster.status().taskmanager_pid is None
    assert not cluster.stop()  # nothing left to stop


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output

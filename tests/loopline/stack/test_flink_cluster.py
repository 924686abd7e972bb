"""The stack's Flink cluster is real: a JobManager and a TaskManager JVM, listening on loopback only."""

from __future__ import annotations

import ipaddress
import json
import time
import urllib.request

import psutil

from loopline.config import FlinkConfig
from loopline.stack.flink_cluster import FlinkCluster
from loopline.stack.kafka import free_port


def test_cluster_serves_its_slots_on_loopback_only_and_stops_without_a_trace(tmp_path, cache_dir):
    cluster = FlinkCluster(FlinkConfig(rest_port=free_port(), rpc_port=free_port(), taskmanager_slots=3), tmp_path, cache_dir)
    started = time.monotonic()
    cluster.start()
    try:
        print(f"cluster ready in {time.monotonic() - started:.1f}s")
        with urllib.request.urlopen(f"http://{cluster.rest}/overview", timeout=5) as r:
            overview = json.load(r)
        assert overview["taskmanagers"] == 1 and overview["slots-total"] == 3
        st = cluster.status()
        assert st.running and st.reachable and st.slots_total == 3
        pids = [st.jobmanager_pid, st.taskmanager_pid]
        assert all(pids) and pids[0] != pids[1]
        assert all("java" in psutil.Process(p).name() for p in pids)  # the scripts exec'd the JVMs: the pids are theirs
        listening = {
            (pid, c.laddr.ip, c.laddr.port)
            for pid in pids
            for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
        # rest + rpc + blob on the JobManager, rpc + data on the TaskManager at least
        assert {p for p, _, _ in listening} == set(pids) and len(listening) >= 5, listening
        print("listening:", sorted(listening))
        assert all(_loopback(ip) for _, ip, _ in listening), listening
        assert {cluster.config.rest_port, cluster.config.rpc_port} <= {port for _, _, port in listening}
    finally:
        assert cluster.stop()
    assert not any(psutil.pid_exists(p) for p in pids)
    assert cluster.status().running is False and cluster.status().taskmanager_pid is None
    assert not cluster.stop()  # nothing left to stop


def _loopback(ip: str) -> bool:
    """Java listens on IPv6 sockets; 127.0.0.1 shows as ::ffff:127.0.0.1 there."""
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback

"""Prism as the stack builds it: its job service listens on loopback only (Beam's binds every interface)."""

from __future__ import annotations

import psutil

from loopline.config import PrismConfig
from loopline.stack.prism import PrismServer
from tests.listeners import listening, on_loopback


def test_prism_listens_on_loopback_only_and_stops(cache_dir, tmp_path):
    server = PrismServer(PrismConfig(), cache_dir, tmp_path / "prism.log")
    endpoint = server.start()
    pid = server.process.pid
    try:
        sockets = listening(psutil.Process(pid))
    finally:
        server.stop()
    assert int(endpoint.rsplit(":", 1)[1]) in {port for _, _, port in sockets}
    assert all(on_loopback(ip) for _, ip, _ in sockets), sockets
    assert not psutil.pid_exists(pid)

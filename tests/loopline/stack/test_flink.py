"""Beam's Flink job server from Maven Central: its launcher jar, and the server every port of which is on loopback."""

from __future__ import annotations

import subprocess
import zipfile

import psutil

from loopline.config import FlinkConfig
from loopline.stack.flink import DRIVER, FlinkJobServer, _manifest, ensure_job_server, pipeline_args
from tests.listeners import listening, on_loopback


def test_manifest_lines_stay_within_72_bytes_and_unfold_to_the_class_path():
    jars = [f"libs/some-long-artifact-name-{i}-1.2.3.jar" for i in range(40)]
    text = _manifest(DRIVER, jars)
    lines = text.split("\r\n")[:-1]
    assert all(len(line.encode()) <= 72 for line in lines)
    unfolded = text.replace("\r\n ", "").split("\r\n")
    assert f"Main-Class: {DRIVER}" in unfolded and "Class-Path: " + " ".join(jars) in unfolded


def test_the_launcher_jar_starts_the_job_server_driver(cache_dir):
    """Resolved once into the cache (Maven Central); the JVM finds the driver through the manifest alone."""
    cfg = FlinkConfig()
    launcher = ensure_job_server(cfg, cache_dir)
    with zipfile.ZipFile(launcher) as z:
        manifest = z.read("META-INF/MANIFEST.MF").decode().replace("\r\n ", "")
    jars = [launcher.parent / p for p in manifest.split("Class-Path: ")[1].split("\r\n")[0].split()]
    assert jars and all(j.exists() for j in jars)
    proc = subprocess.run(["java", "-jar", str(launcher), "--help"], capture_output=True, text=True, timeout=120)
    assert "--flink-master" in proc.stdout + proc.stderr  # the driver's own usage: it loaded from the Class-Path
    args = pipeline_args(cfg, "localhost:8099")
    assert "--runner=PortableRunner" in args and "--job_endpoint=localhost:8099" in args


def test_the_job_server_listens_on_loopback_only_and_stops(cache_dir, tmp_path):
    """Beam binds its gRPC servers to every interface whatever --job-host says; ours are patched to bind 127.0.0.1."""
    server = FlinkJobServer(FlinkConfig(), cache_dir, tmp_path / "flink.log")
    endpoint = server.start()
    pid = server.process.pid
    try:
        jvm = psutil.Process(pid)
        sockets = listening(jvm, *jvm.children(recursive=True))
    finally:
        server.stop()
    assert int(endpoint.rsplit(":", 1)[1]) in {port for _, _, port in sockets}
    assert len(sockets) >= 2  # the job and artifact services
    assert all(on_loopback(ip) for _, ip, _ in sockets), sockets
    assert not psutil.pid_exists(pid)

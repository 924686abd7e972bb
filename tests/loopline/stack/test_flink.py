"""Beam's Flink job server from Maven Central: the launcher jar Beam's FlinkRunner starts it from."""

from __future__ import annotations

import subprocess
import zipfile

from loopline.config import FlinkConfig
from loopline.stack.flink import DRIVER, _manifest, ensure_job_server, pipeline_args


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
    args = pipeline_args(cfg, cache_dir)
    assert "--runner=FlinkRunner" in args and f"--flink_job_server_jar={launcher}" in args

"""Beam's Flink job server, run from its Maven Central jars, so pipelines can run on Apache Flink.

Beam publishes no job-server jar for the Python SDK's version on the Maven Central reachable here
(`beam-runners-flink-*-job-server` is absent at every version), but `beam-runners-flink-<flink>` resolves
with all its dependencies at 2.62.0: the jars are resolved once into the cache and a small launcher jar
names the driver class and the jars on its Class-Path, which is what Beam's FlinkRunner takes as
`--flink_job_server_jar`. The runner then starts the job server for each pipeline, like Prism's, and the
job server runs the job on `flink.master`: `[local]`, an embedded Flink mini cluster, or a JobManager's
REST address. The job API between the Python SDK and the Java job server is Beam's versioned portability
protocol, which is why a 2.77 SDK can submit to a 2.62 job server (tested: tests/pipelines/test_flink.py).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from loopline.config import FlinkConfig
from loopline.stack.maven import resolve_jars

POM = Path(__file__).with_name("flink-pom.xml")
DRIVER = "org.apache.beam.runners.flink.FlinkJobServerDriver"


def ensure_job_server(cfg: FlinkConfig, cache_dir: Path) -> Path:
    """The launcher jar of Beam's Flink job server (resolving its jars with Maven on first use)."""
    home = cache_dir / "flink" / f"beam-{cfg.beam_version}-flink-{cfg.flink_version}"
    libs = resolve_jars(
        POM,
        {"beam.version": cfg.beam_version, "flink.version": cfg.flink_version},
        home / "libs",
        f"Beam {cfg.beam_version}'s Flink {cfg.flink_version} runner",
    )
    launcher = home / "job-server.jar"
    if not launcher.exists():
        jars = sorted(p.name for p in libs.glob("*.jar"))
        tmp = launcher.with_suffix(".tmp")
        with zipfile.ZipFile(tmp, "w") as z:
            z.writestr("META-INF/MANIFEST.MF", _manifest(DRIVER, [f"libs/{j}" for j in jars]))
        tmp.rename(launcher)
    return launcher


def pipeline_args(cfg: FlinkConfig, cache_dir: Path) -> list[str]:
    """Options for Beam's FlinkRunner: our job-server jar, the master, workers in this process (loopback)."""
    return [
        "--runner=FlinkRunner",
        f"--flink_job_server_jar={ensure_job_server(cfg, cache_dir)}",
        f"--flink_master={cfg.master}",
        f"--flink_version={cfg.flink_version}",
        "--environment_type=LOOPBACK",
        *([f"--parallelism={cfg.parallelism}"] if cfg.parallelism else []),
    ]


def _manifest(main_class: str, class_path: list[str]) -> str:
    """A jar manifest; its lines are at most 72 bytes, longer values continue on lines starting with a space."""
    lines = []
    for header in ("Manifest-Version: 1.0", f"Main-Class: {main_class}", "Class-Path: " + " ".join(class_path)):
        first, rest = header[:72], header[72:]
        lines.append(first)
        lines += [" " + rest[i : i + 71] for i in range(0, len(rest), 71)]
    return "\r\n".join(lines) + "\r\n"

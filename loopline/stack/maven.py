"""Jars from Maven Central, resolved once into the cache: the Kafka broker's and Beam's Flink job server's."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


class MavenError(RuntimeError):
    """Maven is missing or could not resolve the jars."""


def resolve_jars(pom: Path, properties: dict[str, str], libs: Path, what: str) -> Path:
    """`libs` holding every runtime jar of `pom` (with `properties` set), resolved with Maven on first use."""
    if (libs / ".complete").exists():
        return libs
    if shutil.which("mvn") is None:
        raise MavenError(f"Maven (mvn) is not on PATH: it is needed once to fetch {what}'s jars from Maven Central.")
    tmp = libs.with_name(f"{libs.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = ["mvn", "-B", "-q", "-f", str(pom), *(f"-D{k}={v}" for k, v in properties.items())]
    cmd += ["dependency:copy-dependencies", f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise MavenError(f"resolving {what} from Maven Central failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    (tmp / ".complete").write_text(" ".join(f"{k}={v}" for k, v in properties.items()))
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)  # atomic: a half-resolved directory is never mistaken for a complete one
    return libs

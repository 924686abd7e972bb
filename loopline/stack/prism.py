"""Prism, Beam's portable local runner, built from source.

Beam downloads Prism from GitHub at run time, which is unreachable here; released Beam
versions never build it themselves. So it is built once with `go install` from the Go
module proxy into the cache, and pipelines pass `--prism_location`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from loopline.config import PrismConfig
from loopline.stack.kafka import StackError

MODULE = "github.com/apache/beam/sdks/v2/go/cmd/prism"


def binary_path(config: PrismConfig, cache_dir: Path) -> Path:
    return config.location or Path(cache_dir) / "bin" / f"prism-v{config.beam_version}"


def ensure_prism(config: PrismConfig, cache_dir: Path) -> Path:
    """Return a runnable Prism binary, building it with the Go toolchain the first time."""
    path = binary_path(config, cache_dir)
    if path.exists():
        return path
    if config.location:
        raise StackError(f"prism.location is set to {path}, which does not exist.")
    go = shutil.which("go")
    if go is None:
        raise StackError("Prism can't be built: the Go toolchain (go) is not on PATH. Install Go >= 1.22, or build "
                         f"`go install {MODULE}@v{config.beam_version}` elsewhere and set prism.location.")
    gobin = path.parent / f".gobin-{os.getpid()}"
    proc = subprocess.run([go, "install", f"{MODULE}@v{config.beam_version}"], capture_output=True, text=True,
                          env={**os.environ, "GOBIN": str(gobin), "GOFLAGS": "-buildvcs=false"})
    if proc.returncode != 0:
        shutil.rmtree(gobin, ignore_errors=True)
        raise StackError(f"building Prism v{config.beam_version} failed (needs the Go module proxy):\n{proc.stderr[-2000:]}")
    (gobin / "prism").rename(path)  # atomic: a partial build is never picked up
    shutil.rmtree(gobin, ignore_errors=True)
    return path


def pipeline_args(config: PrismConfig, cache_dir: Path) -> list[str]:
    """Beam pipeline options that run a pipeline on the locally built Prism."""
    return ["--runner=PrismRunner", f"--prism_location={ensure_prism(config, cache_dir)}", "--environment_type=LOOPBACK",
            # A precaution: when Prism 2.77 splits a slow stateful bundle, it releases every key of the
            # residual (engine/elementmanager.go splitBundle) even if the primary still holds that key,
            # so two bundles of one key could race on its state. Our source self-checkpoints and needs
            # no runner-initiated splits.
            "--experiments=prism_disable_sdf_split"]

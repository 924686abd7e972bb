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
        raise StackError(
            "Prism can't be built: the Go toolchain (go) is not on PATH. Install Go >= 1.22, or build "
            f"`go install {MODULE}@v{config.beam_version}` elsewhere and set prism.location."
        )
    gobin = path.parent / f".gobin-{os.getpid()}"
    proc = subprocess.run(
        [go, "install", f"{MODULE}@v{config.beam_version}"],
        capture_output=True,
        text=True,
        env={**os.environ, "GOBIN": str(gobin), "GOFLAGS": "-buildvcs=false"},
    )
    if proc.returncode != 0:
        shutil.rmtree(gobin, ignore_errors=True)
        raise StackError(f"building Prism v{config.beam_version} failed (needs the Go module proxy):\n{proc.stderr[-2000:]}")
    (gobin / "prism").rename(path)  # atomic: a partial build is never picked up
    shutil.rmtree(gobin, ignore_errors=True)
    return path


def pipeline_args(config: PrismConfig, cache_dir: Path) -> list[str]:
    """Beam pipeline options that run a pipeline on the locally built Prism."""
    return [
        "--runner=PrismRunner",
        f"--prism_location={ensure_prism(config, cache_dir)}",
        "--environment_type=LOOPBACK",
        # A precaution: when Prism 2.77 splits a slow stateful bundle, it releases every key of the
        # residual (engine/elementmanager.go splitBundle) even if the primary still holds that key,
        # so two bundles of one key could race on its state. Our source self-checkpoints and needs
        # no runner-initiated splits.
        "--experiments=prism_disable_sdf_split",
    ]


class OwnedJobServer:
    """A job server that a long-running caller owns, in a session of its own.

    Beam's runners start their job server in the caller's process group, so a terminal's Ctrl-C or a
    service manager's SIGTERM to the group kills the runner before the caller can drain the job.
    The caller starts this one instead and submits to its endpoint (pipelines/follow.py, pipelines/run.py).
    """

    name = "job server"
    start_timeout_s = 30.0

    def __init__(self, log_path: Path):
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None

    def command(self, job_port: int) -> list[str]:
        """The command line that serves Beam's job API on 127.0.0.1:`job_port`."""
        raise NotImplementedError

    def start(self) -> str:
        """Start the server, wait until its job port listens; returns the job endpoint."""
        import time

        from loopline.stack.kafka import free_port, port_open

        port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(port),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"{self.name} exited with {self.process.returncode} at start; see {self.log_path}")
            if port_open("127.0.0.1", port):
                return f"localhost:{port}"
            time.sleep(0.1)
        self.stop()
        raise StackError(f"{self.name} did not listen on port {port} within {self.start_timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class PrismServer(OwnedJobServer):
    """Prism as a job server the caller owns (the follow service's runner)."""

    name = "Prism"

    def __init__(self, config: PrismConfig, cache_dir: Path, log_path: Path):
        super().__init__(log_path)
        self.binary = ensure_prism(config, cache_dir)

    def command(self, job_port: int) -> list[str]:
        return [str(self.binary), "--job_port", str(job_port), "--serve_http=false", "--log_level", "warn", "--log_kind", "text"]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the thread that started it dies (Linux), so a
    supervisor killed with SIGKILL never leaves an orphaned runner behind. A session of its own
    keeps group signals away, so nothing else would end it."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the caller's stop() is the only cleanup

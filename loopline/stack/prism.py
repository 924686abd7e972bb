"""Prism, Beam's portable local runner, built from source.

Beam downloads Prism from GitHub at run time, which is unreachable here; released Beam
versions never build it themselves. So it is built once from the Beam Go module (Go module
proxy) into the cache, and pipelines pass `--prism_location`. One line differs from Beam's:
Prism's job service listens on `:<port>`, every interface, with no option to choose; the
build binds it to 127.0.0.1, as every other port of the stack is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from loopline.config import PrismConfig
from loopline.stack.kafka import StackError

MODULE = "github.com/apache/beam/sdks/v2"
SERVER = Path("go/pkg/beam/runners/prism/internal/jobservices/server.go")
ANY_INTERFACE = 'net.Listen("tcp", fmt.Sprintf(":%d", port))'
LOOPBACK = 'net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))'


def binary_path(config: PrismConfig, cache_dir: Path) -> Path:
    return config.location or Path(cache_dir) / "bin" / f"prism-v{config.beam_version}-loopback"


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
            "Prism can't be built: the Go toolchain (go) is not on PATH. Install Go >= 1.22, or build Beam's "
            f"go/cmd/prism v{config.beam_version} elsewhere and set prism.location."
        )
    work = path.parent / f".build-{os.getpid()}"
    try:
        source = _module_source(go, config.beam_version)
        shutil.copytree(source / "go", work / "go", copy_function=shutil.copyfile)  # not its java/, python/ trees
        for name in ("go.mod", "go.sum"):
            shutil.copyfile(source / name, work / name)
        for directory, _, _ in os.walk(work):
            os.chmod(directory, 0o755)  # copied read-only from Go's module cache; the build and cleanup write here
        server = work / SERVER
        text = server.read_text()
        if text.count(ANY_INTERFACE) != 1:
            raise StackError(f"Prism v{config.beam_version}'s job service is not the one this build binds to loopback")
        server.write_text(text.replace(ANY_INTERFACE, LOOPBACK))
        _go(go, ["build", "-o", str(work / "prism"), "./go/cmd/prism"], work, f"building Prism v{config.beam_version}")
        (work / "prism").rename(path)  # atomic: a partial build is never picked up
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def _module_source(go: str, version: str) -> Path:
    """The Beam Go module's source in Go's module cache (read-only), downloaded from the proxy if missing."""
    out = _go(go, ["mod", "download", "-json", f"{MODULE}@v{version}"], None, f"downloading Beam's Go module v{version}")
    return Path(json.loads(out)["Dir"])


def _go(go: str, args: list[str], cwd: Path | None, what: str) -> str:
    proc = subprocess.run([go, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, "GOFLAGS": "-buildvcs=false"})
    if proc.returncode != 0:
        raise StackError(f"{what} failed (needs the Go module proxy):\n{proc.stderr[-2000:]}")
    return proc.stdout


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

"""The loop's long-running parts as supervised child processes: the follow pipeline, the trainer in follow mode and
the model server. Each runs as its own `loopline` command in its own process group (a kill takes its Prism or
workers too), its output goes to a log file and, prefixed with its name, to the console. A service that dies is
restarted after a backoff that doubles up to a minute; one that dies `max_restarts` times within `window_s`
(a config error, a port in use) stops the loop with its last line, rather than restarting forever. Stopping
sends SIGTERM in reverse start order (server first, so no new feedback arrives; pipeline last, so it drains what
was published) and SIGKILL after each service's grace period.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("loopline.loop")


@dataclass
class Service:
    name: str
    args: list[str]  # a `loopline` command line, without --config
    grace_s: float = 30.0  # SIGTERM -> SIGKILL; a killed trainer resumes its cycle from the last checkpoint


@dataclass
class _Running:
    service: Service
    proc: subprocess.Popen
    started: float
    log_file: Path
    last_line: str = ""
    deaths: deque = field(default_factory=deque)
    restart_at: float | None = None
    backoff_s: float = 1.0


class ServiceFailed(RuntimeError):
    """A service keeps dying: the loop stops, naming it and its last output line."""


class Supervisor:
    def __init__(
        self,
        services: list[Service],
        log_dir: Path,
        config_path: Path | None = None,
        echo=print,
        max_restarts: int = 5,
        window_s: float = 300.0,
    ):
        self.services, self.log_dir, self.config_path = services, Path(log_dir), config_path
        self.echo, self.max_restarts, self.window_s = echo, max_restarts, window_s
        self.running: dict[str, _Running] = {}
        self.restarts = 0
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        for service in self.services:
            self.running[service.name] = self._spawn(service, deque())

    def run(self, stop: threading.Event, poll_s: float = 0.5) -> None:
        """Watch the services until `stop` is set (Ctrl-C) or one keeps dying; then stop them all."""
        try:
            while not stop.wait(poll_s):
                for name, r in list(self.running.items()):
                    self._check(name, r)
        finally:
            self.stop()

    def stop(self) -> None:
        for name in reversed([s.name for s in self.services]):
            r = self.running.get(name)
            if r is None or r.proc.poll() is not None:
                continue
            self.echo(f"[loop] stopping {name} (SIGTERM, up to {r.service.grace_s:.0f} s)")
            _signal_group(r.proc, signal.SIGTERM)
            try:
                r.proc.wait(timeout=r.service.grace_s)
            except subprocess.TimeoutExpired:
                self.echo(f"[loop] {name} did not stop in {r.service.grace_s:.0f} s: SIGKILL")
                _signal_group(r.proc, signal.SIGKILL)
                r.proc.wait()

    def _check(self, name: str, r: _Running) -> None:
        now = time.monotonic()
        if r.restart_at is not None:
            if now >= r.restart_at:
                self.restarts += 1
                self.echo(f"[loop] restarting {name}")
                self.running[name] = self._spawn(r.service, r.deaths, backoff_s=min(r.backoff_s * 2, 60.0))
            return
        code = r.proc.poll()
        if code is None:
            if now - r.started > self.window_s:
                r.backoff_s = 1.0  # it ran a while: the next death starts the backoff over
            return
        r.deaths.append(now)
        while r.deaths and now - r.deaths[0] > self.window_s:
            r.deaths.popleft()
        if len(r.deaths) > self.max_restarts:
            raise ServiceFailed(
                f"{name} exited {len(r.deaths)} times in {self.window_s:.0f} s (last: exit {code}: {r.last_line!r}); "
                f"see {r.log_file}"
            )
        self.echo(f"[loop] {name} exited with {code}; restarting in {r.backoff_s:.0f} s (log: {r.log_file})")
        r.restart_at = now + r.backoff_s

    def _spawn(self, service: Service, deaths: deque, backoff_s: float = 1.0) -> _Running:
        args = [sys.executable, "-m", "loopline.cli", *service.args]
        if self.config_path:
            args += ["--config", str(self.config_path)]
        log_file = self.log_dir / f"{service.name}.log"
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops the services in order
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        r = _Running(service, proc, time.monotonic(), log_file, deaths=deaths, backoff_s=backoff_s)
        threading.Thread(target=self._pump, args=(r,), daemon=True, name=f"log-{service.name}").start()
        return r

    def _pump(self, r: _Running) -> None:
        with open(r.log_file, "a", encoding="utf-8") as f:
            for line in r.proc.stdout:
                f.write(line)
                f.flush()
                line = line.rstrip()
                if line:
                    r.last_line = line
                    self.echo(f"[{r.service.name}] {line}")


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass

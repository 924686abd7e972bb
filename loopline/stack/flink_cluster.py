"""A real two-process Apache Flink cluster (one JobManager, one TaskManager) on loopback, for `--runner flink`.

Flink's binary distribution is neither on Maven Central nor in Debian, but PyPI carries its parts:
`apache-flink-libraries` (an sdist holding lib/, opt/, plugins/ with flink-dist) and `apache-flink` (a wheel
holding bin/ and conf/). Both are downloaded once with pip (never installed: apache-flink pins an old
apache-beam) and assembled into a FLINK_HOME in the cache. The daemons run in the foreground scripts, which
exec the JVM, so the pids we keep are the JVMs'; their config, logs and pid files live under `<home>/flink/`.
Beam's Flink job server submits to it when `flink.master` is the cluster's REST address.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from loopline.config import FlinkConfig
from loopline.stack.kafka import StackError, _alive, end_process, port_open

HOST = "127.0.0.1"
DAEMONS = {"jobmanager": "jobmanager.sh", "taskmanager": "taskmanager.sh"}
# Console-only logging: the scripts' default also writes a rolling file; the daemon's stdout is our log file.
LOG4J = """rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
logger.netty.name = org.jboss.netty.channel.DefaultChannelPipeline
logger.netty.level = OFF
"""


def ensure_flink_home(cfg: FlinkConfig, cache_dir: Path) -> Path:
    """A FLINK_HOME (bin/ conf/ lib/ opt/ plugins/) for `flink.dist_version`, downloaded from PyPI on first use."""
    home = Path(cache_dir) / "flink" / f"flink-{cfg.dist_version}"
    if (home / ".complete").exists():
        return home
    tmp = home.with_name(f"{home.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    dl = tmp / "download"
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dl)]
    # The wheel is only unpacked for its scripts, so any platform's will do: fixing the tags avoids building the sdist.
    wheel = ["--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux2014_x86_64"]
    for cmd in ([*pip, f"apache-flink-libraries=={cfg.dist_version}"], [*pip, *wheel, f"apache-flink=={cfg.dist_version}"]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            why = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
            raise StackError(f"downloading Flink {cfg.dist_version} from PyPI failed: {' '.join(why)}")
    [sdist] = dl.glob("apache-flink-libraries-*.tar.gz")
    [whl] = dl.glob("apache_flink-*.whl")
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts  # apache-flink-libraries-X/deps/<dir>/...
            if len(parts) > 3 and parts[1] == "deps" and parts[2] in {"lib", "opt", "plugins", "bin"}:
                member.name = str(Path(*parts[2:]))
                tar.extract(member, tmp, filter="data")
    with zipfile.ZipFile(whl) as z:
        for name in z.namelist():
            parts = Path(name).parts  # pyflink/<bin|conf>/...
            if len(parts) > 2 and parts[0] == "pyflink" and parts[1] in {"bin", "conf"} and not name.endswith("/"):
                target = tmp.joinpath(*parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(name))
                if parts[1] == "bin":
                    target.chmod(0o755)
    shutil.rmtree(dl)
    if not (tmp / "bin" / "jobmanager.sh").exists() or not list((tmp / "lib").glob("flink-dist-*.jar")):
        raise StackError(f"Flink {cfg.dist_version} from PyPI lacks bin/jobmanager.sh or lib/flink-dist: not a usable FLINK_HOME")
    (tmp / ".complete").write_text(cfg.dist_version)
    shutil.rmtree(home, ignore_errors=True)
    tmp.rename(home)  # atomic: a half-unpacked home is never mistaken for a complete one
    return home


@dataclass
class ClusterStatus:
    running: bool
    jobmanager_pid: int | None
    taskmanager_pid: int | None
    rest: str
    reachable: bool
    taskmanagers: int
    slots_total: int
    slots_available: int


class FlinkCluster:
    """Start, stop and inspect a JobManager and a TaskManager whose config, logs and pid files live under `data_dir`."""

    def __init__(self, config: FlinkConfig, data_dir: Path, cache_dir: Path):
        self.config = config
        self.dir = Path(data_dir)
        self.cache_dir = Path(cache_dir)
        self.conf_dir = self.dir / "conf"
        self.tmp_dir = self.dir / "tmp"  # blobs, shuffle files, working dirs: a killed TaskManager leaves its own here

    @property
    def rest(self) -> str:
        """The REST address: what `flink.master` is set to for pipelines to run here."""
        return f"{HOST}:{self.config.rest_port}"

    def pid_file(self, daemon: str) -> Path:
        return self.dir / f"{daemon}.pid"

    def log_file(self, daemon: str) -> Path:
        return self.dir / f"{daemon}.log"

    # -- files ---------------------------------------------------------------
    def _write_config(self, home: Path) -> None:
        """The shipped config.yaml (its JVM flags for Java 17) with every listener on loopback and our sizes."""
        c = self.config
        ours = {
            "jobmanager.rpc.address": HOST,
            "jobmanager.rpc.port": c.rpc_port,
            "jobmanager.bind-host": HOST,
            "jobmanager.memory.process.size": c.jobmanager_memory,
            "taskmanager.host": HOST,
            "taskmanager.bind-host": HOST,
            "taskmanager.rpc.port": "0",
            "taskmanager.data.port": 0,
            "taskmanager.numberOfTaskSlots": c.taskmanager_slots,
            "taskmanager.memory.process.size": c.taskmanager_memory,
            "rest.address": HOST,
            "rest.bind-address": HOST,
            "rest.port": c.rest_port,
            "blob.server.port": "0",
            "io.tmp.dirs": str(self.tmp_dir),
            "web.tmpdir": str(self.tmp_dir),
            "metrics.internal.query-service.port": "0",
            # a job outlives a lost TaskManager: it is noticed within seconds and the job restarts once one is back
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": c.restart_attempts,
            "restart-strategy.fixed-delay.delay": "5 s",
            "heartbeat.interval": 2000,
            "heartbeat.timeout": 10000,
        }
        shipped = _flatten(yaml.safe_load((home / "conf" / "config.yaml").read_text()) or {})
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)
        (self.conf_dir / "config.yaml").write_text(yaml.safe_dump(shipped | ours, sort_keys=True))
        (self.conf_dir / "log4j-console.properties").write_text(LOG4J)

    # -- lifecycle -----------------------------------------------------------
    def pid(self, daemon: str) -> int | None:
        try:
            pid = int(self.pid_file(daemon).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self) -> None:
        """Start both daemons (no-op for one of ours that runs) and wait until the TaskManager's slots are registered."""
        if self.pid("jobmanager") is None:
            for port, key in ((self.config.rest_port, "rest_port"), (self.config.rpc_port, "rpc_port")):
                if port_open(HOST, port):
                    raise StackError(f"port {HOST}:{port} is already in use by another process; stop it or set flink.{key}.")
            home = ensure_flink_home(self.config, self.cache_dir)
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self._write_config(home)
            self._launch("jobmanager", home)
        if self.pid("taskmanager") is None:
            self.start_taskmanager()
        self.wait_ready()

    def start_taskmanager(self) -> None:
        """Start a TaskManager and wait until the JobManager lists it: after kill_taskmanager, jobs restart on it."""
        before = {tm["id"] for tm in self._get("/taskmanagers").get("taskmanagers", [])}
        self._launch("taskmanager", ensure_flink_home(self.config, self.cache_dir))
        self._wait(lambda: {tm["id"] for tm in self._get("/taskmanagers").get("taskmanagers", [])} - before, "a new TaskManager")

    def _launch(self, daemon: str, home: Path) -> None:
        env = os.environ | {"FLINK_HOME": str(home), "FLINK_CONF_DIR": str(self.conf_dir), "FLINK_PID_DIR": str(self.dir)}
        with open(self.log_file(daemon), "ab") as log:
            proc = subprocess.Popen(
                [str(home / "bin" / DAEMONS[daemon]), "start-foreground"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        self.pid_file(daemon).write_text(str(proc.pid))  # the script execs the JVM: this is its pid

    def wait_ready(self) -> None:
        slots = self.config.taskmanager_slots
        self._wait(lambda: (o := self._get("/overview")).get("taskmanagers", 0) >= 1 and o["slots-total"] >= slots, "ready")

    def _wait(self, done, what: str) -> None:
        deadline = time.monotonic() + self.config.start_timeout_s
        while time.monotonic() < deadline:
            for daemon in DAEMONS:
                if self.pid(daemon) is None:
                    raise StackError(f"the Flink {daemon} exited during start-up; see {self.log_file(daemon)}")
            if done():
                return
            time.sleep(0.5)
        raise StackError(f"Flink was not {what} within {self.config.start_timeout_s:.0f}s; see {self.dir}/*.log")

    def _get(self, path: str) -> dict:
        """A REST API answer; {} while nothing answers (starting or stopped)."""
        try:
            with urllib.request.urlopen(f"http://{self.rest}{path}", timeout=5) as r:
                return json.load(r)
        except (urllib.error.URLError, OSError, ValueError):
            return {}

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Graceful stop (SIGTERM), SIGKILL if a daemon hangs. Returns whether any daemon was running."""
        stopped = [self._signal(d, signal.SIGTERM, timeout_s) for d in ("taskmanager", "jobmanager")]
        while stopped[1] and port_open(HOST, self.config.rest_port):  # so an immediate restart can bind
            time.sleep(0.1)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        return any(stopped)

    def kill_taskmanager(self) -> bool:
        """SIGKILL the TaskManager, as a crashed machine would: for tests that prove jobs survive it."""
        return self._signal("taskmanager", signal.SIGKILL, 10.0)

    def _signal(self, daemon: str, sig: int, timeout_s: float) -> bool:
        pid = self.pid(daemon)
        self.pid_file(daemon).unlink(missing_ok=True)
        if pid is None:
            return False
        end_process(pid, sig, timeout_s)
        return True

    def status(self) -> ClusterStatus:
        jm, tm = self.pid("jobmanager"), self.pid("taskmanager")
        overview = self._get("/overview") if jm is not None else {}
        return ClusterStatus(
            running=jm is not None,
            jobmanager_pid=jm,
            taskmanager_pid=tm,
            rest=self.rest,
            reachable=bool(overview),
            taskmanagers=overview.get("taskmanagers", 0),
            slots_total=overview.get("slots-total", 0),
            slots_available=overview.get("slots-available", 0),
        )


def _flatten(tree: dict, prefix: str = "") -> dict:
    """Nested YAML keys as Flink's dotted ones, so ours override the shipped ones whichever form they use."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat

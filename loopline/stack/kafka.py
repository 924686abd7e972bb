"""A real Apache Kafka 4.x broker (KRaft, single node) run from its Maven Central jars.

No package ships the broker here and Apache mirrors are unreachable, so the jars are
resolved once with Maven into the cache; the broker runs as a detached JVM whose data,
logs and pid file live in a project-local directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from loopline.catalog import DEADLETTER_TOPIC
from loopline.config import KafkaConfig
from loopline.stack.maven import resolve_jars

log = logging.getLogger(__name__)
POM = Path(__file__).with_name("kafka-pom.xml")
CLUSTER_ID_FILE = "cluster.id"

# Events carry their arrival time as the Kafka (CreateTime) timestamp, which may lie in the past
# (replayed or simulated traffic) or run ahead of the wall clock. Keep everything: topics are the
# replayable source of truth, and time-based retention would silently delete old-timestamped data.
TOPIC_CONFIG = {
    "retention.ms": "-1",
    "message.timestamp.type": "CreateTime",
    "message.timestamp.after.max.ms": str(2**62),
}


def topic_config(config: KafkaConfig, topic: str) -> dict[str, str]:
    """Raw event topics keep everything by default (`kafka.raw_retention_ms`, -1; a deployment that must
    erase raw text bounds it). The dead-letter topic is compacted: its keys (topic/partition/offset) are
    unique, so compaction keeps every letter, and a deletion's tombstone (same key, null value) erases
    one (pipelines/deadletter.py). Short segments and an eager cleaner make that happen within seconds;
    tombstones themselves hold only the key and go after delete.retention.ms."""
    base = TOPIC_CONFIG | {"max.message.bytes": str(config.max_message_bytes)}
    if topic != DEADLETTER_TOPIC:
        return base | {"retention.ms": str(config.raw_retention_ms)}
    return base | {
        "cleanup.policy": "compact",
        "segment.ms": str(config.deadletter_segment_ms),
        "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0",
        "max.compaction.lag.ms": str(max(config.deadletter_max_compaction_lag_ms, config.deadletter_segment_ms)),
        "delete.retention.ms": "60000",
    }


class StackError(RuntimeError):
    """The local stack could not do what was asked; the message says why and what to do."""


class BrokerUnreachable(StackError):
    """The broker stayed unreachable longer than the configured bound."""


class BrokerWatch:
    """A Kafka client's error_cb: librdkafka retries an unreachable broker forever and logs every attempt
    (thousands of lines a minute); this logs the first failure once and, in check(), ends the wait after
    `timeout_s`. Pass its settings() to the client, call reached() after a call that got an answer."""

    DOWN = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE, KafkaError._TIMED_OUT}

    def __init__(self, bootstrap: str, timeout_s: float | None = None):
        """timeout_s None: only quiet the client's logs (its caller has its own bound, e.g. a flush timeout)."""
        self.bootstrap, self.timeout_s = bootstrap, timeout_s
        self.down_since: float | None = None

    def settings(self) -> dict:
        # log_level 2 mutes librdkafka's per-attempt connection errors: they arrive here instead
        return {"error_cb": self, "log_level": 2, "log.connection.close": False}

    def __call__(self, error: KafkaError) -> None:
        if error.code() in self.DOWN and self.down_since is None:
            self.down_since = time.monotonic()
            bound = "" if self.timeout_s is None else f" for up to {self.timeout_s:g} s"
            log.warning("Kafka at %s: %s; retrying%s", self.bootstrap, error.str(), bound)

    def reached(self) -> None:
        self.down_since = None

    def check(self) -> None:
        """Raise BrokerUnreachable once the broker has been unreachable longer than the bound."""
        if self.timeout_s is not None and self.down_since is not None and time.monotonic() - self.down_since > self.timeout_s:
            raise BrokerUnreachable(
                f"Kafka at {self.bootstrap} unreachable for {self.timeout_s:g} s "
                "(pipeline.source.unreachable_timeout_s); start it with `loopline stack up` or fix kafka.host/kafka.port"
            )


def ensure_jars(version: str, cache_dir: Path) -> Path:
    """Return a directory with every jar the broker needs, resolving it with Maven on first use."""
    return resolve_jars(POM, {"kafka.version": version}, cache_dir / "kafka" / version / "libs", f"Kafka {version}")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now: for brokers started by tests and benchmarks."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex((host, port)) == 0
    except socket.gaierror as e:
        raise StackError(f"Kafka host {host!r} does not resolve ({e.strerror}); fix kafka.host in the config") from None


@dataclass
class BrokerStatus:
    running: bool
    pid: int | None
    reachable: bool
    topics: dict[str, int]  # topic -> partitions


class KafkaBroker:
    """Start, stop and inspect one single-node KRaft broker whose state lives under `data_dir`."""

    def __init__(self, config: KafkaConfig, data_dir: Path, cache_dir: Path):
        self.config = config
        self.dir = Path(data_dir)
        self.cache_dir = Path(cache_dir)
        self.log_dir = self.dir / "log-segments"
        self.pid_file = self.dir / "broker.pid"
        self.broker_log = self.dir / "broker.log"

    # -- files ---------------------------------------------------------------
    def _write_configs(self) -> Path:
        c = self.config
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{c.host}:{c.controller_port}",
            "listeners": f"PLAINTEXT://{c.host}:{c.port},CONTROLLER://{c.host}:{c.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{c.host}:{c.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": str(c.partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "message.max.bytes": str(c.max_message_bytes),
            "replica.fetch.max.bytes": str(c.max_message_bytes),
            "log.cleaner.backoff.ms": str(c.cleaner_backoff_ms),
            "log.segment.delete.delay.ms": "1000",  # compacted-away segment files go from disk soon after
        }
        path = self.dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.dir / "log4j2.yaml").write_text(
            "Configuration:\n  Appenders:\n    Console:\n      name: STDOUT\n      PatternLayout:\n"
            '        Pattern: "[%d] %p %m (%c)%n"\n  Loggers:\n    Root:\n      level: WARN\n'
            "      AppenderRef:\n        - ref: STDOUT\n"
        )
        return path

    def _java(self, libs: Path, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise StackError("java is not on PATH: Kafka needs a JDK/JRE 17+.")
        return [
            java,
            f"-Xmx{self.config.heap}",
            f"-Xms{self.config.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.yaml'}",
            "-cp",
            f"{libs}/*",
            *args,
        ]

    def _format_storage(self, libs: Path, props: Path) -> None:
        if (self.log_dir / "meta.properties").exists():
            return
        id_file = self.dir / CLUSTER_ID_FILE
        if not id_file.exists():
            # Kafka cluster ids are 16 random bytes, base64url without padding.
            import base64

            id_file.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
        proc = subprocess.run(
            self._java(
                libs,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={id_file.read_text().strip()}",  # "=": ids may start with "-"
                "-c",
                str(props),
                "--ignore-formatted",
            ),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise StackError(f"formatting Kafka storage in {self.log_dir} failed:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")

    # -- lifecycle -----------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def start(self) -> None:
        """Start the broker (no-op if ours is running) and wait until it serves metadata."""
        if self.pid() is not None:
            self.wait_ready()
            return
        c = self.config
        for port in (c.port, c.controller_port):
            if port_open(c.host, port):
                raise StackError(
                    f"port {c.host}:{port} is already in use by another process; "
                    "stop it or set kafka.port / kafka.controller_port in the config."
                )
        libs = ensure_jars(c.version, self.cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        props = self._write_configs()
        self._format_storage(libs, props)
        with open(self.broker_log, "ab") as log:
            proc = subprocess.Popen(
                self._java(libs, "kafka.Kafka", str(props)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        self.wait_ready(proc)

    def wait_ready(self, proc: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + self.config.start_timeout_s
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise StackError(
                    f"Kafka exited with code {proc.returncode} during start-up; see {self.broker_log}:\n"
                    + self.broker_log.read_text(errors="replace")[-2000:]
                )
            if port_open(self.config.host, self.config.port):
                try:
                    self.admin().list_topics(timeout=2)
                    return
                except KafkaException:
                    pass
            time.sleep(0.3)
        raise StackError(f"Kafka did not become ready within {self.config.start_timeout_s:.0f}s; see {self.broker_log}")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Controlled shutdown (SIGTERM), SIGKILL if it hangs. Returns whether a broker was running."""
        return self._signal(signal.SIGTERM, timeout_s)

    def kill(self) -> bool:
        """SIGKILL, as a crash would: for tests that prove acknowledged data survives."""
        return self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: int, timeout_s: float) -> bool:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        end_process(pid, sig, timeout_s)
        self.pid_file.unlink(missing_ok=True)
        # the listening sockets go with the process, but wait so an immediate restart can bind
        while port_open(self.config.host, self.config.port):
            time.sleep(0.1)
        return True

    # -- topics --------------------------------------------------------------
    def admin(self) -> AdminClient:
        # log_level 2: connection chatter while probing a starting or stopped broker is expected, errors surface as exceptions
        return AdminClient({"bootstrap.servers": self.config.bootstrap, "socket.timeout.ms": 5000, "log_level": 2})

    def create_topics(self, topics: list[str] | None = None, partitions: int | None = None) -> list[str]:
        """Create missing topics; returns the ones created. Existing topics are left as they are."""
        topics = topics or self.config.topics
        new = [
            NewTopic(
                t, num_partitions=partitions or self.config.partitions, replication_factor=1, config=topic_config(self.config, t)
            )
            for t in topics
        ]
        admin = self.admin()  # keep a reference: a collected client cancels its pending futures
        created = []
        for topic, fut in admin.create_topics(new, operation_timeout=30).items():
            try:
                fut.result()
                created.append(topic)
            except KafkaException as e:
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise StackError(f"creating topic {topic} failed: {e}") from e
        self._wait_for_leaders(admin, topics)
        return created

    def _wait_for_leaders(self, admin: AdminClient, topics: list[str], timeout_s: float = 30.0) -> None:
        """Creation returns before every partition serves reads; clients would see NOT_LEADER errors."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.config.bootstrap, "group.id": "loopline-stack", "log_level": 2})
        deadline = time.monotonic() + timeout_s
        try:
            md = admin.list_topics(timeout=5).topics
            while any(t not in md or not md[t].partitions for t in topics):  # metadata lags creation
                if time.monotonic() > deadline:
                    missing = [t for t in topics if t not in md]
                    raise StackError(f"topics {missing} not in broker metadata after {timeout_s:.0f}s")
                time.sleep(0.2)
                md = admin.list_topics(timeout=5).topics
            pending = [TopicPartition(t, p) for t in topics for p in md[t].partitions]
            while pending:
                try:
                    consumer.get_watermark_offsets(pending[0], timeout=5)
                    pending.pop(0)
                except KafkaException as e:
                    if time.monotonic() > deadline:
                        raise StackError(f"{pending[0].topic}/{pending[0].partition} not readable after {timeout_s:.0f}s") from e
                    time.sleep(0.2)
        finally:
            consumer.close()

    def message_count(self, topic: str) -> int:
        """Messages currently retained in `topic`, summed over partitions (end minus start offsets)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.config.bootstrap, "group.id": "loopline-status", "log_level": 2})
        try:
            md = consumer.list_topics(topic, timeout=5).topics[topic]
            total = 0
            for p in md.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
                total += high - low
            return total
        finally:
            consumer.close()

    def reachable(self) -> bool:
        """Whether a broker answers metadata requests at the configured address (ours or not)."""
        if not port_open(self.config.host, self.config.port):
            return False
        try:
            self.admin().list_topics(timeout=5)
            return True
        except KafkaException:
            return False

    def status(self) -> BrokerStatus:
        pid = self.pid()
        topics: dict[str, int] = {}
        reachable = False
        if pid is not None and port_open(self.config.host, self.config.port):
            try:
                md = self.admin().list_topics(timeout=5)
                reachable = True
                topics = {t: len(m.partitions) for t, m in md.topics.items() if not t.startswith("__")}
            except KafkaException:
                pass
        return BrokerStatus(running=pid is not None, pid=pid, reachable=reachable, topics=topics)


def end_process(pid: int, sig: int, timeout_s: float) -> None:
    """Send `sig`, SIGKILL if the process outlives `timeout_s`; return once it is gone."""
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap if it is our child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False

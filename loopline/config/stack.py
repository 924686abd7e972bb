"""Sections of the local stack: the Kafka broker, the Prism runner, the event simulator."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from loopline import catalog
from loopline.config.base import Host, Port, Section


class KafkaConfig(Section):
    version: str = Field("4.3.1", min_length=1)
    host: Host = "127.0.0.1"
    port: Port = 9092
    controller_port: Port = 9093
    partitions: int = Field(3, ge=1, description="Partitions per topic when the stack creates them.")
    topics: list[str] = Field(default_factory=lambda: [*catalog.topics(), catalog.DEADLETTER_TOPIC])
    max_message_bytes: int = Field(
        2_000_000,
        ge=1024,
        description="Broker/topic limit; larger than the pipeline's own oversize limit so oversized events reach the "
        "dead-letter path.",
    )
    heap: str = Field("512m", pattern=r"^[1-9][0-9]*[kKmMgG]?$", description="JVM heap of the local broker (-Xmx/-Xms).")
    start_timeout_s: float = Field(90.0, gt=0)
    raw_retention_ms: int = Field(
        -1,
        ge=-1,
        description="retention.ms of the raw event topics: -1 keeps raw text forever "
        "(the replayable system of record); a deployment that must erase raw text sets a bound, "
        "which limits what a replay can rebuild to that horizon.",
    )
    deadletter_segment_ms: int = Field(
        1000,
        ge=1,
        description="segment.ms of the compacted dead-letter topic: after a "
        "deletion's tombstones the segment is rolled so the cleaner can remove the erased letters.",
    )
    deadletter_max_compaction_lag_ms: int = Field(
        60_000,
        ge=0,
        description="max.compaction.lag.ms of the dead-letter topic: the longest an erased letter stays in a closed segment.",
    )
    cleaner_backoff_ms: int = Field(
        1000,
        ge=100,
        description="Broker log.cleaner.backoff.ms: how often the log cleaner looks for work (dead-letter erasure latency).",
    )

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


class PrismConfig(Section):
    beam_version: str = "2.77.0"
    location: Path | None = Field(
        None,
        description="A prebuilt Prism binary; when unset the stack builds one with Go into the cache, its job service "
        "bound to loopback.",
    )


class FlinkConfig(Section):
    """`--runner flink`: Beam's Flink job server (loopline/stack/flink.py), started by each bounded run and follow
    job, running jobs on `master`; `stack up --flink` starts a JobManager and a TaskManager (loopline/stack/flink_cluster.py)."""

    beam_version: str = Field(
        "2.62.0",
        description="Beam's Java Flink runner: the newest version whose Flink runner resolves from Maven Central "
        "(the job-server jars of the Python SDK's own version are not published there). The SDK and job server "
        "talk Beam's versioned portability API.",
    )
    flink_version: str = Field("1.19", description="Flink minor version of the runner artifact (beam-runners-flink-X).")
    master: str = Field(
        "[local]", description="[local]: an embedded Flink mini cluster per job; host:port: a JobManager's REST address."
    )
    parallelism: int | None = Field(None, ge=1, description="Flink parallelism; null: Flink's default.")
    dist_version: str = Field("1.19.3", description="Flink release `stack up --flink` runs (PyPI's apache-flink files).")
    rest_port: Port = Field(8081, description="The stack cluster's REST port; flink.master: 127.0.0.1:<this> runs on it.")
    rpc_port: Port = Field(6123, description="The stack cluster's JobManager RPC port.")
    taskmanager_slots: int = Field(2, ge=1, description="Slots of the stack cluster's TaskManager.")
    jobmanager_memory: str = Field("1g", pattern=r"^[1-9][0-9]*[kKmMgG]$", description="JobManager process size.")
    taskmanager_memory: str = Field("2g", pattern=r"^[1-9][0-9]*[kKmMgG]$", description="TaskManager process size.")
    restart_attempts: int = Field(10, ge=0, description="Restarts (5 s apart) of a failed job, e.g. after a lost TaskManager.")
    start_timeout_s: float = Field(90.0, gt=0)


class SimulateConfig(Section):
    rate: float = Field(1000.0, gt=0, description="Events per second of wall time.")
    duration: float = Field(10.0, gt=0, description="Seconds; rate*duration events are sent.")
    seed: int = 7
    start: str = Field("2026-11-02T09:00:00Z", description="Event time of the first event (ISO 8601, or 'now').")
    ground_truth: Path | None = Field(
        None, description="Where the ground-truth JSONL goes; default <home>/simulate/truth-<seed>.jsonl."
    )

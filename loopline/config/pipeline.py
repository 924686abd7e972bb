"""Sections of the pipeline around the curation steps: reading, decoding, windowing, the store, follow mode."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from loopline import catalog
from loopline.config.base import Host, Section
from loopline.config.curate import CleanConfig, DedupConfig, PairsConfig, ScrubConfig


class SourceConfig(Section):
    """Reading Kafka (pipelines/source.py)."""

    implementation: str = Field(
        "python",
        pattern="^(python|beam-java)$",
        description="python: the native reader (runs anywhere, incl. Prism). beam-java: Beam's ReadFromKafka "
        "(needs the Java expansion service; for Flink/Dataflow deployments).",
    )
    expansion_service: str | None = Field(
        None,
        description="beam-java only: host:port of a running Kafka expansion service "
        "(default: Beam downloads and starts its jar).",
    )
    topics: list[str] = Field(
        default_factory=catalog.topics, description="Event topics to read (default: every source of loopline/catalog.py)."
    )
    batch_size: int = Field(2000, ge=1, description="Messages per consume() call.")
    poll_timeout_s: float = Field(0.2, gt=0, description="How long one read waits for a batch to fill.")
    idle_stop_s: float | None = Field(
        None, description="Follow mode: finish once every partition is caught up and idle this long (tests, demos)."
    )
    unreachable_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A run whose broker cannot be reached (down, refusing, unresolvable) this long stops with one "
        "error naming the address.",
    )


class DecodeConfig(Section):
    """Decoding and validation (pipelines/decode.py)."""

    max_event_bytes: int = Field(512 * 1024, ge=1, description="Larger payloads are dead-lettered as oversized.")


class WindowConfig(Section):
    """Event-time windows per conversation / thread / ticket (pipelines/windowing.py)."""

    session_gap_s: float = Field(2400, gt=0, description="A thread's window closes after this much event time without a message.")
    allowed_lateness_s: float = Field(
        600,
        ge=0,
        description="Events arriving (Kafka timestamp) more than this after their event time are late: each re-opens "
        "its thread as a late unit, windowed at its arrival, and still pairs with the thread's earlier messages.",
    )
    late_horizon_s: float = Field(
        7 * 86400,
        ge=0,
        description="Events arriving more than this after their event time go to the dead-letter topic as too_late "
        "(`loopline replay --late-horizon-days` takes them in). At least allowed_lateness_s.",
    )
    timestamp_skew_s: float = Field(
        60,
        ge=0,
        description="How far Kafka timestamps may go backwards within a partition (several "
        "producers, skewed clocks) and still never be behind the watermark.",
    )
    session_gap_by_kind_s: dict[str, float] = Field(
        default_factory=dict, description="Per source kind (chat, email, ticket) gap overriding session_gap_s."
    )
    end_markers: bool = Field(
        True,
        description="Close a thread as soon as the watermark passes an explicit end (a ticket's "
        "resolved/closed event, a chat message with ends_conversation) instead of "
        "waiting out the gap.",
    )

    def gap_ms(self, kind: str) -> int:
        return int(self.session_gap_by_kind_s.get(kind, self.session_gap_s) * 1000)

    @model_validator(mode="after")
    def _horizon_covers_lateness(self) -> WindowConfig:
        if self.late_horizon_s < self.allowed_lateness_s:
            raise ValueError("late_horizon_s must be at least allowed_lateness_s: an on-time event is never too late")
        return self


class StoreConfig(Section):
    """The curated store (loopline/store.py)."""

    root: Path | None = Field(None, description="Default <home>/store.")
    dataset: str = Field("live", min_length=1)


class FollowConfig(Section):
    """Follow mode as a service (pipelines/follow.py): restarts, shutdown, metrics."""

    job_server_timeout_s: float = Field(
        300,
        gt=0,
        description="Deadline of each job-service call (prepare, submit). The job's state "
        "and message streams carry none: a follow job runs until stopped.",
    )
    restart_backoff_s: float = Field(
        1, gt=0, description="First wait before restarting a failed job; doubles per failure in a row."
    )
    max_backoff_s: float = Field(60, gt=0, description="Longest wait between restarts.")
    healthy_after_s: float = Field(300, gt=0, description="A job that ran this long resets the back-off.")
    drain_timeout_s: float = Field(
        120,
        gt=0,
        description="On SIGTERM/Ctrl-C: stop reading, let what is in flight commit, for at "
        "most this long; then cancel (nothing is lost: uncommitted offsets are re-read).",
    )
    metrics_host: Host = Field("127.0.0.1", description="Where /metrics (Prometheus) and /healthz listen.")
    metrics_port: int | None = Field(
        9108,
        ge=0,
        le=65535,
        description="Port of /metrics and /healthz during follow runs; null turns them off, 0 picks a free one.",
    )


class PipelineConfig(Section):
    version: str = "0.1.0"
    source: SourceConfig = Field(default_factory=SourceConfig)
    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    scrub: ScrubConfig = Field(default_factory=ScrubConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    pairs: PairsConfig = Field(default_factory=PairsConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    follow: FollowConfig = Field(default_factory=FollowConfig)

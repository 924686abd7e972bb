"""Assemble and run the curation pipeline: Kafka -> decode -> windows -> records -> curated store.

Two modes over the same transforms:
  bounded (`--until-now`): from the first offset the store hasn't accounted for up to the end
      offsets captured at start; runs on the FnApiRunner (or Prism, or Flink).
  follow (`--follow`): unbounded from the same point, on Prism (or Flink), with event-time watermarks.
Where to start always comes from the store's manifest, so a killed run restarts where the durable
state says, re-reading only what was not yet committed.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult
from confluent_kafka import Consumer, KafkaException, TopicPartition

from loopline.catalog import DEADLETTER_TOPIC
from loopline.config import LooplineConfig
from loopline.stack.kafka import BrokerUnreachable, BrokerWatch
from loopline.stack.prism import OwnedJobServer
from loopline.store import CuratedStore, exclusive_writer
from pipelines.curate import Curate
from pipelines.deadletter import PublishDeadLetters
from pipelines.decode import DecodeEvents
from pipelines.guard import DEAD
from pipelines.records import ThreadsToRecords
from pipelines.sink import ApplyDeletions, WriteToStore
from pipelines.source import FOLLOW, PartitionSlice, ReadKafka
from pipelines.windowing import WindowThreads


@dataclass
class RunPlan:
    dataset: str
    mode: str  # bounded | follow
    slices: list[PartitionSlice]
    meta: dict = field(default_factory=dict)
    stop_file: str | None = None  # follow: the source finishes once this file exists (pipelines/follow.py)

    @property
    def pending(self) -> int:
        """Offsets to read (bounded mode), not counting those already stored."""
        return sum(s.stop - s.start - sum(b - a + 1 for a, b in s.skip) for s in self.slices if s.stop != FOLLOW)


def partition_offsets(
    bootstrap: str, topics: list[str], from_time_ms: int | None = None
) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (first offset to read, end offset now); first honours `from_time_ms`.

    A broker that does not answer within the calls' 10 s is BrokerUnreachable, naming the address (librdkafka's
    own per-attempt connection logs are muted: the watch logs the first failure once)."""
    watch = BrokerWatch(bootstrap, 10)
    settings = {"bootstrap.servers": bootstrap, "group.id": "loopline-planner", "enable.auto.commit": False}
    consumer = Consumer({**settings, **watch.settings()})
    try:
        out = {}
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            if meta.error is not None:
                raise RuntimeError(f"topic {topic} is not available at {bootstrap}: {meta.error}")
            for p in sorted(meta.partitions):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if from_time_ms is not None:
                    [tp] = consumer.offsets_for_times([TopicPartition(topic, p, from_time_ms)], timeout=10)
                    low = high if tp.offset < 0 else max(low, tp.offset)
                out[(topic, p)] = (low, high)
        return out
    except KafkaException as e:
        raise BrokerUnreachable(
            f"Kafka at {bootstrap} not reachable ({e.args[0].str()}); start it with `loopline stack up` "
            "or fix kafka.host/kafka.port"
        ) from None
    finally:
        consumer.close()


def create_dataset(
    cfg: LooplineConfig,
    dataset: str,
    meta: dict,
    from_time_ms: int | None = None,
    offsets: dict[tuple[str, int], tuple[int, int]] | None = None,
) -> CuratedStore:
    """A new dataset that starts at the topics' first offsets (`offsets` if the caller has them),
    or the first at/after `from_time_ms`."""
    store = CuratedStore(cfg.store_root, dataset)
    offsets = offsets or partition_offsets(cfg.kafka.bootstrap, cfg.pipeline.source.topics, from_time_ms)
    store.create(
        {**meta, "from_time_ms": from_time_ms, "start_offsets": {f"{t}/{p}": low for (t, p), (low, _) in offsets.items()}}
    )
    return store


def plan(cfg: LooplineConfig, *, dataset: str, follow: bool) -> RunPlan:
    """Slices to read: from where the dataset's durable state says, to today's end (bounded) or on (follow)."""
    store = CuratedStore(cfg.store_root, dataset)
    offsets = partition_offsets(cfg.kafka.bootstrap, cfg.pipeline.source.topics)
    if not store.exists():
        store = create_dataset(cfg, dataset, {"created_by": "run"}, offsets=offsets)
    start_from = store.meta["start_offsets"]
    accounted = store.accounted()
    slices = []
    for (topic, p), (low, high) in offsets.items():
        start = store.resume_offset(topic, p, max(low, start_from.get(f"{topic}/{p}", low)))
        stop = FOLLOW if follow else max(start, high)
        skip = tuple((a, b) for a, b in accounted.get((topic, p), []) if b >= start)
        slices.append(PartitionSlice(topic, p, start, stop, skip))
    return RunPlan(
        dataset,
        "follow" if follow else "bounded",
        slices,
        {"end_offsets": {f"{t}/{p}": high for (t, p), (_, high) in offsets.items()}},
    )


def build(p: beam.Pipeline, cfg: LooplineConfig, run: RunPlan, curation: beam.PTransform | None = None) -> None:
    """The data path, top-down. `curation` maps Threads to Threads between windowing and records;
    None means the full curation (clean, scrub, dedup, pairs). Benchmarks pass an identity."""
    pc, root = cfg.pipeline, str(cfg.store_root)
    records = p | "ReadKafka" >> ReadKafka(cfg.kafka.bootstrap, run.slices, pc.source, pc.window, run.dataset, run.stop_file)
    decoded = records | "Decode" >> DecodeEvents(pc.decode)
    deletions, messages = decoded.events | "SplitDeletions" >> beam.Partition(lambda e, _: 0 if e.kind == "deletion" else 1, 2)
    deletions | "ApplyDeletions" >> ApplyDeletions(cfg.kafka.bootstrap, root, run.dataset)
    windowed = messages | "Window" >> WindowThreads(pc.window)
    curated = windowed["threads"] | "Curate" >> (
        curation or Curate(pc, str(dedup_dir(cfg, run.dataset)), str(CuratedStore(root, run.dataset).path))
    )
    threads, curation_dead = (curated["threads"], curated[DEAD]) if isinstance(curated, dict) else (curated, ())
    units = threads | "Records" >> ThreadsToRecords(pc.version, pc.pairs)
    units.units | "WriteStore" >> WriteToStore(cfg.kafka.bootstrap, root, run.dataset)
    (
        (decoded[DEAD], windowed[DEAD], *curation_dead, units[DEAD])
        | "DeadLetters" >> PublishDeadLetters(cfg.kafka.bootstrap, DEADLETTER_TOPIC, root, run.dataset)
    )


def dedup_dir(cfg: LooplineConfig, dataset: str) -> Path:
    """The dedup index lives with its dataset: a replay starts with an empty history, as it should."""
    return cfg.store_root / "datasets" / dataset / "dedup"


def runner_args(cfg: LooplineConfig, run: RunPlan, runner: str | None, job_endpoint: str | None = None) -> list[str]:
    """Pipeline options for `runner`. `job_endpoint` is a job server the caller started (job_server()):
    always on flink, in follow mode on prism; a bounded run on prism lets Beam's PrismRunner start one."""
    from loopline.stack import flink, prism

    runner = runner or ("prism" if run.mode == "follow" else "fnapi")
    if runner == "fnapi":
        if run.mode == "follow":
            raise ValueError(
                "follow mode needs a streaming runner (prism | flink): the FnApiRunner emits windows only when the source ends"
            )
        return ["--runner=FnApiRunner"]
    if runner == "prism":
        args = prism.pipeline_args(cfg.prism, cfg.cache_dir)
        if job_endpoint:
            args = [
                "--runner=PortableRunner",
                f"--job_endpoint={job_endpoint}",
                *(a for a in args if a.startswith(("--environment_type", "--experiments"))),
            ]
    elif runner == "flink":
        if not job_endpoint:
            raise ValueError("flink runs on a FlinkJobServer the caller started: pass its job endpoint")
        args = flink.pipeline_args(cfg.flink, job_endpoint)
    else:
        raise ValueError(f"unknown runner {runner!r} (prism | fnapi | flink)")
    return [
        *args,
        f"--job_server_timeout={int(cfg.pipeline.follow.job_server_timeout_s)}",
        *(["--streaming"] if run.mode == "follow" else []),
    ]


def job_server(cfg: LooplineConfig, runner: str, log_path: Path) -> OwnedJobServer:
    """The job server, in a session of its own, that the caller starts, submits to and stops."""
    from loopline.stack.flink import FlinkJobServer
    from loopline.stack.prism import PrismServer

    if runner == "flink":
        return FlinkJobServer(cfg.flink, cfg.cache_dir, log_path)
    return PrismServer(cfg.prism, cfg.cache_dir, log_path)


def _without_state_cache() -> None:
    """The FnApiRunner's in-process worker weighs every state write with objsize, which walks the
    globals of every loaded module: ~8 ms a write once spaCy and torch are imported, most of a
    bounded run. Its state lives in the same process, so the cache saves nothing; the worker has
    no option for its size, hence the module setting."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    worker_handlers.STATE_CACHE_SIZE_MB = 0


def start(
    cfg: LooplineConfig,
    run: RunPlan,
    runner: str | None = None,
    curation: beam.PTransform | None = None,
    job_endpoint: str | None = None,
) -> PipelineResult:
    """Submit the pipeline and return at once with its result handle (the job runs on)."""
    from pipelines import runners

    args = runner_args(cfg, run, runner, job_endpoint)
    if "--runner=FnApiRunner" in args:
        _without_state_cache()
    chosen = {"--runner=PrismRunner": runners.PrismRunner, "--runner=PortableRunner": runners.PortableRunner}
    runner_class = next((cls for flag, cls in chosen.items() if flag in args), None)
    pipeline = beam.Pipeline(runner=runner_class() if runner_class else None, options=PipelineOptions(args))
    build(pipeline, cfg, run, curation)
    return pipeline.run()


def loopline_counters(result: PipelineResult) -> dict[str, int]:
    """Beam's counters in namespace loopline, summed over steps."""
    counters: dict[str, int] = {}
    # the FnApiRunner merges per-bundle metrics with one nested generator per bundle
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    for c in result.metrics().query()["counters"]:
        if c.key.metric.namespace == "loopline":
            counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + (c.committed or 0)
    return counters


def execute(cfg: LooplineConfig, run: RunPlan, runner: str | None = None, curation: beam.PTransform | None = None) -> dict:
    """Run the pipeline to completion, as the dataset's one writer; returns Beam's counters (namespace
    loopline) and timing."""
    t0 = time.monotonic()
    # Flink's job server is always ours, so that its ports are bound as FlinkJobServer says
    server = job_server(cfg, runner, Path(cfg.home) / "run" / f"flink-{run.dataset}.log") if runner == "flink" else None
    with exclusive_writer(CuratedStore(cfg.store_root, run.dataset)):
        try:  # the FnApiRunner runs the whole job inside start(); Prism and Flink inside wait_until_finish()
            result = start(cfg, run, runner, curation, job_endpoint=server.start() if server else None)
            result.wait_until_finish()
            counters = loopline_counters(result)  # a portable job's metrics come from its job server
        except Exception as e:
            found = os_error_in(e)
            if found is None or found is e:
                raise
            raise found from None  # the runner's wrapping is noise once the OSError is known
        finally:
            if server:
                server.stop()
    return {"counters": counters, "seconds": time.monotonic() - t0}


_OS_ERROR = re.compile(r"\w*Error: \[Errno (\d+)\] ([^:\n]+):\s*'([^'\n]+)'")


def os_error_in(error: BaseException) -> OSError | None:
    """The OSError (disk full, permissions...) that failed a job, if that is what did. Runners hand a worker's
    exception back as a RuntimeError holding its text, so the type is read back from there: the CLI then
    says `<file>: No space left on device` in one line instead of a runner traceback."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen
        seen = seen.__cause__ or seen.__context__
    match = _OS_ERROR.search(str(error))
    return OSError(int(match[1]), match[2], match[3]) if match else None

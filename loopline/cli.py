"""`loopline` — the one entry point: local stack, traffic simulator, (later) pipelines and trainer."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from loopline import catalog
from loopline import config as cfg
from loopline.cli_errors import UserErrorsAsOneLine
from loopline.cli_errors import fail as _fail
from loopline.cli_train import adapters_app, run_training, train
from loopline.logs import OneLineFormatter
from loopline.stack.kafka import KafkaBroker
from pipelines.jsonlines import MAX_LINE_BYTES

app = typer.Typer(
    cls=UserErrorsAsOneLine,
    help="Loopline: live enterprise communications -> clean training data -> a fine-tuned LLM.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
stack_app = typer.Typer(help="The local stack: a real Kafka broker (KRaft) and the Prism runner.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
console = Console()

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (default: $LOOPLINE_CONFIG or built-in defaults).")


def _load(config_path: Path | None) -> cfg.LooplineConfig:
    return cfg.load(config_path)


def broker_for(c: cfg.LooplineConfig) -> KafkaBroker:
    return KafkaBroker(c.kafka, c.home / "kafka", c.cache_dir)


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an error, not its one line."),
) -> None:
    ctx.meta["loopline.debug"] = debug
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter())
    # Beam's import warns that Google's optional BigQuery client is missing: nothing here uses it
    handler.addFilter(lambda record: not record.getMessage().startswith("apitools not found"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("loopline").setLevel(logging.DEBUG if verbose else logging.INFO)


@app.command()
def setup(config_path: Path | None = ConfigOpt) -> None:
    """Fetch and build what the stack needs, once: Kafka jars (Maven Central) and Prism (go install)."""
    from loopline.stack.kafka import ensure_jars
    from loopline.stack.prism import ensure_prism

    c = _load(config_path)
    with console.status(f"resolving Kafka {c.kafka.version} jars from Maven Central"):
        libs = ensure_jars(c.kafka.version, c.cache_dir)
    console.print(f"Kafka {c.kafka.version}: {libs}")
    with console.status(f"building Prism v{c.prism.beam_version} with go install"):
        prism = ensure_prism(c.prism, c.cache_dir)
    console.print(f"Prism: {prism}")


@stack_app.command("up")
def stack_up(
    config_path: Path | None = ConfigOpt,
    partitions: int | None = typer.Option(None, help="Partitions per topic (default: kafka.partitions)."),
) -> None:
    """Start Kafka on loopback, create the topics, make sure Prism is built."""
    from loopline.stack.prism import ensure_prism

    c = _load(config_path)
    broker = broker_for(c)
    with console.status(f"starting Kafka {c.kafka.version} on {c.kafka.bootstrap} (data in {broker.dir})"):
        broker.start()
        created = broker.create_topics(partitions=partitions)
    if created:
        console.print(f"created topics: {', '.join(created)}")
    with console.status("checking Prism"):
        ensure_prism(c.prism, c.cache_dir)
    _print_status(c, broker)


@stack_app.command("down")
def stack_down(config_path: Path | None = ConfigOpt) -> None:
    """Stop the broker (controlled shutdown); its data stays for the next `stack up`."""
    c = _load(config_path)
    stopped = broker_for(c).stop()
    console.print("Kafka stopped." if stopped else "Kafka was not running.")


@stack_app.command("status")
def stack_status(
    config_path: Path | None = ConfigOpt, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")
) -> None:
    """Broker process, reachability, topics with partition and message counts."""
    c = _load(config_path)
    broker = broker_for(c)
    if as_json:
        st = broker.status()
        print(
            json.dumps(
                {
                    "running": st.running,
                    "pid": st.pid,
                    "reachable": st.reachable,
                    "bootstrap": c.kafka.bootstrap,
                    "topics": {t: {"partitions": n, "messages": broker.message_count(t)} for t, n in st.topics.items()},
                }
            )
        )
        return
    _print_status(c, broker)


@stack_app.command("check")
def stack_check(config_path: Path | None = ConfigOpt) -> None:
    """Run a tiny streaming pipeline on Prism and check windowed output appears before its source ends."""
    from loopline.stack.prism import pipeline_args
    from loopline.stack.runner_check import check_streaming

    c = _load(config_path)
    args = pipeline_args(c.prism, c.cache_dir)
    result = check_streaming(args, c.home / "checks" / "prism")
    if not result.output_seen_before_source_end:
        _fail(f"Prism did not emit windowed output before its source ended ({len(result.windows)} windows at the end)")
    console.print(f"Prism streams: {len(result.windows)} windows emitted while the source ran ({result.seconds:.1f}s).")


def _print_status(c: cfg.LooplineConfig, broker: KafkaBroker) -> None:
    st = broker.status()
    if not st.running:
        hint = "start it with `loopline stack up`"
        console.print(f"Kafka: [yellow]not running[/] (data dir {broker.dir}); {hint}.", soft_wrap=True)
        return
    console.print(
        f"Kafka {c.kafka.version}: pid {st.pid}, {c.kafka.bootstrap}, "
        + ("[green]reachable[/]" if st.reachable else "[red]not reachable[/]")
    )
    table = Table("topic", "partitions", "messages")
    for topic in sorted(st.topics):
        table.add_row(topic, str(st.topics[topic]), str(broker.message_count(topic)))
    console.print(table)


@app.command()
def simulate(
    config_path: Path | None = ConfigOpt,
    rate: float | None = typer.Option(None, help="Events per second (default: simulate.rate)."),
    duration: float | None = typer.Option(None, help="Seconds to run; rate*duration events (default: simulate.duration)."),
    seed: int | None = typer.Option(None, help="Random seed: same seed, same traffic."),
    start: str | None = typer.Option(None, help="Event time of the first event: ISO 8601 or 'now'."),
    truth: Path | None = typer.Option(None, help="Ground-truth JSONL path."),
) -> None:
    """Send realistic synthetic chat, email and ticket traffic to Kafka; write its ground truth."""
    from loopline.simulator.produce import simulate as run_simulation
    from loopline.timeparse import parse_time_ms

    c = _load(config_path)
    s = c.simulate.model_copy(
        update={
            k: v
            for k, v in dict(rate=rate, duration=duration, seed=seed, start=start, ground_truth=truth).items()
            if v is not None
        }
    )
    truth_path = s.ground_truth or c.home / "simulate" / f"truth-seed{s.seed}.jsonl"
    try:
        start_ms = parse_time_ms(s.start)
    except ValueError as e:
        _fail(f"--start: {e}")
    if not broker_for(c).reachable():
        _fail(f"Kafka is not reachable at {c.kafka.bootstrap}; run `loopline stack up` first.")
    summary = run_simulation(c.kafka, rate=s.rate, duration=s.duration, seed=s.seed, start_ms=start_ms, truth_path=truth_path)
    console.print(
        f"sent {summary.sent} events in {summary.seconds:.1f}s ({summary.events_per_s:,.0f}/s), "
        f"all acknowledged; ground truth: {summary.truth_path}"
    )
    console.print("by topic: " + ", ".join(f"{t}={n}" for t, n in sorted(summary.by_topic.items())))
    console.print(
        "malformed: "
        + (", ".join(f"{k}={n}" for k, n in sorted(summary.malformed.items())) or "none")
        + "; duplicates: "
        + (", ".join(f"{k}={n}" for k, n in sorted(summary.duplicates.items())) or "none")
    )


def _run_pipeline(c: cfg.LooplineConfig, *, dataset: str, runner: str | None) -> dict:
    """A bounded run: plan, run with a progress bar, write the run report; returns the report."""
    if not broker_for(c).reachable():  # before importing Beam: seconds, and its import-time warnings
        _fail(f"Kafka is not reachable at {c.kafka.bootstrap}; run `loopline stack up` first.")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from loopline.run_progress import accounted_total, watch_accounted
    from loopline.store import CuratedStore
    from pipelines import report as run_report
    from pipelines.run import execute, plan

    run_plan = plan(c, dataset=dataset, follow=False)
    store = CuratedStore(c.store_root, dataset)
    done_before = accounted_total(store)
    console.print(
        f"{run_plan.mode} run into dataset [bold]{dataset}[/] ({c.store_root / 'datasets' / dataset}); "
        + f"{run_plan.pending:,} offsets to read"
    )
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("offsets stored or dead-lettered"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("curate", total=run_plan.pending)
        with watch_accounted(
            c.store_root, dataset, 0.5, lambda total, _added: progress.update(task, completed=total - done_before)
        ):
            outcome = execute(c, run_plan, runner)
        progress.update(task, completed=accounted_total(store) - done_before)
    rep = run_report.build(
        outcome["counters"],
        seconds=outcome["seconds"],
        store_counts=store.counts(),
        plan={"dataset": dataset, "mode": run_plan.mode, **run_plan.meta, "slices": [s._asdict() for s in run_plan.slices]},
    )
    html_path = run_report.write(rep, c.home / "reports" / f"{dataset}-{rep['created']}")
    funnel = ", ".join(f"{k} {v:,}" for k, v in rep["funnel"].items())
    console.print(
        f"{funnel}; dead letters: {sum(rep['dead_letters'].values()):,} "
        + str(dict(rep["dead_letters"]) or "")
        + f"; {rep['events_per_s']} events/s"
    )
    console.print(f"store: {rep['store_totals']}; report: {html_path}")
    return rep


def _follow(c: cfg.LooplineConfig, *, dataset: str, runner: str | None) -> dict:
    """Follow as a service until stopped or idle; one log line a minute on progress; returns the report."""
    if not broker_for(c).reachable():
        _fail(f"Kafka is not reachable at {c.kafka.bootstrap}; run `loopline stack up` first.")
    from loopline.run_progress import watch_accounted
    from loopline.store import CuratedStore
    from pipelines import report as run_report
    from pipelines.follow import FollowService

    log = logging.getLogger("loopline.follow")
    store = CuratedStore(c.store_root, dataset)
    idle = c.pipeline.source.idle_stop_s
    log.info(
        "following into dataset %s (%s) until %s",
        dataset,
        c.store_root / "datasets" / dataset,
        f"every partition is idle {idle:.0f} s" if idle else "stopped (SIGTERM or Ctrl-C drains what is in flight)",
    )

    def log_progress(total: int, added: int) -> None:
        log.info("%s offsets stored or dead-lettered (+%s in the last minute)", f"{total:,}", f"{added:,}")

    with watch_accounted(c.store_root, dataset, 60, log_progress, name="loopline-progress"):
        outcome = FollowService(c, dataset, runner).run()
    rep = run_report.build(
        outcome.counters,
        seconds=outcome.seconds,
        store_counts=store.counts() if store.exists() else {},
        plan={"dataset": dataset, "mode": "follow", "jobs": outcome.jobs, "restarts": outcome.restarts},
    )
    html_path = run_report.write(rep, c.home / "reports" / f"{dataset}-{rep['created']}")
    log.info(
        "follow run ended after %.0f s (%d job(s), %d restart(s)); store: %s; report: %s",
        outcome.seconds,
        outcome.jobs,
        outcome.restarts,
        rep["store_totals"],
        html_path,
    )
    return rep


@app.command()
def run(
    config_path: Path | None = ConfigOpt,
    until_now: bool = typer.Option(
        False, "--until-now", help="Bounded: from the last committed offsets to the end offsets at start."
    ),
    follow: bool = typer.Option(False, "--follow", help="Unbounded, on Prism, until stopped (Ctrl-C) or idle."),
    idle_stop: float | None = typer.Option(None, help="Follow mode: finish after every partition was idle this many seconds."),
    dataset: str | None = typer.Option(None, help="Dataset to write (default: pipeline.store.dataset)."),
    runner: str | None = typer.Option(None, help="prism | fnapi (default: fnapi bounded, prism follow)."),
    metrics_port: int | None = typer.Option(
        None, help="Follow mode: port of /metrics and /healthz (default: pipeline.follow.metrics_port)."
    ),
) -> None:
    """Curate Kafka traffic into the curated store (decode, dead-letter, window, write).

    --follow runs as a service: it restarts the job if the runner dies, and SIGTERM / Ctrl-C stop it
    after what is in flight has committed."""
    c = _load(config_path)
    if until_now == follow:
        _fail("choose one of --until-now or --follow")
    if idle_stop is not None:
        c.pipeline.source.idle_stop_s = idle_stop
    if metrics_port is not None:
        c.pipeline.follow.metrics_port = metrics_port
    if follow:
        _follow(c, dataset=dataset or c.pipeline.store.dataset, runner=runner)
    else:
        _run_pipeline(c, dataset=dataset or c.pipeline.store.dataset, runner=runner)


@app.command()
def replay(
    config_path: Path | None = ConfigOpt,
    dataset_version: str = typer.Option(..., "--dataset-version", help="New dataset to build; the live one is untouched."),
    from_beginning: bool = typer.Option(False, "--from-beginning"),
    from_time: str | None = typer.Option(
        None, "--from-time", help="ISO 8601: start at the first offsets at or after this Kafka time."
    ),
    runner: str | None = typer.Option(None, help="prism | fnapi (default fnapi)."),
) -> None:
    """Rebuild a dataset from the topics into a new version (bounded up to the current end offsets)."""
    from loopline.timeparse import parse_time_ms
    from pipelines.replay import check_replay_target, create_replay

    c = _load(config_path)
    if from_beginning == (from_time is not None):
        _fail("choose one of --from-beginning or --from-time")
    try:
        from_time_ms = parse_time_ms(from_time) if from_time else None
    except ValueError as e:
        _fail(f"--from-time: {e}")
    check_replay_target(c, dataset_version)
    if not broker_for(c).reachable():
        _fail(f"Kafka is not reachable at {c.kafka.bootstrap}; run `loopline stack up` first.")
    create_replay(c, dataset_version, from_time_ms)
    _run_pipeline(c, dataset=dataset_version, runner=runner)


app.command()(train)
app.add_typer(adapters_app, name="adapters")

datasets_app = typer.Typer(help="Curated datasets (versions) in the store.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("list")
def datasets_list(config_path: Path | None = ConfigOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """Versions with their offset ranges and record counts."""
    from loopline.store import CuratedStore

    c = _load(config_path)
    infos = CuratedStore.list_datasets(c.store_root)
    if as_json:
        print(json.dumps(infos, default=str))
        return
    table = Table("dataset", "created (UTC)", "records", "dead letters", "offsets stored or dead-lettered")
    for info in infos:
        created = datetime.fromtimestamp(info["created"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        records = "\n".join(f"{kind}: {n:,}" for kind, n in sorted(info["counts"].items()))
        offsets = "\n".join(
            f"{topic}: " + ", ".join(f"p{p} {a}-{b}" for p, rs in sorted(parts.items()) for a, b in rs)
            for topic, parts in sorted(info["accounted"].items())
        )
        table.add_row(info["name"], created, records, f"{sum(info['dead_letters'].values()):,}", offsets)
    console.print(table)


@datasets_app.command("gc")
def datasets_gc(
    config_path: Path | None = ConfigOpt,
    dataset: str | None = typer.Option(None, help="Only this dataset (default: every dataset)."),
) -> None:
    """Remove what interrupted writes left: orphan segments and temp files (a run does it too when it starts)."""
    from loopline.store import CuratedStore, exclusive_writer

    c = _load(config_path)
    names = [dataset] if dataset else [info["name"] for info in CuratedStore.list_datasets(c.store_root)]
    for name in names:
        store = CuratedStore(c.store_root, name)
        if not store.exists():
            _fail(f"dataset {name!r} does not exist under {c.store_root}; see `loopline datasets list`")
        with exclusive_writer(store) as removed:
            console.print(f"{name}: removed {removed}")


MaxLineOpt = typer.Option(MAX_LINE_BYTES, "--max-line-bytes", min=1, help="Longer input lines get an `oversized` error line.")


@app.command()
def clean(
    config_path: Path | None = ConfigOpt,
    kind: str = typer.Option(..., "--kind", help=" | ".join(catalog.conversation_kinds())),
    max_line_bytes: int = MaxLineOpt,
) -> None:
    """JSON-lines filter: {"id","text"} or {"id","html"} -> {"id","text"} cleaned as the pipeline cleans."""
    from pipelines.clean import filter_lines

    if kind not in catalog.conversation_kinds():
        _fail(f"--kind must be one of {', '.join(catalog.conversation_kinds())}")
    filter_lines(sys.stdin.buffer, sys.stdout.buffer, _load(config_path).pipeline.clean, kind, max_line_bytes)


@app.command()
def scrub(config_path: Path | None = ConfigOpt, max_line_bytes: int = MaxLineOpt) -> None:
    """JSON-lines filter: {"id","text"} -> {"id","text","entities":[{"type","start","end","score"}]} (PII masked)."""
    from pipelines.scrub import filter_lines

    filter_lines(sys.stdin.buffer, sys.stdout.buffer, _load(config_path).pipeline.scrub, max_line_bytes)


@app.command()
def dedup(
    config_path: Path | None = ConfigOpt,
    index: Path | None = typer.Option(None, help="Persistent index directory (default: a temporary one)."),
    max_line_bytes: int = MaxLineOpt,
) -> None:
    """JSON-lines filter: {"id","text"} -> {"id","duplicate_of"}; the first occurrence wins."""
    from pipelines.dedup import filter_lines

    filter_lines(sys.stdin.buffer, sys.stdout.buffer, _load(config_path).pipeline.dedup, index, max_line_bytes)


@app.command()
def demo(
    config_path: Path | None = ConfigOpt,
    rate: float = typer.Option(1000.0, help="Simulated events per second."),
    duration: float = typer.Option(10.0, help="Seconds of simulated traffic."),
    seed: int = typer.Option(7),
) -> None:
    """The main job end to end on the embedded default: stack up, simulate, curate, summarize."""
    c = _load(config_path)
    stack_up(config_path, None)
    stack_check(config_path)
    simulate(config_path, rate, duration, seed, None, None)
    console.rule("curate (bounded run up to now)")
    _run_pipeline(c, dataset=c.pipeline.store.dataset, runner=None)
    console.rule("summary")
    _print_status(c, broker_for(c))
    datasets_list(config_path, False)
    console.rule("train (one cycle on the curated pairs)")
    if c.trainer.device == "cpu" or not _cuda_available():
        c.trainer = c.trainer.short_cycle()
    run_training(c)
    console.print("The stack is still running: `loopline stack status`, `loopline stack down`.")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    app()

"""`loopline simulate`, `run`, `replay` and `datasets list|gc`: traffic into Kafka, Kafka into the curated store."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from loopline import config as cfg
from loopline.cli.common import ConfigOpt, _load, broker_for, console
from loopline.cli.errors import fail as _fail


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


def run(
    config_path: Path | None = ConfigOpt,
    until_now: bool = typer.Option(
        False, "--until-now", help="Bounded: from the last committed offsets to the end offsets at start."
    ),
    follow: bool = typer.Option(False, "--follow", help="Unbounded, on Prism, until stopped (Ctrl-C) or idle."),
    idle_stop: float | None = typer.Option(None, help="Follow mode: finish after every partition was idle this many seconds."),
    dataset: str | None = typer.Option(None, help="Dataset to write (default: pipeline.store.dataset)."),
    runner: str | None = typer.Option(None, help="prism | fnapi | flink (default: fnapi bounded, prism follow)."),
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


def replay(
    config_path: Path | None = ConfigOpt,
    dataset_version: str = typer.Option(..., "--dataset-version", help="New dataset to build; the live one is untouched."),
    from_beginning: bool = typer.Option(False, "--from-beginning"),
    from_time: str | None = typer.Option(
        None, "--from-time", help="ISO 8601: start at the first offsets at or after this Kafka time."
    ),
    runner: str | None = typer.Option(None, help="prism | fnapi | flink (default fnapi)."),
    late_horizon_days: float | None = typer.Option(
        None,
        "--late-horizon-days",
        min=0,
        help="Take in events this late (default: pipeline.window.late_horizon_s): those the live run dead-lettered "
        "as too_late join their threads as late units.",
    ),
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
    if late_horizon_days is not None:
        c.pipeline.window.late_horizon_s = max(late_horizon_days * 86400, c.pipeline.window.allowed_lateness_s)
    check_replay_target(c, dataset_version)
    if not broker_for(c).reachable():
        _fail(f"Kafka is not reachable at {c.kafka.bootstrap}; run `loopline stack up` first.")
    create_replay(c, dataset_version, from_time_ms)
    _run_pipeline(c, dataset=dataset_version, runner=runner)


datasets_app = typer.Typer(help="Curated datasets (versions) in the store.", no_args_is_help=True)


@datasets_app.command("list")
def datasets_list(config_path: Path | None = ConfigOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """Versions with their offset ranges and record counts."""
    from loopline.store import CuratedStore

    c = _load(config_path)
    infos = CuratedStore.list_datasets(c.store_root)
    if as_json:
        print(json.dumps(infos, default=str))
        return
    table = Table("dataset", "created (UTC)", "records", "dead letters", "re-sent", "offsets stored or dead-lettered")
    for info in infos:
        created = datetime.fromtimestamp(info["created"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        records = "\n".join(f"{kind}: {n:,}" for kind, n in sorted(info["counts"].items()))
        offsets = "\n".join(
            f"{topic}: " + ", ".join(f"p{p} {a}-{b}" for p, rs in sorted(parts.items()) for a, b in rs)
            for topic, parts in sorted(info["accounted"].items())
        )
        dead = f"{sum(info['dead_letters'].values()):,}"
        table.add_row(info["name"], created, records, dead, f"{info['resent']:,}", offsets)
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


@datasets_app.command("verify")
def datasets_verify(
    config_path: Path | None = ConfigOpt,
    dataset: str | None = typer.Option(None, help="Only this dataset (default: every dataset)."),
) -> None:
    """Read every live segment against its manifest checksum; exit 1 naming each one a reader would fail on."""
    from loopline.store import CuratedStore

    c = _load(config_path)
    infos = {info["name"]: info for info in CuratedStore.list_datasets(c.store_root)}
    names = [dataset] if dataset else list(infos)
    bad = 0
    for name in names:
        store = CuratedStore(c.store_root, name)
        if not store.exists():
            _fail(f"dataset {name!r} does not exist under {c.store_root}; see `loopline datasets list`")
        problems = store.verify()
        for line in problems:
            console.print(line, soft_wrap=True)
        total = infos[name]["segments"]
        console.print(f"{name}: {len(problems)} of {total} segments bad" if problems else f"{name}: all {total} segments sound")
        bad += len(problems)
    if bad:
        raise typer.Exit(1)

"""`loopline setup` and `loopline stack up|status|check|down`: the local Kafka broker and the Prism runner."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from loopline import config as cfg
from loopline.cli.common import ConfigOpt, _load, broker_for, console
from loopline.cli.errors import fail as _fail
from loopline.stack.kafka import KafkaBroker

stack_app = typer.Typer(help="The local stack: a real Kafka broker (KRaft) and the Prism runner.", no_args_is_help=True)


def setup(config_path: Path | None = ConfigOpt) -> None:
    """Fetch and build what the stack needs, once: Kafka jars and the Flink job server (Maven Central), Prism (go install)."""
    from loopline.stack.flink import ensure_job_server
    from loopline.stack.kafka import ensure_jars
    from loopline.stack.prism import ensure_prism

    c = _load(config_path)
    with console.status(f"resolving Kafka {c.kafka.version} jars from Maven Central"):
        libs = ensure_jars(c.kafka.version, c.cache_dir)
    console.print(f"Kafka {c.kafka.version}: {libs}")
    with console.status(f"building Prism v{c.prism.beam_version} with go install"):
        prism = ensure_prism(c.prism, c.cache_dir)
    console.print(f"Prism: {prism}")
    with console.status(f"resolving Beam {c.flink.beam_version}'s Flink {c.flink.flink_version} job server from Maven Central"):
        job_server = ensure_job_server(c.flink, c.cache_dir)
    console.print(f"Flink job server: {job_server}")


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

"""`loopline setup` and `loopline stack up|status|check|down`: the local Kafka broker, the Prism runner and,
with `--flink`, a Flink cluster."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from loopline import config as cfg
from loopline.cli.common import ConfigOpt, _load, broker_for, console
from loopline.cli.errors import fail as _fail
from loopline.stack.flink_cluster import FlinkCluster
from loopline.stack.kafka import KafkaBroker

stack_app = typer.Typer(
    help="The local stack: a real Kafka broker (KRaft), the Prism runner, a Flink cluster.", no_args_is_help=True
)


def setup(config_path: Path | None = ConfigOpt) -> None:
    """Fetch and build what the stack needs, once: Kafka jars and the Flink job server (Maven Central), Prism (built with Go),
    Flink itself (PyPI)."""
    from loopline.stack.flink import ensure_job_server
    from loopline.stack.flink_cluster import ensure_flink_home
    from loopline.stack.kafka import ensure_jars
    from loopline.stack.prism import ensure_prism

    c = _load(config_path)
    with console.status(f"resolving Kafka {c.kafka.version} jars from Maven Central"):
        libs = ensure_jars(c.kafka.version, c.cache_dir)
    console.print(f"Kafka {c.kafka.version}: {libs}")
    with console.status(f"building Prism v{c.prism.beam_version} from Beam's Go module"):
        prism = ensure_prism(c.prism, c.cache_dir)
    console.print(f"Prism: {prism}")
    with console.status(f"resolving Beam {c.flink.beam_version}'s Flink {c.flink.flink_version} job server from Maven Central"):
        job_server = ensure_job_server(c.flink, c.cache_dir)
    console.print(f"Flink job server: {job_server}")
    with console.status(f"downloading Flink {c.flink.dist_version} from PyPI"):
        flink_home = ensure_flink_home(c.flink, c.cache_dir)
    console.print(f"Flink {c.flink.dist_version}: {flink_home}")


@stack_app.command("up")
def stack_up(
    config_path: Path | None = ConfigOpt,
    partitions: int | None = typer.Option(None, help="Partitions per topic (default: kafka.partitions)."),
    flink: bool = typer.Option(False, "--flink", help="Also start a Flink JobManager and TaskManager on loopback."),
) -> None:
    """Start Kafka on loopback, create the topics, make sure Prism is built; with --flink, start a Flink cluster."""
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
    if flink:
        cluster = cluster_for(c)
        with console.status(f"starting Flink {c.flink.dist_version} on {cluster.rest} (logs in {cluster.dir})"):
            cluster.start()
    _print_status(c, broker)
    _print_flink_status(c)
    if flink and not c.flink.master.endswith(f":{c.flink.rest_port}"):
        console.print(f"run pipelines on it: set `flink.master: {cluster.rest}` in the config, then `--runner flink`.")


@stack_app.command("down")
def stack_down(config_path: Path | None = ConfigOpt) -> None:
    """Stop the Flink cluster if it runs and the broker (controlled shutdown); Kafka's data stays for the next `stack up`."""
    c = _load(config_path)
    if cluster_for(c).stop():
        console.print("Flink stopped.")
    stopped = broker_for(c).stop()
    console.print("Kafka stopped." if stopped else "Kafka was not running.")


@stack_app.command("status")
def stack_status(
    config_path: Path | None = ConfigOpt, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")
) -> None:
    """Broker process, reachability, topics with partition and message counts; the Flink cluster's daemons and slots."""
    c = _load(config_path)
    broker = broker_for(c)
    if as_json:
        st = broker.status()
        fl = cluster_for(c).status()
        print(
            json.dumps(
                {
                    "running": st.running,
                    "pid": st.pid,
                    "reachable": st.reachable,
                    "bootstrap": c.kafka.bootstrap,
                    "topics": {t: {"partitions": n, "messages": broker.message_count(t)} for t, n in st.topics.items()},
                    "flink": {
                        "running": fl.running,
                        "jobmanager_pid": fl.jobmanager_pid,
                        "taskmanager_pid": fl.taskmanager_pid,
                        "rest": fl.rest,
                        "reachable": fl.reachable,
                        "taskmanagers": fl.taskmanagers,
                        "slots_total": fl.slots_total,
                        "slots_available": fl.slots_available,
                    },
                }
            )
        )
        return
    _print_status(c, broker)
    _print_flink_status(c)


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


def cluster_for(c: cfg.LooplineConfig) -> FlinkCluster:
    return FlinkCluster(c.flink, c.home / "flink", c.cache_dir)


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


def _print_flink_status(c: cfg.LooplineConfig) -> None:
    """One line, only when the stack's Flink cluster runs: most stacks run without one."""
    st = cluster_for(c).status()
    if not st.running:
        return
    tm = f"TaskManager pid {st.taskmanager_pid}" if st.taskmanager_pid else "[red]no TaskManager[/]"
    reach = (
        f"{st.taskmanagers} TaskManager(s), {st.slots_available}/{st.slots_total} slots free"
        if st.reachable
        else "[red]REST not answering[/]"
    )
    console.print(f"Flink {c.flink.dist_version}: JobManager pid {st.jobmanager_pid}, {tm}, http://{st.rest}, {reach}")

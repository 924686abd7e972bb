"""`loopline loop`: the whole feedback loop on one machine, until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from loopline.cli.common import ConfigOpt, _load, console
from loopline.cli.errors import fail as _fail


def loop(
    config_path: Path | None = ConfigOpt,
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve without API keys (local experiments only)."),
) -> None:
    """Stack up, then the pipeline following Kafka, the trainer following the store and the model server, each
    restarted if it dies; Ctrl-C stops them in order (server, trainer, pipeline draining what is in flight)."""
    from loopline.cli.stack import stack_up
    from loopline.services import Service, ServiceFailed, Supervisor

    c = _load(config_path)
    stack_up(config_path, None)
    services = [
        Service("pipeline", ["run", "--follow"], grace_s=c.pipeline.follow.drain_timeout_s + 15),
        Service("trainer", ["train", "--follow"], grace_s=120),
        Service("server", ["serve", *(["--no-auth"] if no_auth else [])], grace_s=15),
    ]
    log_dir = c.home / "logs" / "loop"
    supervisor = Supervisor(
        services, log_dir, config_path, echo=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True)
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    console.print(
        f"loop: pipeline, trainer and server starting (logs in {log_dir}); "
        f"the server listens on http://{c.serve.host}:{c.serve.port}; Ctrl-C stops everything",
        soft_wrap=True,
    )
    supervisor.start()
    try:
        supervisor.run(stop)
    except ServiceFailed as e:
        _fail(str(e))
    console.print(f"loop stopped ({supervisor.restarts} restarts); the stack is still up: `loopline stack down` stops it")

"""`loopline serve`: parse, load the engine once, run uvicorn until Ctrl-C/SIGTERM. No serving logic here."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import typer

from loopline import config as cfg
from loopline.cli.common import ConfigOpt
from loopline.cli.errors import fail
from loopline.config.serve import API_KEYS_ENV


def serve(
    config_path: Path | None = ConfigOpt,
    host: str | None = typer.Option(None, help="Address to listen on (default: serve.host, 127.0.0.1)."),
    port: int | None = typer.Option(None, min=1, max=65535, help="Port (default: serve.port)."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Accept requests without an API key (local experiments only; keys: $LOOPLINE_API_KEYS)."
    ),
) -> None:
    """OpenAI-compatible chat completions on the promoted adapter (hot-swapped), feedback into Kafka."""
    c = cfg.load(config_path)
    if host:
        c.serve.host = host
    if port:
        c.serve.port = port
    if not no_auth and not c.serve.all_api_keys():
        fail(
            f"no API key configured: set serve.api_keys in the config or {API_KEYS_ENV}=key1,key2 in the "
            "environment (or pass --no-auth for a local experiment)"
        )
    run_server(c, auth=not no_auth)


def run_server(c: cfg.LooplineConfig, *, auth: bool = True) -> None:
    import uvicorn

    from serving.app import create_app
    from serving.engine import load_engine

    log = logging.getLogger("loopline.serve")
    if not auth:
        log.warning("API keys are off (--no-auth): anyone who reaches %s:%d can use the model", c.serve.host, c.serve.port)
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)  # "Uvicorn running on ...", shutdown
    log.info("loading the model (once)")
    app = create_app(c, load_engine(c), auth=auth)
    # uvicorn handles SIGINT/SIGTERM itself (stops accepting, lets requests in flight finish, runs the app's
    # shutdown), then re-raises the signal to the handler it found: this one, so a stop on request exits 0
    stopped_by: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stopped_by.append(signum))
    uvicorn.run(app, host=c.serve.host, port=c.serve.port, log_config=None, access_log=False)
    if stopped_by:
        log.info("stopped by %s", signal.Signals(stopped_by[0]).name)

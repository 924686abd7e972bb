"""`loopline` — the one entry point: local stack, traffic simulator, pipelines and trainer.

This module builds `app` (global options, the user-error handler) and registers each module's commands on it;
the registration order is the order `loopline --help` lists them in.
"""

from __future__ import annotations

import logging

import typer

from loopline.cli.data import datasets_app, replay, run, simulate
from loopline.cli.demo import demo
from loopline.cli.errors import UserErrorsAsOneLine
from loopline.cli.features import features_app
from loopline.cli.filters import clean, dedup, scrub
from loopline.cli.loop import loop
from loopline.cli.serve import serve
from loopline.cli.stack import setup, stack_app
from loopline.cli.train import adapters_app, train
from loopline.logs import OneLineFormatter

app = typer.Typer(
    cls=UserErrorsAsOneLine,
    help="Loopline: live enterprise communications -> clean training data -> a fine-tuned LLM.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


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


for command in (setup, simulate, run, replay, train, clean, scrub, dedup, serve, loop, demo):
    app.command()(command)
app.add_typer(stack_app, name="stack")
app.add_typer(adapters_app, name="adapters")
app.add_typer(datasets_app, name="datasets")
app.add_typer(features_app, name="features")

"""`loopline demo`: the main job end to end by calling the other commands in order."""

from __future__ import annotations

from pathlib import Path

import typer

from loopline.cli.common import ConfigOpt, _load, broker_for, console
from loopline.cli.data import _run_pipeline, datasets_list, simulate
from loopline.cli.stack import _print_status, stack_check, stack_up
from loopline.cli.train import run_training


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
    from trainer.model import pick_device

    if pick_device(c.trainer.device) == "cpu":
        c.trainer = c.trainer.short_cycle()
    run_training(c)
    console.print("The stack is still running: `loopline stack status`, `loopline stack down`.")

"""`loopline train` and `loopline adapters`: parse, call the trainer, print. No training logic here."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path

import typer
from rich.table import Table

from loopline import config as cfg
from loopline.cli.common import ConfigOpt, console
from loopline.cli.errors import fail as _fail

adapters_app = typer.Typer(
    help="The adapter registry: versions, status, metrics, lineage; promote and roll back.", no_args_is_help=True
)


def train(
    config_path: Path | None = ConfigOpt,
    once: bool = typer.Option(False, "--once", help="Run one cycle now, then exit."),
    follow: bool = typer.Option(
        False, "--follow", help="Watch the store; run a cycle whenever a trigger fires, until Ctrl-C/SIGTERM."
    ),
    dataset: str | None = typer.Option(None, help="Store dataset to train on (default: trainer.dataset)."),
    shuffle_answers: bool = typer.Option(
        False, "--shuffle-answers", help="Gate check: train on answers shuffled across pairs; the gate must reject it."
    ),
) -> None:
    """Continual fine-tuning on the curated store: QLoRA SFT + KTO on feedback, gated by evaluation."""
    if once == follow:
        _fail("say --once (one cycle) or --follow (a service)")
    c = cfg.load(config_path)
    if dataset:
        c.trainer.dataset = dataset
    run_training(c, follow=follow, shuffle_answers=shuffle_answers)


def run_training(c: cfg.LooplineConfig, *, follow: bool = False, shuffle_answers: bool = False):
    from trainer.continual import ContinualTrainer

    trainer = ContinualTrainer(c, shuffle_answers=shuffle_answers)
    if not follow:
        report = trainer.run_cycle()
        print_cycle(c, report)
        return report
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    logging.getLogger("loopline.trainer").info(
        "training in follow mode on dataset %s; Ctrl-C stops after the current cycle", c.trainer.dataset
    )
    trainer.follow(stop, on_cycle=lambda report: print_cycle(c, report))


def print_cycle(c: cfg.LooplineConfig, report) -> None:
    from trainer import report as train_report

    if report.version is None:
        console.print(f"no training cycle: {report.reason}")
        return
    table = Table(title=f"cycle {report.version}: {report.outcome}")
    for col in ("model", "golden perplexity", "general perplexity", "answer match", "ROUGE-L"):
        table.add_column(col, justify="right")
    for who in ("base", "current", "candidate"):
        if who in report.metrics:
            m = report.metrics[who]
            cells = [m.get(k) for k in ("domain_ppl", "general_ppl", "answer_match", "rouge_l")]
            table.add_row(who, *("-" if v is None else f"{v:.3f}" for v in cells))  # None: not measured (e.g. rouge_samples 0)
    console.print(table)
    reads = ", ".join(f"{r['kind']} {r['dataset']}@{r['since']}..{r['seq']}" for r in report.reads)
    console.print(
        f"read {reads}; trained on {report.counts}; SFT {report.sft.get('steps')} steps "
        f"({report.sft.get('tokens_per_s', 0):.0f} tokens/s); KTO: {report.kto.get('steps', report.kto.get('skipped'))}"
    )
    console.print(f"gate: {report.reason}")
    html_path = train_report.write(report, c.home / "reports" / f"train-{report.version}-{int(report.seconds)}s")
    console.print(f"report: {html_path}")


@adapters_app.command("list")
def adapters_list(
    config_path: Path | None = ConfigOpt, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")
) -> None:
    """Every adapter version with its status, metrics and the gate's reason."""
    from trainer.registry import AdapterRegistry

    c = cfg.load(config_path)
    registry = AdapterRegistry(c.registry_root)
    cards, current = registry.list(), registry.current()
    if as_json:
        print(json.dumps([card.to_json() for card in cards], indent=2, sort_keys=True))
        return
    table = Table(title=f"adapters in {c.registry_root}")
    for col in ("version", "status", "parent", "trained on", "golden ppl", "general ppl", "reason"):
        table.add_column(col)
    for card in cards:
        m = card.metrics.get("candidate", {})
        mark = " *" if current and current.version == card.version else ""
        reads = ", ".join(f"@{r['since']}..{r['seq']}" for r in card.lineage.get("reads", []))
        status = card.status + (" (holds forgotten data)" if card.holds_forgotten else "")
        table.add_row(
            card.version + mark,
            status,
            card.parent or "base",
            reads,
            f"{m.get('domain_ppl', float('nan')):.3f}",
            f"{m.get('general_ppl', float('nan')):.3f}",
            card.reason,
        )
    console.print(table)


@adapters_app.command("promote")
def adapters_promote(version: str, config_path: Path | None = ConfigOpt) -> None:
    """Make VERSION the served adapter (by hand: the gate is not asked)."""
    from trainer.registry import AdapterRegistry

    registry = AdapterRegistry(cfg.load(config_path).registry_root)
    try:
        with registry.lock():
            registry.promote(version, "promoted by hand")
    except (KeyError, ValueError) as e:
        _fail(str(e))
    console.print(f"{version} is now the promoted adapter")


@adapters_app.command("rollback")
def adapters_rollback(config_path: Path | None = ConfigOpt) -> None:
    """Take the promoted adapter out of service (marked rejected) and serve the previous clean one, or the base model."""
    from trainer.registry import AdapterRegistry

    registry = AdapterRegistry(cfg.load(config_path).registry_root)
    with registry.lock():
        card = registry.rollback("rolled back by hand")
    console.print(f"now serving {card.version if card else 'the base model'}")

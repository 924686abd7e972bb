"""What every command module shares: the console, the --config option, config loading, the broker handle."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from loopline import config as cfg
from loopline.stack.kafka import KafkaBroker

console = Console()

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (default: $LOOPLINE_CONFIG or built-in defaults).")


def _load(config_path: Path | None) -> cfg.LooplineConfig:
    return cfg.load(config_path)


def broker_for(c: cfg.LooplineConfig) -> KafkaBroker:
    return KafkaBroker(c.kafka, c.home / "kafka", c.cache_dir)

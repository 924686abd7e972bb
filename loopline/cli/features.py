"""`loopline features`: the Feast features that steer the trainer. Parse, call features/store.py, print."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from loopline import config as cfg
from loopline.cli.common import ConfigOpt, console
from loopline.cli.errors import fail
from loopline.store import CuratedStore
from loopline.timeparse import parse_time_ms

features_app = typer.Typer(
    help="Feast features over the curated store (offline parquet, registry, SQLite online store under "
    "<home>/features); the trainer weighs its selection by them. The Feast CLI works on the same files: "
    "LOOPLINE_HOME=<home> feast -c features/repo apply.",
    no_args_is_help=True,
)

DatasetOpt = typer.Option(None, help="Store dataset to export (default: trainer.dataset).")
SeqOpt = typer.Option(None, help="Manifest seq to pin the snapshot at (default: the newest).")


def _snapshot(c: cfg.LooplineConfig, dataset: str | None, seq: int | None):
    store = CuratedStore(c.store_root, dataset or c.trainer.dataset)
    if not store.exists():
        fail(f"dataset {store.dataset!r} does not exist under {c.store_root}: run the pipeline first (`loopline run`)")
    latest = store.snapshot()
    if seq is not None and not 0 <= seq <= latest.seq:
        fail(f"dataset {store.dataset!r} has manifest entries 0..{latest.seq}, not {seq}")
    return latest if seq is None else store.snapshot(seq)


@features_app.command("export")
def export_cmd(config_path: Path | None = ConfigOpt, dataset: str | None = DatasetOpt, seq: int | None = SeqOpt) -> None:
    """Rebuild the offline tables from a store snapshot (forgotten subjects' pairs drop out)."""
    from features.store import export, offline_dir

    c = cfg.load(config_path)
    result = export(c, _snapshot(c, dataset, seq))
    console.print(f"exported {result.dataset} at seq {result.seq} to {offline_dir(c)}: {json.dumps(result.rows)}")


@features_app.command("apply")
def apply_cmd(config_path: Path | None = ConfigOpt) -> None:
    """Register the feature definitions (features/repo/definitions.py) in <home>/features/registry.db."""
    from features.store import apply, features_dir

    c = cfg.load(config_path)
    apply(c)
    console.print(f"applied the feature views to {features_dir(c) / 'registry.db'}")


@features_app.command("materialize")
def materialize_cmd(
    config_path: Path | None = ConfigOpt,
    end: str = typer.Option("now", help="Load values up to this time: 'now' or ISO 8601 (UTC unless zoned)."),
) -> None:
    """Load the latest feature values into the online store (and drop the rows of entities no longer exported)."""
    from features.store import materialize

    c = cfg.load(config_path)
    try:
        end_ms = parse_time_ms(end)
    except ValueError as e:
        fail(f"--end: {e}")
    pruned = materialize(c, datetime.fromtimestamp(end_ms / 1000, tz=UTC))
    console.print(f"materialized up to {end}; online rows of vanished entities removed: {json.dumps(pruned)}")


@features_app.command("refresh")
def refresh_cmd(config_path: Path | None = ConfigOpt, dataset: str | None = DatasetOpt, seq: int | None = SeqOpt) -> None:
    """export + apply + materialize up to the snapshot's commit: what `loopline loop` runs after the pipeline."""
    from features.store import refresh

    c = cfg.load(config_path)
    result = refresh(c, _snapshot(c, dataset, seq))
    timings = ", ".join(f"{k[:-2]} {result[k]:.2f} s" for k in ("export_s", "apply_s", "materialize_s"))
    console.print(f"features at seq {result['seq']}: {json.dumps(result['rows'])} ({timings})")

"""`loopline clean`, `scrub`, `dedup`: JSON-lines filters on stdin/stdout that do what the pipeline's steps do."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from loopline import catalog
from loopline.cli.common import ConfigOpt, _load
from loopline.cli.errors import fail as _fail
from pipelines.jsonlines import MAX_LINE_BYTES

MaxLineOpt = typer.Option(MAX_LINE_BYTES, "--max-line-bytes", min=1, help="Longer input lines get an `oversized` error line.")


def clean(
    config_path: Path | None = ConfigOpt,
    kind: str = typer.Option(..., "--kind", help=" | ".join(catalog.conversation_kinds())),
    max_line_bytes: int = MaxLineOpt,
) -> None:
    """JSON-lines filter: {"id","text"} or {"id","html"} -> {"id","text"} cleaned as the pipeline cleans."""
    from pipelines.clean import filter_lines

    if kind not in catalog.conversation_kinds():
        _fail(f"--kind must be one of {', '.join(catalog.conversation_kinds())}")
    filter_lines(sys.stdin.buffer, sys.stdout.buffer, _load(config_path).pipeline.clean, kind, max_line_bytes)


def scrub(config_path: Path | None = ConfigOpt, max_line_bytes: int = MaxLineOpt) -> None:
    """JSON-lines filter: {"id","text"} -> {"id","text","entities":[{"type","start","end","score"}]} (PII masked)."""
    from pipelines.scrub import filter_lines

    filter_lines(sys.stdin.buffer, sys.stdout.buffer, _load(config_path).pipeline.scrub, max_line_bytes)


def dedup(
    config_path: Path | None = ConfigOpt,
    index: Path | None = typer.Option(None, help="Persistent index directory (default: a temporary one)."),
    max_line_bytes: int = MaxLineOpt,
) -> None:
    """JSON-lines filter: {"id","text"} -> {"id","duplicate_of"}; the first occurrence wins."""
    from pipelines.dedup import filter_lines

    filter_lines(sys.stdin.buffer, sys.stdout.buffer, _load(config_path).pipeline.dedup, index, max_line_bytes)

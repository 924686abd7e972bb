"""`loopline dedup`: the index as a JSON-lines filter over plain texts (the contract is pipelines/jsonlines.py's)."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import BinaryIO, TextIO

from loopline.config import DedupConfig
from pipelines.dedup.index import DedupIndex
from pipelines.jsonlines import MAX_LINE_BYTES, Item, run_filter


def filter_lines(
    stdin: BinaryIO,
    stdout: BinaryIO | TextIO,
    config: DedupConfig,
    index_dir: Path | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> None:
    """{"id", "text"} -> {"id", "duplicate_of"}: the id of the earlier line it duplicates, or null. The index
    records ids as strings, a number as its JSON text (so 7 and "7" are one document, and duplicate_of is a
    string). All lines share one near scope. No index_dir: a temporary index for this run only."""
    with contextlib.ExitStack() as stack:
        if index_dir is None:
            index_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loopline-dedup-")))
        index = stack.enter_context(DedupIndex(index_dir, config))

        def process(items: list[Item]) -> list[dict]:
            found = index.check_and_add_batch([(_key(item.id), item.fields["text"]) for item in items])
            return [{"duplicate_of": duplicate_of} for duplicate_of, _ in found]

        run_filter(stdin, stdout, process, required=("text",), batch_size=512, max_line_bytes=max_line_bytes)


def _key(ident: str | int | float) -> str:
    return ident if isinstance(ident, str) else json.dumps(ident)

"""`loopline dedup`: the index as a JSON-lines filter over plain texts."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from loopline.config import DedupConfig
from pipelines.dedup.index import DedupIndex


def filter_lines(lines: Iterable[str], config: DedupConfig, index_dir: Path | None = None) -> Iterator[str]:
    """{"id", "text"} per line in, {"id", "duplicate_of"} per line out, in order; a bad line gets
    {"id", "error"} and the rest go on. All lines share one near scope. No index_dir: a temporary index
    for this run only."""
    with contextlib.ExitStack() as stack:
        if index_dir is None:
            index_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loopline-dedup-")))
        index = stack.enter_context(DedupIndex(index_dir, config))
        batch: list[tuple[str, str] | dict] = []
        for line in lines:
            batch.append(_parse_line(line))
            if len(batch) >= 512:
                yield from _filter_batch(index, batch)
                batch = []
        yield from _filter_batch(index, batch)


def _parse_line(line: str) -> tuple[str, str] | dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return {"id": None, "error": f"invalid JSON: {e.msg}"}
    if not isinstance(obj, dict):
        return {"id": None, "error": "expected a JSON object"}
    doc_id, text = obj.get("id"), obj.get("text")
    if not isinstance(doc_id, str) or not doc_id:
        return {"id": doc_id if isinstance(doc_id, str) else None, "error": "id must be a non-empty string"}
    if not isinstance(text, str):
        return {"id": doc_id, "error": "text must be a string"}
    return doc_id, text


def _filter_batch(index: DedupIndex, batch: list[tuple[str, str] | dict]) -> Iterator[str]:
    results = iter(index.check_and_add_batch([b for b in batch if isinstance(b, tuple)]))
    for b in batch:
        yield json.dumps(b if isinstance(b, dict) else {"id": b[0], "duplicate_of": next(results)[0]})

"""`loopline scrub`: the Scrubber as a JSON-lines filter (the contract is pipelines/jsonlines.py's)."""

from __future__ import annotations

from typing import BinaryIO, TextIO

from loopline.config import ScrubConfig
from pipelines.jsonlines import MAX_LINE_BYTES, Item, run_filter
from pipelines.scrub.scrubber import scrubber


def filter_lines(stdin: BinaryIO, stdout: BinaryIO | TextIO, config: ScrubConfig, max_line_bytes: int = MAX_LINE_BYTES) -> None:
    """{"id", "text"} -> {"id", "text" (scrubbed), "entities": [{type, start, end, score}]}; each line is its
    own placeholder context, and lines go to spaCy `config.batch_size` at a time. Same code path as the pipeline."""
    scrub = scrubber(config)

    def process(items: list[Item]) -> list[dict]:
        results = scrub.scrub_batch([item.fields["text"] for item in items], [str(i) for i in range(len(items))])
        return [{"text": r.text, "entities": r.entities} for r in results]

    run_filter(stdin, stdout, process, required=("text",), batch_size=config.batch_size, max_line_bytes=max_line_bytes)

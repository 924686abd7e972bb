"""Curation between windows and records: mark re-sends -> clean -> scrub PII -> dedup -> pairs, each Thread -> Thread."""

from __future__ import annotations

import apache_beam as beam

from loopline.config import PipelineConfig
from pipelines.clean import CleanThreads
from pipelines.dedup import DedupThreads
from pipelines.guard import DEAD
from pipelines.identity import mark_resends
from pipelines.ordering import InCanonicalOrder
from pipelines.pairs import ExtractPairs
from pipelines.scrub import ScrubThreads


class Curate(beam.PTransform):
    """Threads -> {"threads": curated Threads, DEAD: (dead letters of each stage, ...)}.

    `dataset_dir` (CuratedStore(root, dataset).path) is where the pairs stage keeps the dataset's thread
    history (`<dataset_dir>/history`), so threads that resume in a later window still pair; None: it pairs
    within each window only."""

    def __init__(self, config: PipelineConfig, dedup_dir: str, dataset_dir: str | None = None):
        super().__init__()
        self.config, self.dedup_dir, self.dataset_dir = config, dedup_dir, dataset_dir

    def expand(self, threads):
        c = self.config
        marked = threads | "MarkResends" >> beam.Map(mark_resends)  # a second copy of an event is no message
        cleaned = marked | "Clean" >> CleanThreads(c.clean)
        scrubbed = cleaned.threads | "Scrub" >> ScrubThreads(c.scrub)
        ordered = scrubbed.threads | "Order" >> InCanonicalOrder(
            c.dedup.order_batch_s
        )  # dedup survivors must not depend on the runner
        deduped = ordered | "Dedup" >> DedupThreads(c.dedup, self.dedup_dir)
        paired = deduped.threads | "Pairs" >> ExtractPairs(c.pairs, self.dataset_dir)
        return {"threads": paired.threads, DEAD: (cleaned[DEAD], scrubbed[DEAD], deduped[DEAD], paired[DEAD])}

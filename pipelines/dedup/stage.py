"""The dedup stage: Threads in, the same Threads with duplicate messages marked out (Beam)."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from loopline.config import DedupConfig
from pipelines.dedup.index import DedupIndex
from pipelines.dedup.scope import message_scopes
from pipelines.guard import DEAD, ThreadStage
from pipelines.model import Thread, curated_text, record_id
from pipelines.subjects import thread_subjects


class _Dedup(ThreadStage):
    stage = "dedup"

    def __init__(self, config: DedupConfig, index_dir: str):
        self.config, self.index_dir = config, index_dir
        self.counters = {k: Metrics.counter("loopline", f"dedup.{k}") for k in ("checked", "exact", "near", "semantic")}
        self._shared = Shared()  # one index per worker process: its memory is the history, once

    def setup(self):
        self._index = self._shared.acquire(lambda: DedupIndex(Path(self.index_dir), self.config))

    def handle(self, thread: Thread):
        events = list(thread.events)
        scopes = message_scopes(thread)
        at = [i for i, scope in enumerate(scopes) if scope is not None and events[i].duplicate_of is None]
        subjects = thread_subjects(thread)
        items = [(record_id([events[i]]), curated_text(events[i]), scopes[i], subjects) for i in at]
        for i, (duplicate_of, kind) in zip(at, self._index.check_and_add_batch(items)):
            self.counters["checked"].inc()
            if duplicate_of is not None:
                events[i] = events[i]._replace(duplicate_of=duplicate_of, duplicate_kind=kind)
                self.counters[kind].inc()
        yield thread._replace(events=tuple(events))


class DedupThreads(beam.PTransform):
    """Threads -> the same Threads with duplicate messages marked (main tag "threads"), dead letters (DEAD).
    Duplicates stay in the thread: their offsets still need accounting; records skip them."""

    def __init__(self, config: DedupConfig, index_dir: str):
        super().__init__()
        self.config, self.index_dir = config, str(index_dir)

    def expand(self, threads):
        return threads | "Dedup" >> beam.ParDo(_Dedup(self.config, self.index_dir)).with_outputs(DEAD, main="threads")

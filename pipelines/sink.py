"""Commit units to the curated store, and apply deletion requests to it.

A bundle's units are committed together at the end of the bundle (segments first, then one
manifest entry): until that entry is durable the offsets are not accounted, so a crash re-reads
them; after it, re-delivered units are skipped. Nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.metrics import Metrics

from loopline.metrics import END_TO_END, RECORDS_WRITTEN
from loopline.store import CuratedStore, subject_hash
from pipelines.decode import Event
from pipelines.history import ThreadHistory, history_dir
from pipelines.progress import ProgressCommitter


class StoreWriter(beam.DoFn):
    """A DoFn that changes the store, then mirrors the durable progress to the consumer group."""

    def __init__(self, bootstrap: str, store_root: str, dataset: str):
        self.bootstrap, self.store_root, self.dataset = bootstrap, store_root, dataset

    def setup(self):
        self._store = CuratedStore(self.store_root, self.dataset)
        self._progress = ProgressCommitter(self.bootstrap, self.dataset)

    def teardown(self):
        self._progress.close()


class _Commit(StoreWriter):
    def start_bundle(self):
        self._units = []

    def process(self, unit):
        self._units.append(unit)

    def finish_bundle(self):
        if not self._units:
            return
        result = self._store.commit(self._units)
        self._progress.commit(self._store)
        committed_ms = time.time() * 1000
        for unit in self._units:
            for arrived_ms in unit.arrivals_ms:
                END_TO_END.observe(max(0.0, committed_ms - arrived_ms) / 1000)
        Metrics.counter("loopline", "store.units_committed").inc(result.units_committed)
        Metrics.counter("loopline", "store.units_already_stored").inc(result.units_skipped)
        Metrics.counter("loopline", "store.records_forgotten").inc(result.records_forgotten)
        for kind, n in result.records_written.items():
            Metrics.counter("loopline", f"store.written.{kind}").inc(n)
            RECORDS_WRITTEN.labels(kind).inc(n)


class WriteToStore(beam.PTransform):
    def __init__(self, bootstrap: str, store_root, dataset: str):
        super().__init__()
        self.args = (bootstrap, str(store_root), dataset)

    def expand(self, units):
        return units | "Commit" >> beam.ParDo(_Commit(*self.args))


class _Forget(StoreWriter):
    """A deletion reaches the thread history first (pipelines/history.py: rows removed and overwritten, the
    subject kept out from now on), then the store, whose entry accounts the deletion's offset: a crash in
    between re-reads the deletion and does both again (each is idempotent)."""

    def setup(self):
        super().setup()
        self._history = ThreadHistory(history_dir(self._store.path))

    def teardown(self):
        self._history.close()
        super().teardown()

    def process(self, event: Event):
        subject = subject_hash(event.record["subject_id"])
        self._history.forget(subject)
        removed = self._store.forget(subject, offsets=((event.source.topic, event.source.partition, event.source.offset),))
        self._progress.commit(self._store)
        Metrics.counter("loopline", "deletion.requests").inc()
        Metrics.counter("loopline", "deletion.records_removed").inc(removed)


class ApplyDeletions(beam.PTransform):
    """DeletionEvents -> the subject's records removed from the store and kept out of later commits."""

    def __init__(self, bootstrap: str, store_root, dataset: str):
        super().__init__()
        self.args = (bootstrap, str(store_root), dataset)

    def expand(self, deletions):
        return deletions | "Forget" >> beam.ParDo(_Forget(*self.args))

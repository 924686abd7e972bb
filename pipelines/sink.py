"""Commit units to the curated store, and apply deletion requests to it.

A bundle's units are committed together at the end of the bundle (segments first, then one
manifest entry): until that entry is durable the offsets are not accounted, so a crash re-reads
them; after it, re-delivered units are skipped. Nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.metrics import Metrics

from loopline.catalog import DEADLETTER_TOPIC
from loopline.metrics import END_TO_END, RECORDS_WRITTEN
from loopline.store import CuratedStore, subject_hash
from pipelines.history import ThreadHistory, history_dir
from pipelines.links import PersonLinks, links_dir
from pipelines.model import Event
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


class Eraser:
    """Everything a deletion reaches in one dataset (README "Deletion"), given subject hashes: the thread
    history, the dedup index, the dead-letter topic, then the curated store. Each step is idempotent and
    keeps the subject out of later writes, so a crash part-way is repaired by doing it all again."""

    def __init__(self, bootstrap: str, store: CuratedStore):
        from pipelines.deadletter import DeadLetterEraser

        self.store = store
        self.history = ThreadHistory(history_dir(store.path))
        self.deadletters = DeadLetterEraser(bootstrap, DEADLETTER_TOPIC, store.path)

    def forget(self, hashes: set[str], last: str | None = None, offsets=()) -> int:
        """Forget `hashes`; the store forgets `last` (one of them) last, accounting `offsets` with it."""
        from pipelines.dedup import forget_in_index

        self.history.forget_many(hashes)
        forget_in_index(self.store.path / "dedup", hashes)
        erased = self.deadletters.erase(hashes)
        Metrics.counter("loopline", "deletion.deadletters_erased").inc(erased)
        removed = 0
        for h in sorted(hashes - {last}):
            removed += self.store.forget(h)
        if last is not None:
            removed += self.store.forget(last, offsets=offsets)
        return removed

    def close(self) -> None:
        self.deadletters.close()
        self.history.close()


class _Commit(StoreWriter):
    """Links between a person's ids (pipelines/links.py) are recorded here, before the units are committed:
    a link that joins an id to a forgotten person forgets that id everywhere first, so the units' records
    of it are kept out by the store's forgotten set, whether the deletion was applied before or after."""

    def setup(self):
        super().setup()
        self._links = PersonLinks(links_dir(self._store.path))
        self._eraser = None

    def teardown(self):
        if self._eraser is not None:
            self._eraser.close()
        self._links.close()
        super().teardown()

    def start_bundle(self):
        self._units = []

    def process(self, unit):
        self._units.append(unit)

    def finish_bundle(self):
        if not self._units:
            return
        fresh = self._links.add(link for unit in self._units for link in unit.links)
        if fresh:
            self._eraser = self._eraser or Eraser(self.bootstrap, self._store)
            self._eraser.forget(fresh)
            self._eraser.deadletters.roll()
            Metrics.counter("loopline", "deletion.linked_later").inc(len(fresh))
        result = self._store.commit(self._units)
        self._progress.commit(self._store)
        committed_ms = time.time() * 1000
        for unit in self._units:
            for arrived_ms in unit.arrivals_ms:
                END_TO_END.observe(max(0.0, committed_ms - arrived_ms) / 1000)
        Metrics.counter("loopline", "store.units_committed").inc(result.units_committed)
        Metrics.counter("loopline", "store.units_already_stored").inc(result.units_skipped)
        Metrics.counter("loopline", "store.records_forgotten").inc(result.records_forgotten)
        Metrics.counter("loopline", "store.events_resent").inc(result.events_resent)
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
    """A deletion forgets the whole person: its subject_id, its linked_ids and every id linked to them
    (pipelines/links.py), in the thread history (rows removed and overwritten), the dedup index (files
    rewritten without them), the dead-letter topic (tombstones) and last the store, whose entry accounts
    the deletion's offset: a crash in between re-reads the deletion and does it all again (each step is
    idempotent)."""

    def setup(self):
        super().setup()
        self._links = PersonLinks(links_dir(self._store.path))
        self._eraser = Eraser(self.bootstrap, self._store)

    def teardown(self):
        self._eraser.close()
        self._links.close()
        super().teardown()

    def finish_bundle(self):
        self._eraser.deadletters.roll()

    def process(self, event: Event):
        subject = subject_hash(event.record["subject_id"])
        linked = [subject_hash(i) for i in event.record.get("linked_ids") or ()]
        person = self._links.forget(subject, linked)
        removed = self._eraser.forget(
            person, last=subject, offsets=((event.source.topic, event.source.partition, event.source.offset),)
        )
        self._progress.commit(self._store)
        Metrics.counter("loopline", "deletion.ids_forgotten").inc(len(person))
        Metrics.counter("loopline", "deletion.requests").inc()
        Metrics.counter("loopline", "deletion.records_removed").inc(removed)


class ApplyDeletions(beam.PTransform):
    """DeletionEvents -> the subject's records removed from the store and kept out of later commits."""

    def __init__(self, bootstrap: str, store_root, dataset: str):
        super().__init__()
        self.args = (bootstrap, str(store_root), dataset)

    def expand(self, deletions):
        return deletions | "Forget" >> beam.ParDo(_Forget(*self.args))

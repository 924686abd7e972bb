"""The people a thread's records carry, as subject hashes: who a deletion must reach.

Which fields name people is the catalog's (`Source.subject_fields`); the hash is the store's, so records,
the dedup index and the thread history name a person alike. Beam-free; used by dedup, pairs and records.
"""

from __future__ import annotations

from loopline import catalog
from loopline.store import subject_hash
from pipelines.model import Event, Thread


def subject_ids(event: Event) -> set[str]:
    """The raw ids of everyone an event names: its author always, other person fields when present
    (a list field names several)."""
    source = catalog.by_kind(event.kind)
    ids = {event.record[source.author]} if source.author else set()
    for field in source.participants:
        value = event.record.get(field)
        ids.update(value if isinstance(value, list) else (value,) if value else ())
    return ids


def thread_subjects(thread: Thread) -> list[str]:
    """Hashes of everyone in the thread: a record derived from a thread may carry any participant's data,
    so forgetting one participant must remove it."""
    return sorted(subject_hash(i) for i in set().union(*map(subject_ids, thread.events)))

"""Event identity: what makes two Kafka messages one event, so a re-sent event (a producer's retry, a
connector restart) is stored once.

Every stored kind names its event (loopline/catalog.py `event_id`: a chat message id, an email Message-ID,
a ticket event id, a feedback response id); its identity is a hash of kind and that id, never the raw id.
The store (loopline/store/dataset.py) keeps the identities of what it committed in the same manifest
entries as the records, and skips a unit's records that come from an event it already has: that check
holds across bundles, runners, restarts and replays into the dataset. `mark_resends` marks a later copy
before curation (within a window) and in the pairs stage (against the thread's earlier windows, whose
history keeps identities), so no pair is built from it and no later window pairs with it. Deletions carry
no identity: applying one twice is harmless, and its id is the person's. Beam-free.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from loopline import catalog
from loopline.store import Offset
from pipelines.model import Event, HistoryMessage, Message, Thread, record_id

RESEND = "resend"  # Event.duplicate_kind of a later copy of an event (pipelines/model.py)


def identity(event: Event) -> str | None:
    """The event's identity hash, or None for kinds that have none (deletions)."""
    if event.kind == "deletion":
        return None
    event_id = event.record[catalog.by_kind(event.kind).event_id]
    return hashlib.sha256(f"loopline-event:{event.kind}:{event_id}".encode()).hexdigest()


def identities(thread: Thread) -> tuple[tuple[str, Offset], ...]:
    """(identity, Kafka offset) of each event of the thread, in thread order: what the store checks a unit by."""
    return tuple(
        (ident, (e.source.topic, e.source.partition, e.source.offset))
        for e in thread.events
        if (ident := identity(e)) is not None
    )


def mark_resends(thread: Thread, earlier: Iterable[HistoryMessage] = ()) -> Thread:
    """The thread with each copy of an event (same identity) that comes after its first copy, in the thread or
    among `earlier` messages of it (the thread history), marked a duplicate of that first copy, of kind RESEND:
    curation and pairs skip it as they skip any duplicate. A message already marked a duplicate stays as is."""
    first: dict[str, Message] = {m.identity: m for m in earlier if m.identity is not None}
    events = []
    for e in thread.events:
        ident = identity(e)
        if ident is not None and ident in first:
            if e.duplicate_of is None:
                e = e._replace(duplicate_of=record_id([first[ident]]), duplicate_kind=RESEND)
        elif ident is not None:
            first[ident] = e
        events.append(e)
    return thread._replace(events=tuple(events))

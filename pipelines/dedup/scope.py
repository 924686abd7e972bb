"""Which messages the pipeline compares with which (a Scope per message of a thread).

A customer's own message is matched exactly against everyone and nearly against that customer's history;
agent, bot and system messages only exactly, among the same participants: their macros are near-identical
across unrelated threads by design, and a macro answering another customer is no redundant data (pairs
skip duplicate answers). Sources, fields and roles come from loopline/catalog.py.
"""

from __future__ import annotations

from loopline import catalog
from pipelines.dedup.index import Scope
from pipelines.model import Event, Thread
from pipelines.subjects import thread_subjects

_MESSAGES = {s.kind: s for s in catalog.conversations()}
_ROLES_STATED = {kind for kind, s in _MESSAGES.items() if s.role}


def message_scopes(thread: Thread) -> list[Scope | None]:
    """Each event's Scope (None: not compared). A customer's own message is matched exactly against
    everyone's and nearly against that customer's earlier messages; any other message (agent, bot,
    system) only exactly, and only against messages among the same participants. A window of a source
    that states roles (chat, ticket) without a customer message (a resolution that came a day later, in a
    session of its own) doesn't say whose conversation it is: its other messages are not compared at all,
    or one agent's macro to two customers would count as a duplicate. Email needs no such rule: a reply
    names the customer among its recipients."""
    people = ",".join(thread_subjects(thread))
    unplaced = thread.key.split(":", 1)[0] in _ROLES_STATED and not any(map(_customer, thread.events))
    return [
        None
        if e.kind not in _MESSAGES
        else Scope("", author)
        if (author := _customer(e))
        else None
        if unplaced
        else Scope(people, None)
        for e in thread.events
    ]


def _customer(e: Event) -> str | None:
    """The customer who wrote this message, if one did. Email states no role: the message that starts a
    thread is the customer's; a reply may be anyone's."""
    source, r = _MESSAGES[e.kind], e.record
    if source.role:
        return r[source.author] if r[source.role] == source.customer_role else None
    return r[source.author].casefold() if r["in_reply_to"] is None else None

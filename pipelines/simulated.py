"""Simulated traffic as the pipeline sees it, without Kafka: Events grouped into Threads, plus their truth.

For quality measurements of curation stages against the simulator's ground truth: tests and bench/ both use it.
"""

from __future__ import annotations

import json
from collections import defaultdict

from loopline import catalog
from loopline.simulator.generate import generate
from pipelines.dedup import Scope, message_scopes
from pipelines.model import Event, KafkaRecord, Thread
from pipelines.windowing import session_end, split_sessions

START_MS = 1_793_600_000_000


def simulated_threads(seed: int, count: int, gap_s: float = 2400) -> tuple[list[Thread], dict[str, dict]]:
    """Threads of valid chat/email/ticket events (offset = send sequence) and truth by message id."""
    by_thread, truth = defaultdict(list), {}
    for ev in generate(seed, count, START_MS):
        t = ev.truth
        if t["malformed"] or t["kind"] not in catalog.conversation_kinds():
            continue
        record = json.loads(ev.value)
        source = catalog.by_topic(ev.topic)
        key = f"{source.kind}:{record[source.key]}"
        src = KafkaRecord(ev.topic, 0, t["seq"], t["arrival_time"], ev.key, ev.value)
        by_thread[key].append(Event(source.kind, key, record["event_time"], record, src))
        truth[t["id"]] = t
    threads = []
    for key, events in by_thread.items():
        for session in split_sessions(events, int(gap_s * 1000)):
            end = session_end(session, int(gap_s * 1000))
            threads.append(Thread(key, session[0].event_time_ms, end, tuple(session)))
    return threads, truth


def message_id(event: Event) -> str:
    r = event.record
    return r.get("message_id") or r.get("event_id")


def simulated_messages(seed: int, count: int) -> list[tuple[dict, Scope]]:
    """(truth, scope) of each message in send order; scopes from each thread's full set of events."""
    messages, threads = [], defaultdict(list)
    for ev in generate(seed, count, 1_793_000_000_000):
        t = ev.truth
        if t["kind"] in catalog.conversation_kinds() and not t["malformed"]:
            threads[t["thread_id"]].append(len(messages))
            messages.append((t, Event(t["kind"], t["thread_id"], t["event_time"], json.loads(ev.value), None)))
    scopes = [None] * len(messages)
    for key, at in threads.items():
        for i, scope in zip(at, message_scopes(Thread(key, 0, 0, tuple(messages[i][1] for i in at))), strict=True):
            scopes[i] = scope
    return [(t, scope) for (t, _), scope in zip(messages, scopes, strict=True)]

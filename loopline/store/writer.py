"""One writer per dataset: the process that runs a pipeline into a dataset holds its `writer.lock`.

Two runs into one dataset would both publish every dead letter and race on the dedup index and thread
history, so a second `run`, `replay` or follow service refuses at once, naming the holder. The store's own
`.lock` (dataset.py) only serialises single commits and is a separate file, so a writer's commits and
deletions never wait on the writer lock. Opening also removes what crashed writes left behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from loopline.files import LockHeld, held_lock
from loopline.store.dataset import CuratedStore

log = logging.getLogger("loopline.store")


class DatasetBusy(BlockingIOError):
    """Another process is writing the dataset; the message names it (pid, host, command, since when)."""


@dataclass(frozen=True)
class Leftovers:
    """What `remove_leftovers` removed: counts and bytes, never contents."""

    segments: int
    temp_files: int
    bytes: int

    def __str__(self) -> str:
        return f"{self.segments} orphan segment(s) and {self.temp_files} temp file(s), {self.bytes:,} bytes"


@contextlib.contextmanager
def exclusive_writer(store: CuratedStore) -> Iterator[Leftovers]:
    """Hold the dataset's writer lock for the block (DatasetBusy at once if another process holds it). Taking it
    first removes what crashed writes left: with the lock held, no other writer can have a commit in flight."""
    store.path.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(held_lock(store.path / "writer.lock", json.dumps(_me())))
        except LockHeld as e:
            raise DatasetBusy(
                f"dataset {store.dataset!r} is being written by {_describe(e.holder)}; "
                "wait for it to finish or stop it (one writer per dataset)"
            ) from None
        removed = remove_leftovers(store) if store.exists() else Leftovers(0, 0, 0)
        if removed.segments or removed.temp_files:
            log.debug("dataset %s: removed %s left by interrupted writes", store.dataset, removed)
        yield removed


def remove_leftovers(store: CuratedStore) -> Leftovers:
    """Remove orphan segments and temp files (CuratedStore.leftovers); call it holding the writer lock, so the
    sizes counted are those of the files removed."""
    found = store.leftovers()
    segments = sum(1 for p in found if p.suffix == ".avro")
    size = sum(p.stat().st_size for p in found)
    store.gc()
    return Leftovers(segments, len(found) - segments, size)


def _me() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _describe(holder: str) -> str:
    try:
        h = json.loads(holder)
        return f"pid {h['pid']} on {h['host']} (`{h['command']}`) since {h['since']}"
    except (ValueError, TypeError, KeyError):
        return "another process (it has not recorded itself yet)"

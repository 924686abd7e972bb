"""Reading the store: a snapshot pinned to a manifest seq, read whole or since a cursor.

This is the only way anything outside the pipeline's sink reads records (the trainer, the CLI, exports):
it goes through the manifest, so orphan segments from crashes and segments rewritten by a deletion are
never seen, and records of forgotten subjects are never returned, whatever seq the snapshot is pinned to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from loopline.store import segments
from loopline.store.manifest import View

if TYPE_CHECKING:
    from loopline.store.dataset import CuratedStore


class Snapshot:
    """The dataset as it was after manifest entry `seq`, minus subjects forgotten since."""

    def __init__(self, store: CuratedStore, view: View):
        self._store = store
        self._view = view

    @property
    def seq(self) -> int:
        return self._view.seq

    @property
    def dataset(self) -> str:
        return self._store.dataset

    @property
    def forgotten(self) -> frozenset[str]:
        """Subject hashes forgotten as of the newest entry (not only as of `seq`)."""
        return frozenset(self._store.forgotten())

    def read(self, kind: str, since: int = 0) -> Iterator[dict]:
        """Records of `kind` first committed by entries in (since, seq]: since=0 reads everything, and a
        trainer passes the last seq it consumed (its cursor) to read only what is new. A record rewritten
        by a later deletion keeps the seq it was first committed at."""
        segments.check_kind(kind)
        if since < 0 or since > self.seq:
            raise ValueError(f"cursor {since} is outside this snapshot of {self.dataset!r} (0..{self.seq})")
        pending = deque(
            path for path, seg in self._view.segments.items() if seg["kind"] == kind and self._view.origin[path] > since
        )
        forgotten = self.forgotten
        while pending:
            path = pending.popleft()
            try:
                seg = self._view.segments.get(path) or self._store.segment(path)
                records = list(segments.read(self._store.path / path, f"{self.dataset}/{path}", seg.get("sha256")))
            except FileNotFoundError:  # rewritten (or emptied) by a deletion after this snapshot: read what replaced it
                pending.extendleft(self._store.replacement(path))
                forgotten = self.forgotten
                continue
            for record in records:
                if not forgotten.intersection(record.get("subject_hashes", ())):
                    yield record

    def counts(self) -> dict[str, int]:
        """Live records by kind at `seq` (deletions after it are not subtracted)."""
        return self._view.counts()

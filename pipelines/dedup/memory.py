"""The index's entries in memory: numpy columns grown in place, the exact-hash table and the LSH buckets.

Matching reads only these; the files (logfile.py) are read into them and written from them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from loopline.config import DedupConfig
from pipelines.dedup.logfile import EMBED_DIM, EMBEDDED, SKETCH, SUBJECTS, Entries
from pipelines.dedup.sketch import Bands, Sketcher


class Prepared(NamedTuple):
    """What deciding needs about one text, computed outside the lock."""

    doc_id: str
    text: str
    digest: bytes  # exact hash of the normalised words
    scope: int | None  # hashed near scope; None: exact only
    sketch: np.ndarray | None  # MinHash values (uint32)
    keys: np.ndarray | None  # its LSH band keys
    embedding: np.ndarray | None
    subjects: tuple[str, ...] = ()  # subject hashes of the message's thread


class _Rows:
    """An append-only numpy array grown by doubling: appends amortised O(1), reads are views."""

    def __init__(self, dtype, width: int | None = None):
        self._shape = () if width is None else (width,)
        self._a = np.empty((256, *self._shape), dtype)
        self.n = 0

    def extend(self, rows) -> None:
        rows = np.asarray(rows, self._a.dtype).reshape(-1, *self._shape)
        if self.n + len(rows) > len(self._a):
            grown = np.empty((max(2 * len(self._a), self.n + len(rows)), *self._shape), self._a.dtype)
            grown[: self.n] = self._a[: self.n]
            self._a = grown
        self._a[self.n : self.n + len(rows)] = rows
        self.n += len(rows)

    @property
    def data(self) -> np.ndarray:
        return self._a[: self.n]


class Memory:
    """Every entry of the index, by position. Only kept texts (no duplicates) are sketched and embedded:
    duplicates are never originals of near/semantic matches."""

    def __init__(self, config: DedupConfig, sketcher: Sketcher):
        self.config, self._sketcher = config, sketcher
        self.count = 0  # entries known; the next entry's position
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}
        self.subjects: list[tuple[str, ...]] = []  # per position: subject hashes of the entry's thread
        self._digests = _Rows(np.uint8, 16)
        self._first: dict[bytes, int] = {}  # exact hash -> first position
        self._sk, self._sk_pos, self._sk_scope = _Rows(np.uint32, config.num_perm), _Rows(np.int64), _Rows(np.uint64)
        self._em, self._em_pos, self._em_scope = _Rows(np.float32, EMBED_DIM), _Rows(np.int64), _Rows(np.uint64)
        self._bands = Bands()

    def match(self, p: Prepared, before: int) -> tuple[str | None, str | None]:
        """(id of the first of the entries [0, before) that p duplicates, exact|near|semantic), or (None, None)."""
        first = self._first.get(p.digest)
        if first is not None and first < before:
            return self.ids[first], "exact"
        if p.sketch is None:
            return None, None
        rows = self._bands.query(p.keys[0])
        rows = rows[self._sk_pos.data[rows] < before]
        if rows.size:
            similarity = (self._sk.data[rows] == p.sketch).mean(axis=1)
            best = int(np.argmax(similarity))  # rows ascend, so ties go to the earliest
            if similarity[best] >= self.config.threshold:
                return self.ids[self._sk_pos.data[rows[best]]], "near"
        if p.embedding is not None:
            mask = (self._em_scope.data == p.scope) & (self._em_pos.data < before)
            if mask.any():
                cosine = self._em.data[mask] @ p.embedding
                best = int(np.argmax(cosine))
                if cosine[best] >= self.config.semantic_threshold:
                    return self.ids[self._em_pos.data[mask][best]], "semantic"
        return None, None

    def add(self, p: Prepared, kept: bool) -> int:
        """Append p as the next entry; returns its log flags (what of it the log must carry)."""
        pos = self.count
        self.count += 1
        self.ids.append(p.doc_id)
        self.subjects.append(p.subjects)
        self.pos[p.doc_id] = pos
        self._digests.extend(np.frombuffer(p.digest, np.uint8))
        self._first.setdefault(p.digest, pos)
        flags = SUBJECTS if p.subjects else 0
        if kept and p.sketch is not None:
            flags |= SKETCH
            self._bands.add(p.keys, np.array([self._sk.n]))
            self._sk.extend(p.sketch)
            self._sk_pos.extend(pos)
            self._sk_scope.extend(p.scope)
            if p.embedding is not None:
                flags |= EMBEDDED
                self._em.extend(p.embedding)
                self._em_pos.extend(pos)
                self._em_scope.extend(p.scope)
        return flags

    def load(self, e: Entries) -> None:
        """Bulk-append entries read from a snapshot or the log."""
        base = self.count
        self.ids.extend(e.ids)
        self.subjects.extend(e.subjects)
        self.pos.update(zip(e.ids, range(base, base + len(e.ids))))
        self._digests.extend(e.digests)
        keys = [d.tobytes() for d in e.digests]
        for pos, key in zip(range(base, base + len(e.ids)), keys):
            self._first.setdefault(key, pos)
        self.count += len(e.ids)
        self._bands.add(self._sketcher.band_keys(e.sk, e.sk_scope), np.arange(self._sk.n, self._sk.n + len(e.sk)))
        self._sk.extend(e.sk)
        self._sk_pos.extend(e.sk_pos)
        self._sk_scope.extend(e.sk_scope)
        self._em.extend(e.em)
        self._em_pos.extend(e.em_pos)
        self._em_scope.extend(e.em_scope)

    def entries(self) -> Entries:
        """All entries as columns (views: valid until the next add or load)."""
        return Entries(
            self.ids,
            self._digests.data,
            self._sk.data,
            self._sk_pos.data,
            self._sk_scope.data,
            self._em.data,
            self._em_pos.data,
            self._em_scope.data,
            self.subjects,
        )

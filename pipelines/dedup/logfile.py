"""The dedup index's files: one directory per dataset, surviving restarts, shared by threads and processes.

  log-<start>.bin       append-only entries (id, exact hash, scope hash, MinHash, embedding), each
                        length- and CRC-framed, so a torn tail from a crash is detected and cut off
  snapshot-<n>.npz      entries [0, n) as arrays, written every snapshot_every entries: opening
                        loads it with numpy and reads only the log after it
  index.json            the sketch parameters; opening with different ones is refused
  forgotten.txt         subject hashes forgotten (deletions): their texts are never recorded again
  epoch                 bumped by every forget(): other instances reload from disk when it changes
  .lock                 flock held while catching up with other writers, deciding and appending
A forget() rewrites the index as one new snapshot: a `.pending-snapshot-<n>.npz` written first makes
the rewrite roll forward after a crash, so no file on disk keeps a forgotten entry.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NamedTuple

import numpy as np

from loopline.files import atomic_write, file_lock, fsync_dir

EMBED_DIM = 384  # all-MiniLM-L6-v2
FORMAT = 1
SKETCH, EMBEDDED, SUBJECTS = 1, 2, 4  # entry flags; subjects: u16 count, then 64-char hex hashes
_HEAD = struct.Struct("<II")  # payload length, CRC32 of the payload
_FIXED = struct.Struct("<16sQBH")  # exact hash, scope hash, flags, id length; then id, sketch, embedding


class Entries(NamedTuple):
    """Consecutive entries as columns. Sketches and embeddings exist only for some entries: *_pos says
    whose (index positions), *_scope their hashed near scope."""

    ids: list[str]
    digests: np.ndarray  # (n, 16) uint8 exact hashes
    sk: np.ndarray  # (k, num_perm) uint32 MinHash values
    sk_pos: np.ndarray
    sk_scope: np.ndarray
    em: np.ndarray  # (m, EMBED_DIM) float32 unit embeddings
    em_pos: np.ndarray
    em_scope: np.ndarray
    subjects: list[tuple[str, ...]]  # per entry: subject hashes of its thread


def encode(
    doc_id: str,
    digest: bytes,
    scope: int | None,
    flags: int,
    sketch: np.ndarray | None = None,
    embedding: np.ndarray | None = None,
    subjects: tuple[str, ...] = (),
) -> bytes:
    """One framed log entry; `flags` says which of sketch, embedding and subjects it carries."""
    doc_id_bytes = doc_id.encode()
    parts = [_FIXED.pack(digest, scope or 0, flags, len(doc_id_bytes)), doc_id_bytes]
    if flags & SKETCH:
        parts.append(sketch.astype("<u4").tobytes())
    if flags & EMBEDDED:
        parts.append(embedding.astype("<f4").tobytes())
    if flags & SUBJECTS:
        parts.append(struct.pack("<H", len(subjects)) + "".join(subjects).encode())
    payload = b"".join(parts)
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _decode(payload: bytes, pos: int, num_perm: int, out: dict[str, list]) -> None:
    digest, scope, flags, id_len = _FIXED.unpack_from(payload)
    at = _FIXED.size
    out["ids"].append(payload[at : at + id_len].decode())
    out["digests"].append(np.frombuffer(digest, np.uint8))
    at += id_len
    if flags & SKETCH:
        out["sk"].append(np.frombuffer(payload, "<u4", num_perm, at))
        out["sk_pos"].append(pos)
        out["sk_scope"].append(scope)
        at += 4 * num_perm
    if flags & EMBEDDED:
        out["em"].append(np.frombuffer(payload, "<f4", EMBED_DIM, at))
        out["em_pos"].append(pos)
        out["em_scope"].append(scope)
        at += 4 * EMBED_DIM
    subjects = ()
    if flags & SUBJECTS:
        (n,) = struct.unpack_from("<H", payload, at)
        blob = payload[at + 2 : at + 2 + 64 * n].decode()
        subjects = tuple(sys.intern(blob[i : i + 64]) for i in range(0, 64 * n, 64))
    out["subjects"].append(subjects)


def snapshot_arrays(entries: Entries, keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The entries (all, or those at positions `keep`, renumbered in order) as snapshot arrays."""
    count = len(entries.ids)
    keep = np.arange(count) if keep is None else np.asarray(keep, np.int64)
    new_pos = np.full(count + 1, -1, np.int64)
    new_pos[keep] = np.arange(len(keep))
    ids = [entries.ids[i] for i in keep.tolist()]
    subjects = [",".join(entries.subjects[i]) for i in keep.tolist()]
    sk_keep = new_pos[entries.sk_pos] >= 0
    em_keep = new_pos[entries.em_pos] >= 0
    return {
        "id_blob": np.frombuffer("".join(ids).encode(), np.uint8),
        "id_ends": np.cumsum([len(i.encode()) for i in ids], dtype=np.int64),
        "subj_blob": np.frombuffer("".join(subjects).encode(), np.uint8),
        "subj_ends": np.cumsum([len(s) for s in subjects], dtype=np.int64),
        "digests": entries.digests[keep],
        "sk": entries.sk[sk_keep],
        "sk_pos": new_pos[entries.sk_pos[sk_keep]],
        "sk_scope": entries.sk_scope[sk_keep],
        "em": entries.em[em_keep],
        "em_pos": new_pos[entries.em_pos[em_keep]],
        "em_scope": entries.em_scope[em_keep],
    }


class IndexFiles:
    """The files of one index directory. Callers hold lock() around everything but opening it."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)

    def lock(self) -> AbstractContextManager[None]:
        return file_lock(self.dir / ".lock")

    def check_meta(self, settings: dict) -> None:
        """Write the sketch settings on first use; refuse different ones later."""
        meta = {"format": FORMAT, **settings}
        path = self.dir / "index.json"
        if not path.exists():
            atomic_write(path, lambda f: f.write(json.dumps(meta, sort_keys=True).encode()))
        elif (found := json.loads(path.read_text())) != meta:
            raise ValueError(
                f"dedup index {self.dir} was built with {found}, config asks for {meta}: "
                "use the same dedup settings or start a new index directory"
            )

    def meta(self) -> dict | None:
        path = self.dir / "index.json"
        return json.loads(path.read_text()) if path.exists() else None

    def epoch(self) -> str | None:
        try:
            return (self.dir / "epoch").read_text()
        except FileNotFoundError:
            return None

    def bump_epoch(self) -> None:
        epoch = str(int(self.epoch() or 0) + 1)
        atomic_write(self.dir / "epoch", lambda f: f.write(epoch.encode()))

    def forgotten(self) -> set[str]:
        path = self.dir / "forgotten.txt"
        return set(path.read_text().split()) if path.exists() else set()

    def write_forgotten(self, hashes: Iterable[str]) -> None:
        atomic_write(self.dir / "forgotten.txt", lambda f: f.write("".join(f"{h}\n" for h in sorted(hashes)).encode()))

    def segments(self) -> list[int]:
        """Start positions of the log segments, ascending."""
        return sorted(int(p.stem[4:]) for p in self.dir.glob("log-*.bin"))

    def snapshots(self) -> list[int]:
        """Entry counts of the snapshots, ascending."""
        return sorted(int(p.stem[9:]) for p in self.dir.glob("snapshot-*.npz"))

    def read_snapshot(self, n: int, lo: int) -> Entries:
        """Entries [lo, n) of the snapshot of n entries."""
        with np.load(self.dir / f"snapshot-{n:012d}.npz") as z:
            a = {k: z[k] for k in z.files}
        ends = a["id_ends"]
        blob = a["id_blob"].tobytes()
        ids = [blob[s:e].decode() for s, e in zip(np.concatenate([[0], ends[:-1]])[lo:].tolist(), ends[lo:].tolist())]
        sk_from = int(np.searchsorted(a["sk_pos"], lo))
        em_from = int(np.searchsorted(a["em_pos"], lo))
        if "subj_ends" in a:
            sends, sblob = a["subj_ends"], a["subj_blob"].tobytes().decode()
            starts = np.concatenate([[0], sends[:-1]]).tolist()
            subjects = [
                tuple(sys.intern(x) for x in sblob[s:e].split(",") if x) for s, e in zip(starts[lo:], sends[lo:].tolist())
            ]
        else:  # written before entries carried subjects
            subjects = [()] * len(ids)
        return Entries(
            ids,
            a["digests"][lo:],
            a["sk"][sk_from:],
            a["sk_pos"][sk_from:],
            a["sk_scope"][sk_from:],
            a["em"][em_from:],
            a["em_pos"][em_from:],
            a["em_scope"][em_from:],
            subjects,
        )

    def read_log(self, start: int, offset: int, pos: int, num_perm: int) -> tuple[Entries, int]:
        """The whole entries of segment `start` from byte `offset` on, the first at index position `pos`, and
        the bytes they take. Reading stops at a torn tail: a writer crashed mid-append; the next append cuts it off."""
        with open(self.dir / f"log-{start:012d}.bin", "rb") as f:
            f.seek(offset)
            data = f.read()
        batch: dict[str, list] = {k: [] for k in Entries._fields}
        at = 0
        while at + _HEAD.size <= len(data):
            length, crc = _HEAD.unpack_from(data, at)
            payload = data[at + _HEAD.size : at + _HEAD.size + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            _decode(payload, pos + len(batch["ids"]), num_perm, batch)
            at += _HEAD.size + length
        return Entries(
            batch["ids"],
            np.array(batch["digests"], np.uint8).reshape(-1, 16),
            np.array(batch["sk"], np.uint32).reshape(-1, num_perm),
            np.array(batch["sk_pos"], np.int64),
            np.array(batch["sk_scope"], np.uint64),
            np.array(batch["em"], np.float32).reshape(-1, EMBED_DIM),
            np.array(batch["em_pos"], np.int64),
            np.array(batch["em_scope"], np.uint64),
            batch["subjects"],
        ), at

    def append(self, start: int, offset: int, blob: bytes, created: bool) -> None:
        """Write `blob` at `offset` of segment `start` (cutting off a torn tail left by a crashed writer) in one
        write, and fsync before returning; `created`: this append starts the segment."""
        with open(self.dir / f"log-{start:012d}.bin", "ab") as f:
            f.truncate(offset)
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        if created:
            fsync_dir(self.dir)

    def compact(self, n: int, arrays: dict[str, np.ndarray]) -> None:
        """Snapshot the first n entries. New segment first, then the snapshot, then delete what it covers: a
        crash between any two steps leaves files that still read correctly."""
        (self.dir / f"log-{n:012d}.bin").touch()
        fsync_dir(self.dir)
        atomic_write(self.dir / f"snapshot-{n:012d}.npz", lambda f: np.savez(f, **arrays))
        for p in [*self.dir.glob("log-*.bin"), *self.dir.glob("snapshot-*.npz")]:
            if int(p.stem.split("-")[1]) < n:
                p.unlink()
        for p in self.dir.glob(".*.tmp"):  # left by a crash mid-write; writers hold the lock, so none is live
            p.unlink()
        fsync_dir(self.dir)

    def write_pending(self, arrays: dict[str, np.ndarray]) -> None:
        """The snapshot that is to replace every log and snapshot file (roll_forward finishes it)."""
        n = len(arrays["id_ends"])
        atomic_write(self.dir / f".pending-snapshot-{n:012d}.npz", lambda f: np.savez(f, **arrays))

    def roll_forward(self) -> None:
        """Finish a forget() rewrite: the pending snapshot replaces every log and snapshot file. Idempotent, so
        a crash anywhere in it is finished by the next instance that takes the lock."""
        for pending in sorted(self.dir.glob(".pending-snapshot-*.npz")):
            n = int(pending.name[len(".pending-snapshot-") : -len(".npz")])
            for p in [*self.dir.glob("log-*.bin"), *self.dir.glob("snapshot-*.npz")]:
                p.unlink()
            with open(self.dir / f"log-{n:012d}.bin", "wb") as f:
                os.fsync(f.fileno())
            os.rename(pending, self.dir / f"snapshot-{n:012d}.npz")
            for p in self.dir.glob(".*.tmp"):
                p.unlink()
            fsync_dir(self.dir)

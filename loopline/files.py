"""Durable files: exclusive locks (waiting, or refusing and naming the holder), all-or-nothing writes that
survive a crash, fsynced directories.

Shared by the curated store, the dedup index, the dead-letter index and the adapter registry.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on a fresh descriptor: every open is its own lock, so it excludes other
    instances in this process as well as other processes."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


class LockHeld(BlockingIOError):
    """Another descriptor holds the lock; `holder` is what it wrote into the lock file ("" if not yet)."""

    def __init__(self, path: Path, holder: str):
        super().__init__(f"{path} is locked by {holder or 'a process that has not named itself yet'}")
        self.holder = holder


@contextlib.contextmanager
def held_lock(path: Path, holder: str) -> Iterator[None]:
    """An exclusive flock taken without waiting (LockHeld if it is taken), with `holder` written into the lock
    file while held, so whoever is refused can say who holds it. Cleared on release; a kill leaves the text,
    but then nothing holds the lock and the next holder overwrites it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(path, os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def atomic_write(path: Path, write) -> None:
    """Temp file in the same dir, fsync, rename, fsync the dir: readers see all or nothing, and it survives a crash."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    fsync_dir(path.parent)


def makedirs(path: Path) -> None:
    """mkdir -p that fsyncs each parent gaining an entry, so a new hour dir survives a crash with its segment."""
    if not path.exists():
        makedirs(path.parent)
        path.mkdir(exist_ok=True)
        fsync_dir(path.parent)


def unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Durable files: an exclusive lock, all-or-nothing writes that survive a crash, fsynced directories.

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

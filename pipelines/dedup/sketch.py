"""Near-duplicate candidates: MinHash sketches of word shingles (datasketch), and LSH buckets over them."""

from __future__ import annotations

import re
import threading
import unicodedata

import numpy as np
from datasketch import MinHash

from loopline.config import DedupConfig

_WORD = re.compile(r"\w+")
_LOW, _HIGH = np.uint64(0xFFFFFFFF), np.uint64(0xFFFFFFFF00000000)
_MIX = np.random.RandomState(20261102).randint(1, 2**63, size=(64, 64), dtype=np.uint64) | np.uint64(1)


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


class Sketcher:
    """MinHash of a text's word shingles, and its LSH band keys with the near scope mixed in. Thread-safe."""

    def __init__(self, config: DedupConfig):
        self.config = config
        self._rows_per_band = config.num_perm // config.lsh_bands
        if self._rows_per_band < 1 or config.lsh_bands > len(_MIX):
            raise ValueError(f"lsh_bands must be in 1..{min(config.num_perm, len(_MIX))}")
        self._mix = _MIX[: config.lsh_bands, : self._rows_per_band + 1]
        self._template = MinHash(num_perm=config.num_perm)  # permutations drawn once, reused per text
        self._template_lock = threading.Lock()

    @property
    def seed(self) -> int:
        return self._template.seed

    def sketch(self, tokens: list[str]) -> np.ndarray:
        """MinHash values (uint32) of the text's word shingles."""
        n = self.config.shingle_words
        shingles = {" ".join(tokens[i : i + n]).encode() for i in range(max(len(tokens) - n + 1, 1))}
        with self._template_lock:
            self._template.clear()
            self._template.update_batch(shingles)
            return self._template.hashvalues.astype(np.uint32)  # a copy

    def band_keys(self, sketches: np.ndarray, scopes: np.ndarray) -> np.ndarray:
        """(n, bands) uint64: each band's rows and the scope mixed into one key (wrapping arithmetic)."""
        r = self._rows_per_band
        bands = sketches[:, : self.config.lsh_bands * r].reshape(len(sketches), self.config.lsh_bands, r)
        keys = scopes[:, None] * self._mix[:, r]
        for j in range(r):
            keys += bands[:, :, j] * self._mix[:, j]
        return keys


class Bands:
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

"""Docs/s and accuracy of DedupIndex against plain in-memory datasketch MinHashLSH; index load time.

Simulated traffic, every non-malformed chat/email/ticket message in send order, text = the truth's
expected_clean, scored as in tests/pipelines/test_dedup.py (messages of >= min_words words; true duplicate iff
the truth's duplicate_of is set):
  datasketch baseline   MinHashLSH with the index's (bands, rows) plus a dict of exact hashes, in memory,
                        no scopes, no persistence; any LSH candidate counts as a duplicate (plain use)
  index, one scope      DedupIndex, Scope() for every message (what `loopline dedup` does)
  index, pipeline       DedupIndex with message_scopes (what the pipeline does)
  index + semantic      the pipeline row with embeddings, on the first --semantic-docs messages
Then the time to open an index of --load-docs distinct documents from its log only, from a snapshot,
and to rebuild a datasketch MinHashLSH from the same sketches.
Usage: .venv/bin/python bench/dedup_throughput.py [--events 30000] [--seed 7] [--semantic-docs 400] [--load-docs 100000]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from loopline.config import DedupConfig
from pipelines.dedup import DedupIndex, Scope, words
from pipelines.simulated import simulated_messages


def baseline(texts: list[str], config: DedupConfig) -> list[bool]:
    """Plain datasketch dedup with the same normalisation, shingles and LSH parameters."""
    bands = config.lsh_bands
    lsh = MinHashLSH(num_perm=config.num_perm, params=(bands, config.num_perm // bands))
    seen: set[bytes] = set()
    duplicate = []
    n = config.shingle_words
    for i, text in enumerate(texts):
        w = words(text)
        if len(w) < config.min_words:
            duplicate.append(False)
            continue
        digest = hashlib.blake2b(" ".join(w).encode(), digest_size=16).digest()
        if digest in seen:
            duplicate.append(True)
            continue
        m = MinHash(num_perm=config.num_perm)
        m.update_batch({" ".join(w[j : j + n]).encode() for j in range(max(len(w) - n + 1, 1))})
        seen.add(digest)
        duplicate.append(bool(lsh.query(m)))
        if not duplicate[-1]:
            lsh.insert(i, m)
    return duplicate


def score(messages: list[tuple[dict, Scope]], duplicate: list[bool], min_words: int, role: str | None = None) -> str:
    c = collections.Counter()
    for (t, _), predicted in zip(messages, duplicate):
        if (role is None or t["role"] == role) and len(words(t["expected_clean"])) >= min_words:
            c[(t["duplicate_of"] is not None, predicted)] += 1
    tp, fn, fp = c[(True, True)], c[(True, False)], c[(False, True)]
    return f"recall {tp / max(tp + fn, 1):.3f} precision {tp / max(tp + fp, 1):.3f} (tp {tp} fn {fn} fp {fp})"


def per_variation(messages, duplicate, min_words: int) -> str:
    c = collections.Counter(
        (t["variation"] or "exact", d)
        for (t, _), d in zip(messages, duplicate)
        if t["duplicate_of"] and len(words(t["expected_clean"])) >= min_words
    )
    return ", ".join(f"{v} {c[(v, True)]}/{c[(v, True)] + c[(v, False)]}" for v in sorted({v for v, _ in c}))


def timed_index(messages, config: DedupConfig, scoped: bool) -> tuple[list[bool], float]:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        with DedupIndex(Path(d), config) as index:
            results = []
            for i in range(0, len(messages), 64):  # pipeline-sized batches: one lock + fsync each
                results += index.check_and_add_batch(
                    [(t["id"], t["expected_clean"], s if scoped else Scope()) for t, s in messages[i : i + 64]]
                )
        return [r[0] is not None for r in results], time.perf_counter() - t0


def load_times(n: int, config: DedupConfig) -> None:
    rng = random.Random(1)
    texts = [" ".join(f"w{rng.randrange(20_000)}" for _ in range(40)) for _ in range(n)]
    with tempfile.TemporaryDirectory() as d:
        log_only = config.model_copy(update={"snapshot_every": 10 * n})
        t0 = time.perf_counter()
        with DedupIndex(Path(d), log_only) as index:
            for i in range(0, n, 1000):
                index.check_and_add_batch([(f"d{j}", texts[j]) for j in range(i, min(i + 1000, n))])
        print(f"built an index of {n} distinct docs: {n / (time.perf_counter() - t0):,.0f} docs/s")
        t0 = time.perf_counter()
        with DedupIndex(Path(d), log_only) as index:
            print(f"open from the log only:      {time.perf_counter() - t0:6.2f} s ({len(index)} entries)")
        with DedupIndex(Path(d), config.model_copy(update={"snapshot_every": 1})) as index:
            index.check_and_add("compact", texts[0] + " now")  # a duplicate entry; triggers the snapshot
        t0 = time.perf_counter()
        with DedupIndex(Path(d), config) as index:
            print(f"open from the snapshot:      {time.perf_counter() - t0:6.2f} s ({len(index)} entries)")
        [snapshot] = Path(d).glob("snapshot-*.npz")
        with np.load(snapshot) as z:
            sketches = z["sk"]
    bands = config.lsh_bands
    t0 = time.perf_counter()
    lsh = MinHashLSH(num_perm=config.num_perm, params=(bands, config.num_perm // bands))
    with lsh.insertion_session() as session:
        for i, values in enumerate(sketches):
            session.insert(i, LeanMinHash(seed=1, hashvalues=values, scheme="affine32"))
    print(f"rebuild datasketch MinHashLSH from the same sketches: {time.perf_counter() - t0:6.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--semantic-docs", type=int, default=400)
    ap.add_argument("--load-docs", type=int, default=100_000)
    args = ap.parse_args()
    config = DedupConfig()
    messages = simulated_messages(args.seed, args.events)
    mw = config.min_words
    print(
        f"{len(messages)} messages from {args.events} simulated events (seed {args.seed}); "
        f"{sum(len(words(t['expected_clean'])) >= mw for t, _ in messages)} of >= {mw} words\n"
    )
    t0 = time.perf_counter()
    plain = baseline([t["expected_clean"] for t, _ in messages], config)
    rows = [("datasketch baseline", plain, time.perf_counter() - t0)]
    rows.append(("index, one scope", *timed_index(messages, config, scoped=False)))
    pipeline, took = timed_index(messages, config, scoped=True)
    rows.append(("index, pipeline", pipeline, took))
    for name, duplicate, took in rows:
        print(
            f"{name:20s} {len(messages) / took:8,.0f} msgs/s   all: {score(messages, duplicate, mw)}   "
            f"customer: {score(messages, duplicate, mw, 'customer')}"
        )
    print(f"\nper variation, pipeline (found/all): {per_variation(messages, pipeline, mw)}")
    sample = [(t["id"], t["expected_clean"], s) for t, s in messages if s.near is not None][: args.semantic_docs + 1]
    with tempfile.TemporaryDirectory() as d, DedupIndex(Path(d), config.model_copy(update={"semantic": True})) as index:
        index.check_and_add(*sample[0])  # loads the model
        t0 = time.perf_counter()
        for i in range(1, len(sample), 64):
            index.check_and_add_batch(sample[i : i + 64])
        print(
            f"index + semantic     {(len(sample) - 1) / (time.perf_counter() - t0):8,.1f} msgs/s on "
            f"{len(sample) - 1} customer messages (model loaded)\n"
        )
    load_times(args.load_docs, config)


if __name__ == "__main__":
    main()

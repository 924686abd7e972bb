"""Valid CuratedPair / FeedbackExample records and one-commit helpers, for the trainer's tests on a real store."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable

from loopline.store import CuratedStore, Unit, subject_hash
from tests.samples import SAMPLES
from trainer.data import in_golden

TOPIC = "events.chat"
_offsets = itertools.count()  # every commit consumes a fresh offset, so none is skipped as a re-delivery


def pair(pair_id: str, quality: float = 0.9, task: str = "account", subject: str = "alice", content: str = "") -> dict:
    """`content` stands for the text: another content, another content_hash."""
    return {
        **SAMPLES["CuratedPair"],
        "pair_id": pair_id,
        "quality_score": quality,
        "task": task,
        "instruction": f"question {pair_id}",
        "subject_hashes": [subject_hash(subject)],
        "content_hash": hashlib.sha256(f"{pair_id}/{content}".encode()).hexdigest(),
    }


def feedback(example_id: str, event_time: int, desirable: bool = True) -> dict:
    return {**SAMPLES["FeedbackExample"], "example_id": example_id, "event_time": event_time, "desirable": desirable}


def commit(store: CuratedStore, pairs: Iterable[dict] = (), feedbacks: Iterable[dict] = ()) -> int:
    """One manifest entry holding these records; returns its seq."""
    records = {"CuratedPair": list(pairs), "FeedbackExample": list(feedbacks)}
    return store.commit([Unit(records={k: v for k, v in records.items() if v}, offsets=((TOPIC, 0, next(_offsets)),))]).seq


def ids(prefix: str, n: int, golden_percent: float, golden: bool = False) -> list[str]:
    """The first n ids `prefix-k` that are (golden=True) or are not in the golden split."""
    candidates = (f"{prefix}-{k}" for k in itertools.count())
    return list(itertools.islice((i for i in candidates if in_golden(i, golden_percent) == golden), n))


def new_store(tmp_path, dataset: str = "live") -> CuratedStore:
    store = CuratedStore(tmp_path / "store", dataset)
    store.create(meta={})
    return store

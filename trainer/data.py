"""What one training cycle reads from a store snapshot: the new pairs, a replay sample, the golden split, feedback.

Everything here is a pure function of (snapshot, cursor, config), so a resumed or repeated cycle trains on
exactly the same pairs. With `features` (features.store.TrainingFeatures) the caps and the replay draw are
steered by Feast features joined point-in-time at the snapshot's commit time, themselves exported from that
same pinned snapshot: still a pure function of it.

The golden split is chosen by a hash of the pair id, never by position, so a pair stays golden (never trained
on) whichever cycle first sees it and however the store is rebuilt.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from loopline.config import TrainerDataConfig
from trainer.selection import feedback_caps, select_pairs, weighted_sample

PAIRS = "CuratedPair"
FEEDBACK = "FeedbackExample"


def in_golden(pair_id: str, percent: float) -> bool:
    """Stable across runs and machines: the first 8 bytes of sha256(pair_id) as a fraction of 2**64."""
    return _id_hash(pair_id) / 2**64 < percent / 100


@dataclass
class CycleData:
    """The pairs of one cycle, with what was read to get them (the card's lineage)."""

    new: list[dict]
    replay: list[dict]
    golden: list[dict]
    reads: list[dict]
    left_out: dict[str, int] = field(default_factory=dict)  # new pairs not trained on, by rule
    steering: dict = field(default_factory=dict)  # with features: cut-off, caps, weights and verdicts by task

    @property
    def trained(self) -> list[dict]:
        return self.new + self.replay

    @property
    def data_hash(self) -> str:
        """Names the training set: equal hashes mean the same pairs with the same content."""
        h = hashlib.sha256()
        for pair_id, content_hash in sorted((p["pair_id"], p["content_hash"]) for p in self.trained):
            h.update(f"{pair_id}\t{content_hash}\n".encode())
        return h.hexdigest()

    @property
    def subject_hashes(self) -> list[str]:
        """The subjects the adapter learns from: what a later deletion is checked against."""
        return sorted({s for p in self.trained for s in p.get("subject_hashes") or ()})


def select_cycle(snap, cursor: int, cfg: TrainerDataConfig, full_rebuild: bool = False, features=None) -> CycleData:
    """The pairs of one cycle over `snap` (a loopline.store.Snapshot) for a trainer whose cursor is `cursor`.

    new: pairs first committed after the cursor, not golden, above the quality floor and within the task caps.
    At most `max_new_pairs` of them are trained, a subset chosen by pair-id hash (stable if the cycle reruns);
    the cursor still advances to snap.seq, so the rest are counted in `left_out["over_max_new_pairs"]` and can
    only come back as replay in a later cycle. replay: a sample of replay_ratio x len(new) earlier pairs (at least
    enough to make `min_pairs` in all), seeded by (seed, dataset, seq). golden: every golden pair above the
    quality floor, by pair id: the gate's test set.
    full_rebuild: train from scratch after a deletion: every eligible pair is new (no max, no replay).
    Forgotten subjects need no filter here: a snapshot never returns their records, whatever its seq.
    Reads the snapshot's pairs whole (and, unless rebuilding, those since the cursor once more).

    features (features.store.TrainingFeatures or alike: `.config` a FeaturesConfig, `.lookup(snap, pairs)`): the
    candidate pairs' features at the cut-off, through Feast historical retrieval. Tasks users dislike (many recent
    thumbs-down) get a higher cap and a larger share of the replay draw; tasks they like get capped
    (trainer/selection.py feedback_caps). Replay is then drawn by weight (task weight / duplicate count).
    """
    everything = list(snap.read(PAIRS))
    golden = sorted(
        (p for p in everything if in_golden(p["pair_id"], cfg.golden_percent) and p["quality_score"] >= cfg.min_quality),
        key=lambda p: p["pair_id"],
    )
    since = 0 if full_rebuild else cursor
    fresh = everything if full_rebuild else list(snap.read(PAIRS, since=cursor))
    fresh = [p for p in fresh if not in_golden(p["pair_id"], cfg.golden_percent)]
    good = [p for p in fresh if p["quality_score"] >= cfg.min_quality]
    left_out = {"below_quality": len(fresh) - len(good)}
    if not full_rebuild and cfg.max_new_pairs is not None and len(good) > cfg.max_new_pairs:
        left_out["over_max_new_pairs"] = len(good) - cfg.max_new_pairs
        good = sorted(good, key=lambda p: _id_hash(p["pair_id"]))[: cfg.max_new_pairs]
    fresh_ids = {p["pair_id"] for p in fresh}
    wants_replay = not full_rebuild and (cfg.replay_ratio > 0 or cfg.min_pairs > 0)
    earlier_pool = [
        p
        for p in everything
        if wants_replay
        and p["pair_id"] not in fresh_ids
        and not in_golden(p["pair_id"], cfg.golden_percent)
        and p["quality_score"] >= cfg.min_quality
    ]

    caps, weight, steering = cfg.task_caps, None, {}
    if features is not None:
        looked_up = features.lookup(snap, sorted(good + earlier_pool, key=lambda p: p["pair_id"]))
        present = {p["task"] for p in good} | {p["task"] for p in earlier_pool}
        caps, task_weights, verdicts = feedback_caps(cfg.task_caps, looked_up.tasks(), present, features.config)

        def weight(p: dict) -> float:
            dup = looked_up.pairs.get(p["pair_id"], {}).get("duplicate_count") or 1
            return task_weights.get(p["task"], 1.0) / dup

        steering = {
            "cutoff_ms": looked_up.cutoff_ms,
            "caps": caps,
            "weights": task_weights,
            "verdicts": verdicts,
            "tasks": looked_up.tasks(),
            "seconds": looked_up.seconds,
        }

    new = select_pairs(good, caps, cfg.min_quality)
    left_out["task_capped"] = len(good) - len(new)

    replay: list[dict] = []
    if wants_replay:
        earlier = select_pairs(earlier_pool, caps, cfg.min_quality)
        size = min(len(earlier), max(round(cfg.replay_ratio * len(new)), cfg.min_pairs - len(new)))
        seed = f"{cfg.seed}/{snap.dataset}/{snap.seq}"
        if weight is None:
            replay = sorted(random.Random(seed).sample(earlier, size), key=lambda p: p["pair_id"])
        else:
            replay = weighted_sample(earlier, size, weight, seed)
    reads = [{"kind": PAIRS, "dataset": snap.dataset, "since": since, "seq": snap.seq}]
    return CycleData(new=new, replay=replay, golden=golden, reads=reads, left_out=left_out, steering=steering)


def feedback_since(snap, cursor: int) -> list[dict]:
    """FeedbackExamples first committed after the cursor, oldest event first."""
    return _by_event_time(snap.read(FEEDBACK, since=cursor))


def recent_feedback(snap, n: int) -> list[dict]:
    """The n FeedbackExamples with the latest event times, oldest first (reads all feedback)."""
    return _by_event_time(snap.read(FEEDBACK))[-n:] if n > 0 else []


def _by_event_time(records: Iterable[dict]) -> list[dict]:
    return sorted(records, key=lambda r: (r["event_time"], r["example_id"]))


def _id_hash(pair_id: str) -> int:
    return int.from_bytes(hashlib.sha256(pair_id.encode()).digest()[:8], "big")

"""When `loopline train --follow` starts a cycle: enough new pairs, a run of thumbs-down, or a schedule.

Each check reads the pinned snapshot only: new pairs since the cursor (records of the manifest entries after
it, not the whole store) and the feedback examples (all of them, to find the most recent by event time;
feedback is small next to the pairs). Cost per poll: one manifest listing plus those reads.
"""

from __future__ import annotations

from loopline.config import TrainerTriggerConfig
from trainer.data import FEEDBACK, PAIRS, recent_feedback


class TriggerPolicy:
    def __init__(self, cfg: TrainerTriggerConfig):
        self.cfg = cfg

    def check(self, snap, cursor: int, last_cycle_ms: int | None, now_ms: int) -> str | None:
        """The reason a cycle should start now, or None."""
        if snap.seq <= cursor:
            return None
        cfg = self.cfg
        new_pairs = sum(1 for _ in snap.read(PAIRS, since=cursor))
        if cfg.new_pairs is not None and new_pairs >= cfg.new_pairs:
            return f"{new_pairs} new pairs >= {cfg.new_pairs}"
        if cfg.thumbs_down_rate is not None:
            reason = self._thumbs_down(snap, cursor)
            if reason:
                return reason
        if cfg.every_s is not None and new_pairs and (last_cycle_ms is None or now_ms - last_cycle_ms >= cfg.every_s * 1000):
            return f"schedule: {new_pairs} new pairs and {cfg.every_s:g} s since the last cycle"
        return None

    def _thumbs_down(self, snap, cursor: int) -> str | None:
        """Fires on the most recent `feedback_window` examples, only if at least `min_feedback` of them are new
        since the cursor: one bad window cannot retrigger cycle after cycle."""
        new_ids = {r["example_id"] for r in snap.read(FEEDBACK, since=cursor)}
        if len(new_ids) < self.cfg.min_feedback:
            return None
        window = recent_feedback(snap, self.cfg.feedback_window)
        if sum(r["example_id"] in new_ids for r in window) < self.cfg.min_feedback:
            return None
        rate = sum(not r["desirable"] for r in window) / len(window)
        if rate > self.cfg.thumbs_down_rate:
            return f"thumbs-down rate {rate:.2f} over the last {len(window)} feedback examples > {self.cfg.thumbs_down_rate:.2f}"
        return None

from collections import Counter

import pytest

from trainer.selection import select_pairs


def _pairs(task: str, n: int, quality: float = 0.8) -> list[dict]:
    return [{"pair_id": f"{task}-{i:03d}", "task": task, "quality_score": quality - i / 1000} for i in range(n)]


def test_capped_task_holds_at_most_its_share_and_keeps_its_best():
    pairs = _pairs("billing", 40) + _pairs("shipping", 40) + _pairs("other", 120)
    chosen = select_pairs(pairs, {"other": 0.2})
    counts = Counter(p["task"] for p in chosen)
    assert counts["billing"] == 40 and counts["shipping"] == 40
    assert counts["other"] <= 0.2 * len(chosen) and counts["other"] >= 0.2 * len(chosen) - 1
    kept_other = sorted(p["pair_id"] for p in chosen if p["task"] == "other")
    assert kept_other == [f"other-{i:03d}" for i in range(counts["other"])]  # highest quality first


def test_quality_floor_and_determinism():
    pairs = _pairs("billing", 10, 0.9) + _pairs("billing", 10, 0.3)
    assert len(select_pairs(pairs, {}, min_quality=0.5)) == 10
    assert select_pairs(list(reversed(pairs)), {}) == select_pairs(pairs, {})


def test_caps_that_leave_no_room_are_refused():
    with pytest.raises(ValueError):
        select_pairs(_pairs("a", 3) + _pairs("b", 3), {"a": 0.6, "b": 0.5})

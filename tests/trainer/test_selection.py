from collections import Counter

import pytest

from loopline.config import FeaturesConfig
from trainer.selection import feedback_caps, select_pairs, weighted_sample


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


def test_feedback_caps_cap_liked_tasks_and_boost_struggling_ones_with_enough_feedback():
    fcfg = FeaturesConfig(min_feedback=5, liked_below=0.2, liked_cap=0.1, struggling_from=0.5, boost=2.0)
    tasks = {
        "billing": {"feedback_count": 10, "thumbs_down_rate": 0.05},  # liked
        "shipping": {"feedback_count": 8, "thumbs_down_rate": 0.75},  # struggling
        "account": {"feedback_count": 4, "thumbs_down_rate": 1.0},  # too little feedback to judge
    }
    present = ["billing", "shipping", "account", "other"]
    caps, weights, verdicts = feedback_caps({"other": 0.2, "shipping": 0.2}, tasks, present, fcfg)
    assert verdicts == {"billing": "liked", "shipping": "struggling"}
    assert caps == {"other": 0.2, "shipping": 0.2 * 2.5, "billing": 0.1}
    assert weights == {"shipping": 2.5}
    chosen = Counter(p["task"] for p in select_pairs(_pairs("billing", 50) + _pairs("account", 50), caps))
    assert chosen["account"] == 50 and 0 < chosen["billing"] <= 0.1 * sum(chosen.values())


def test_feedback_caps_never_cap_every_task_and_keep_room_for_the_rest():
    fcfg = FeaturesConfig(min_feedback=1)
    liked = {"feedback_count": 9, "thumbs_down_rate": 0.0}
    caps, _, verdicts = feedback_caps({}, {"billing": liked, "account": liked}, ["billing", "account"], fcfg)
    assert caps == {} and verdicts == {}  # all liked: nothing to shift towards, a cap would only shrink training
    caps, _, _ = feedback_caps({}, {"billing": liked}, ["billing", "account"], fcfg)
    assert caps == {"billing": fcfg.liked_cap}
    bad = {"feedback_count": 9, "thumbs_down_rate": 1.0}
    caps, weights, _ = feedback_caps({"a": 0.45, "b": 0.45}, {"a": bad}, ["a", "b"], fcfg)
    assert caps == {"a": 0.45, "b": 0.45} and weights == {"a": 3.0}  # a raised cap must not crowd out b


def test_weighted_sample_favours_heavy_pairs_deterministically_whatever_the_order():
    pairs = _pairs("heavy", 100) + _pairs("light", 100)
    weight = lambda p: 4.0 if p["task"] == "heavy" else 1.0  # noqa: E731
    drawn = weighted_sample(pairs, 50, weight, "7/live/3")
    assert drawn == weighted_sample(list(reversed(pairs)), 50, weight, "7/live/3")
    assert [p["pair_id"] for p in drawn] == sorted(p["pair_id"] for p in drawn)
    counts = Counter(p["task"] for p in drawn)
    assert len(drawn) == 50 and counts["heavy"] > 2 * counts["light"]
    assert weighted_sample(pairs, 50, weight, "8/live/3") != drawn
    assert len(weighted_sample(pairs, 500, weight, "s")) == 200

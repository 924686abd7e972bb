"""What one training cycle reads from a real store snapshot: golden split, new since the cursor, caps, replay,
full rebuild, forgotten subjects, the data hash and the feedback since the cursor."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopline.config import TrainerDataConfig
from loopline.store import subject_hash
from tests.trainer.records import commit, feedback, ids, new_store, pair
from trainer.data import feedback_since, in_golden, recent_feedback, select_cycle

GOLDEN = 10.0
REPO = Path(__file__).resolve().parents[2]


def config(**overrides) -> TrainerDataConfig:
    settings = {
        "min_quality": 0.5,
        "task_caps": {},
        "max_new_pairs": None,
        "replay_ratio": 0.0,
        "min_pairs": 0,
        "golden_percent": GOLDEN,
        "seed": 7,
    }
    return TrainerDataConfig(**{**settings, **overrides})


def pair_ids(pairs: list[dict]) -> set[str]:
    return {p["pair_id"] for p in pairs}


@pytest.fixture
def store(tmp_path):
    return new_store(tmp_path)


def test_golden_split_is_about_golden_percent_nested_and_the_same_in_another_process():
    many = [f"pair-{k}" for k in range(20_000)]
    five = {i for i in many if in_golden(i, 5.0)}
    assert abs(len(five) / len(many) - 0.05) < 0.006
    assert {i for i in many if in_golden(i, 3.0)} < five  # a smaller percent keeps a subset: raising it adds pairs only
    script = "import sys; from trainer.data import in_golden; print(sum(in_golden(f'pair-{k}', 5.0) << k for k in range(300)))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {f"{sum(in_golden(f'pair-{k}', 5.0) << k for k in range(300))}\n"}


def test_golden_pairs_are_the_test_set_and_never_new_or_replay(store):
    commit(store, [pair(f"a-{k}") for k in range(150)])
    commit(store, [pair(f"b-{k}") for k in range(150)])
    data = select_cycle(store.snapshot(), 1, config(replay_ratio=1.0))
    every_golden = {i for i in (f"{p}-{k}" for p in "ab" for k in range(150)) if in_golden(i, GOLDEN)}
    assert every_golden and pair_ids(data.golden) == every_golden
    assert [p["pair_id"] for p in data.golden] == sorted(every_golden)
    assert not every_golden & (pair_ids(data.new) | pair_ids(data.replay))
    assert data.replay  # replay was drawn, just never from the golden split


def test_new_pairs_are_those_committed_after_the_cursor_and_reads_say_so(store):
    batches = [ids(name, 5, GOLDEN) for name in "abc"]
    for batch in batches:
        commit(store, [pair(i) for i in batch])  # seq 1, 2, 3
    snap = store.snapshot()
    assert pair_ids(select_cycle(snap, 0, config()).new) == set(sum(batches, []))
    assert pair_ids(select_cycle(snap, 1, config()).new) == set(batches[1] + batches[2])
    latest = select_cycle(snap, 2, config())
    assert pair_ids(latest.new) == set(batches[2])
    assert latest.reads == [{"kind": "CuratedPair", "dataset": "live", "since": 2, "seq": 3}]
    pinned = select_cycle(store.snapshot(2), 1, config())
    assert pair_ids(pinned.new) == set(batches[1]) and pinned.reads[0]["seq"] == 2
    assert select_cycle(snap, 3, config()).new == []


def test_max_new_pairs_keeps_a_subset_by_id_hash_whatever_the_commit_order(tmp_path):
    chosen = ids("n", 50, GOLDEN)
    first, second = new_store(tmp_path, "first"), new_store(tmp_path, "second")
    commit(first, [pair(i) for i in chosen])
    commit(second, [pair(i) for i in reversed(chosen[25:])])
    commit(second, [pair(i) for i in reversed(chosen[:25])])
    cfg = config(max_new_pairs=20)
    data = select_cycle(first.snapshot(), 0, cfg)
    assert len(data.new) == 20 and data.left_out["over_max_new_pairs"] == 30
    assert pair_ids(data.new) <= set(chosen)
    assert pair_ids(select_cycle(first.snapshot(), 0, cfg).new) == pair_ids(data.new)
    assert pair_ids(select_cycle(second.snapshot(), 0, cfg).new) == pair_ids(data.new)
    assert "over_max_new_pairs" not in select_cycle(first.snapshot(), 0, config(max_new_pairs=50)).left_out


def test_pairs_below_the_quality_floor_are_never_trained_or_golden(store):
    good, poor, late_poor = ids("good", 10, GOLDEN), ids("poor", 6, GOLDEN), ids("late", 6, GOLDEN)
    poor_golden = ids("poor", 2, GOLDEN, golden=True)
    commit(store, [pair(i, quality=0.3) for i in poor + poor_golden])
    commit(store, [pair(i) for i in good] + [pair(i, quality=0.49) for i in late_poor])
    data = select_cycle(store.snapshot(), 0, config(min_quality=0.5, replay_ratio=1.0))
    assert pair_ids(data.new) == set(good)
    assert data.left_out["below_quality"] == 12
    assert not pair_ids(data.golden) & set(poor_golden)
    later = select_cycle(store.snapshot(), 1, config(min_quality=0.5, replay_ratio=1.0))
    assert later.replay == []  # the only earlier pairs are below the floor


def test_task_caps_bound_a_task_share_of_the_new_pairs(store):
    account, other = ids("acc", 40, GOLDEN), ids("oth", 40, GOLDEN)
    commit(store, [pair(i, task="account") for i in account] + [pair(i, task="other") for i in other])
    data = select_cycle(store.snapshot(), 0, config(task_caps={"other": 0.2}))
    kept_other = [p for p in data.new if p["task"] == "other"]
    assert pair_ids(data.new) >= set(account) and 0 < len(kept_other) <= 0.2 * len(data.new)
    assert data.left_out["task_capped"] == 80 - len(data.new)


def test_replay_is_ratio_times_new_drawn_from_earlier_pairs_and_deterministic(store):
    earlier, golden_earlier, fresh = ids("old", 100, GOLDEN), ids("old", 5, GOLDEN, golden=True), ids("new", 20, GOLDEN)
    commit(store, [pair(i) for i in earlier + golden_earlier])
    commit(store, [pair(i) for i in fresh])
    snap = store.snapshot()
    data = select_cycle(snap, 1, config(replay_ratio=0.5))
    assert len(data.new) == 20 and len(data.replay) == 10
    assert pair_ids(data.replay) <= set(earlier)
    assert [p["pair_id"] for p in data.replay] == sorted(pair_ids(data.replay))
    assert select_cycle(store.snapshot(2), 1, config(replay_ratio=0.5)).replay == data.replay
    assert pair_ids(select_cycle(snap, 1, config(replay_ratio=0.5, seed=8)).replay) != pair_ids(data.replay)
    assert pair_ids(select_cycle(snap, 1, config(replay_ratio=10.0)).replay) == set(earlier)  # no more than there are
    assert data.trained == data.new + data.replay


def test_a_cycle_with_few_new_pairs_is_filled_to_min_pairs_with_replay(store):
    earlier, fresh = ids("old", 100, GOLDEN), ids("new", 5, GOLDEN)
    commit(store, [pair(i) for i in earlier])
    commit(store, [pair(i) for i in fresh])
    snap = store.snapshot()
    data = select_cycle(snap, 1, config(replay_ratio=0.5, min_pairs=40))
    assert len(data.new) == 5 and len(data.replay) == 35 and pair_ids(data.replay) <= set(earlier)
    assert len(select_cycle(snap, 1, config(replay_ratio=0.5, min_pairs=0)).replay) == 2  # the ratio alone: round(2.5)
    # no new pairs at all (a thumbs-down trigger between batches): the replay alone makes up the set
    assert len(select_cycle(snap, 2, config(min_pairs=40)).replay) == 40
    assert len(select_cycle(snap, 1, config(min_pairs=500)).replay) == 100  # no more than there are


def test_full_rebuild_trains_every_eligible_pair_with_no_max_and_no_replay(store):
    first, second = ids("a", 30, GOLDEN), ids("b", 30, GOLDEN)
    commit(store, [pair(i) for i in first])
    commit(store, [pair(i) for i in second])
    data = select_cycle(store.snapshot(), 2, config(max_new_pairs=10, replay_ratio=1.0), full_rebuild=True)
    assert pair_ids(data.new) == set(first + second) and data.replay == []
    assert data.reads == [{"kind": "CuratedPair", "dataset": "live", "since": 0, "seq": 2}]


def test_a_forgotten_subject_is_never_selected_even_by_a_snapshot_pinned_before(store):
    alice, bob = ids("alice", 20, GOLDEN), ids("bob", 20, GOLDEN)
    alice_golden = ids("alice", 3, GOLDEN, golden=True)
    commit(store, [pair(i, subject="alice") for i in alice + alice_golden] + [pair(i, subject="bob") for i in bob[:10]])
    commit(store, [pair(i, subject="bob") for i in bob[10:]])
    pinned = store.snapshot()
    assert subject_hash("alice") in select_cycle(pinned, 1, config(replay_ratio=2.0)).subject_hashes
    store.forget(subject_hash("alice"))
    for snap in (store.snapshot(), pinned):
        data = select_cycle(snap, 1, config(replay_ratio=2.0))
        assert pair_ids(data.new) == set(bob[10:]) and pair_ids(data.replay) == set(bob[:10])
        assert not pair_ids(data.golden) & set(alice_golden)
        assert data.subject_hashes == [subject_hash("bob")]
    rebuilt = select_cycle(store.snapshot(), 0, config(), full_rebuild=True)
    assert pair_ids(rebuilt.new) == set(bob)


def test_data_hash_names_the_pairs_and_their_content(tmp_path):
    chosen = ids("h", 8, GOLDEN)
    stores = {name: new_store(tmp_path, name) for name in ("one", "same", "edited")}
    commit(stores["one"], [pair(i) for i in chosen])
    commit(stores["same"], [pair(i) for i in reversed(chosen)])
    commit(stores["edited"], [pair(i, content="edited" if i == chosen[3] else "") for i in chosen])
    hashes = {name: select_cycle(s.snapshot(), 0, config()).data_hash for name, s in stores.items()}
    assert hashes["one"] == hashes["same"]
    assert hashes["edited"] != hashes["one"]
    fewer = select_cycle(stores["one"].snapshot(), 0, config(max_new_pairs=7)).data_hash
    assert fewer != hashes["one"]


def test_feedback_since_the_cursor_oldest_event_first(store):
    t = 1_793_000_000_000
    commit(store, feedbacks=[feedback("f-0", t + 5), feedback("f-1", t + 1)])
    commit(store, [pair("p-0")])
    commit(store, feedbacks=[feedback("f-2", t + 9), feedback("f-3", t), feedback("f-4", t + 3)])
    snap = store.snapshot()
    assert [f["example_id"] for f in feedback_since(snap, 0)] == ["f-3", "f-1", "f-4", "f-0", "f-2"]
    assert [f["example_id"] for f in feedback_since(snap, 2)] == ["f-3", "f-4", "f-2"]
    assert feedback_since(snap, 3) == []
    assert [f["example_id"] for f in recent_feedback(snap, 2)] == ["f-0", "f-2"]
    assert recent_feedback(snap, 0) == []


def test_features_steer_the_selection_and_a_rerun_on_the_pinned_snapshot_selects_the_same(store, tmp_path):
    from features.store import TrainingFeatures
    from loopline.config import LooplineConfig

    billing, account = ids("bil", 40, GOLDEN), ids("acc", 40, GOLDEN)
    commit(store, [pair(i, task="billing") for i in billing[:30]] + [pair(i, task="account") for i in account[:30]])
    recent = time.time_ns() // 1_000_000 - 3_600_000  # inside the feedback window at the commit (the cut-off)
    downs = [{**feedback(f"f-{k}", recent + k, desirable=False), "task": "billing"} for k in range(6)]
    commit(store, [pair(i, task="billing") for i in billing[30:]] + [pair(i, task="account") for i in account[30:]], downs)
    snap, cfg = store.snapshot(), config(replay_ratio=0.5)
    looped = LooplineConfig(home=tmp_path / "home")
    plain = select_cycle(snap, 1, cfg)
    steered = select_cycle(snap, 1, cfg, features=TrainingFeatures(looped))
    assert steered.steering["verdicts"] == {"billing": "struggling"} and steered.steering["weights"] == {"billing": 3.0}
    assert steered.new == plain.new  # no caps to raise: the new pairs stay; the replay leans to billing
    share = lambda data: sum(p["task"] == "billing" for p in data.replay)  # noqa: E731
    assert len(steered.replay) == len(plain.replay) == 10 and share(steered) > share(plain) and share(steered) >= 7

    # a later commit (and its export) does not change what a resumed cycle on the pinned snapshot selects
    commit(store, feedbacks=[{**feedback(f"g-{k}", recent + 100 + k), "task": "billing"} for k in range(30)])
    select_cycle(store.snapshot(), 1, cfg, features=TrainingFeatures(looped))
    again = select_cycle(store.snapshot(2), 1, cfg, features=TrainingFeatures(looped))
    assert (again.new, again.replay, again.steering) == (
        steered.new,
        steered.replay,
        {**steered.steering, "seconds": again.steering["seconds"]},
    )

"""Feast features over a real curated store: export rows, forgetting, the Feast CLI, point-in-time joins.

Stores are built with CuratedStore directly (no Kafka); Feast runs for real (dask offline store on the exported
parquet, SQLite online store) under a temporary LOOPLINE_HOME.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from features import store as fs
from features.export import ADAPTERS_TABLE, PAIRS_TABLE, TASKS_TABLE, read_table
from loopline.config import LooplineConfig, TrainerDataConfig
from loopline.store import subject_hash
from tests.trainer.records import commit, feedback, new_store, pair
from trainer.data import select_cycle

REPO = Path(__file__).resolve().parents[2]
HOUR = 3_600_000
T0 = 1_793_100_000_000  # the point-in-time tests' cut-off: after every pair (created 1_793_000_700_000)
PAIR_TIME = 1_793_000_700_000


def at(ms: int, **fields) -> dict:
    return {**fields, "created_at": ms}


def task_feedback(example_id: str, when: int, task: str, down: bool, adapter: str = "adapter-0001") -> dict:
    return {**feedback(example_id, when, desirable=not down), "task": task, "adapter_version": adapter}


@pytest.fixture
def config(tmp_path) -> LooplineConfig:
    return LooplineConfig(home=tmp_path / "home")


@pytest.fixture
def store(tmp_path):
    return new_store(tmp_path)


def test_export_rows_carry_pair_task_and_adapter_features_with_their_timestamps(store, config):
    commit(
        store,
        [
            {**pair("p-1", quality=0.8, task="billing", content="same"), "content_hash": "aa" * 32},
            {**pair("p-2", quality=0.6, task="billing"), "content_hash": "aa" * 32, "created_at": PAIR_TIME + HOUR},
            pair("p-3", quality=0.9, task="account"),
        ],
        [
            task_feedback("f-1", PAIR_TIME + 2 * HOUR, "billing", down=True),
            task_feedback("f-2", PAIR_TIME + 3 * HOUR, "billing", down=False, adapter="adapter-0002"),
        ],
    )
    cfg = config.model_copy(update={"features": config.features.model_copy(update={"feedback_window_hours": 1.5})})
    result = fs.export(cfg, store.snapshot())
    out = fs.offline_dir(cfg)
    assert result.pair_ids == {"p-1", "p-2", "p-3"}

    pairs = read_table(out, PAIRS_TABLE)
    rows = {(r.pair_id, r.duplicate_count, r.event_timestamp.value // 10**6) for r in pairs.itertuples()}
    # p-1 and p-2 share a content_hash: p-1 counts 1 at creation, 2 once p-2 arrives
    assert rows == {("p-1", 1, PAIR_TIME), ("p-1", 2, PAIR_TIME + HOUR), ("p-2", 2, PAIR_TIME + HOUR), ("p-3", 1, PAIR_TIME)}
    p3 = pairs[pairs.pair_id == "p-3"].iloc[0]
    assert (p3.quality_score, p3.pair_task, p3.source_kind, p3.created_at_ms) == (0.9, "account", "ticket", PAIR_TIME)

    tasks = read_table(out, TASKS_TABLE)
    billing = {
        r.event_timestamp.value // 10**6 - PAIR_TIME: (r.pairs, r.feedback_count, r.thumbs_down_rate)
        for r in tasks[tasks.task == "billing"].itertuples()
    }
    # volume grows with pairs; the 1.5 h window holds f-1 alone, then both, then f-2 alone once f-1 leaves it
    assert billing == {
        0: (1, 0, 0.0),
        HOUR: (2, 0, 0.0),
        2 * HOUR: (2, 1, 1.0),
        3 * HOUR: (2, 2, 0.5),
        round(3.5 * HOUR): (2, 1, 0.0),
        round(4.5 * HOUR): (2, 0, 0.0),
    }
    assert set(tasks[tasks.task == "account"].pairs) == {1}

    adapters = read_table(out, ADAPTERS_TABLE)
    assert {(r.adapter_version, r.feedback_count, r.thumbs_up_rate) for r in adapters.itertuples()} == {
        ("adapter-0001", 1, 0.0),
        ("adapter-0002", 1, 1.0),
    }


def _online(store, pair_ids: list[str]) -> list:
    return store.get_online_features(
        features=["pair_stats:quality_score"], entity_rows=[{"pair_id": i} for i in pair_ids]
    ).to_dict()["quality_score"]


def test_a_forgotten_subjects_pairs_leave_the_offline_tables_and_the_online_store(store, config):
    commit(store, [pair(f"a-{k}", subject="alice") for k in range(3)] + [pair(f"b-{k}", subject="bob") for k in range(3)])
    first = fs.refresh(config, store.snapshot())
    assert first["rows"][PAIRS_TABLE] == 6
    feast = fs.feature_store(config)
    assert None not in _online(feast, ["a-0", "b-0", "b-2"])

    assert store.forget(subject_hash("bob")) == 3
    second = fs.refresh(config, store.snapshot(), feast)
    assert set(read_table(fs.offline_dir(config), PAIRS_TABLE).pair_id) == {"a-0", "a-1", "a-2"}
    assert second["pruned"]["pair_stats"] == 3
    assert _online(feast, ["a-0", "b-0", "b-1", "b-2"]) == [0.9, None, None, None]
    # the task's volume no longer counts them either
    assert read_table(fs.offline_dir(config), TASKS_TABLE).pairs.max() == 3


def test_the_feast_cli_applies_and_materializes_the_repo(store, config):
    recent = int(datetime.now(UTC).timestamp() * 1000) - HOUR  # still in the window now
    commit(store, [pair("p-1", task="billing")], [task_feedback("f-1", recent, "billing", down=True)])
    fs.export(config, store.snapshot())
    env = {**os.environ, "LOOPLINE_HOME": str(config.home)}
    feast = [str(Path(sys.executable).with_name("feast")), "-c", str(REPO / "features" / "repo")]

    def run(*args: str) -> str:
        done = subprocess.run([*feast, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    run("apply")
    assert (config.home / "features" / "registry.db").exists()
    run("materialize-incremental", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    online = (
        fs.feature_store(config)
        .get_online_features(
            features=["pair_stats:pair_task", "task_stats:thumbs_down_rate"], entity_rows=[{"pair_id": "p-1", "task": "billing"}]
        )
        .to_dict()
    )
    assert online["pair_task"] == ["billing"] and online["thumbs_down_rate"] == [1.0]


@pytest.fixture
def feedback_turns_bad(store):
    """billing: liked before T0 (10 thumbs-up), disliked after it (12 thumbs-down); account: no feedback.
    Commit 1 holds the earlier pairs, commit 2 the new ones (a trainer's cursor sits at 1)."""
    commit(store, [pair(f"eb-{k}", task="billing") for k in range(40)] + [pair(f"ea-{k}", task="account") for k in range(40)])
    before = [task_feedback(f"up-{k}", T0 - (k + 1) * HOUR, "billing", down=False) for k in range(10)]
    after = [task_feedback(f"down-{k}", T0 + (k + 1) * 60_000, "billing", down=True) for k in range(12)]
    commit(store, [pair(f"nb-{k}", task="billing") for k in range(20)] + [pair(f"na-{k}", task="account") for k in range(20)])
    commit(store, feedbacks=before + after)
    return store


def data_config(**overrides) -> TrainerDataConfig:
    settings = {"min_quality": 0.5, "task_caps": {}, "max_new_pairs": None, "replay_ratio": 0.5, "golden_percent": 0.01}
    return TrainerDataConfig(**{**settings, **overrides})


def by_task(pairs: list[dict]) -> dict[str, int]:
    return {t: sum(p["task"] == t for p in pairs) for t in ("account", "billing")}


def test_point_in_time_a_later_thumbs_down_rate_does_not_leak_into_an_earlier_cutoff(feedback_turns_bad, config):
    snap = feedback_turns_bad.snapshot()
    t1 = T0 + HOUR
    fs.export(config, snap)
    fs.apply(config)
    entity_df = pd.DataFrame({"task": ["billing", "billing"], "event_timestamp": pd.to_datetime([T0, t1], unit="ms", utc=True)})
    frame = fs.historical(config, entity_df, ["task_stats:thumbs_down_rate", "task_stats:feedback_count"])
    seen = {
        int(r.event_timestamp.value // 10**6): (r.task_stats__feedback_count, r.task_stats__thumbs_down_rate)
        for r in frame.itertuples()
    }
    assert seen == {T0: (10, 0.0), t1: (22, 12 / 22)}

    # the selection built at T0 follows the old weighting: billing liked, so capped; at t1 it is struggling
    at_t0 = select_cycle(snap, 1, data_config(), features=fs.TrainingFeatures(config, cutoff_ms=T0))
    assert at_t0.steering["verdicts"] == {"billing": "liked"} and at_t0.steering["caps"] == {"billing": 0.1}
    assert by_task(at_t0.new) == {"account": 20, "billing": 2}  # billing <= 0.1 of 22
    assert by_task(at_t0.replay)["billing"] <= 4  # drawn from the capped pool: 40 account + 4 billing
    at_t1 = select_cycle(snap, 1, data_config(), features=fs.TrainingFeatures(config, cutoff_ms=t1))
    assert at_t1.steering["verdicts"] == {"billing": "struggling"}
    assert by_task(at_t1.new) == {"account": 20, "billing": 20}
    assert by_task(at_t1.replay)["billing"] > by_task(at_t1.replay)["account"]


def test_loopline_features_cli_refreshes_and_says_in_one_line_what_is_missing(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from loopline.cli import app

    monkeypatch.setenv("LOOPLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOOPLINE_CONFIG", raising=False)
    missing = CliRunner().invoke(app, ["features", "export", "--dataset", "nope"])
    assert missing.exit_code == 1 and missing.stderr.startswith("error: dataset 'nope' does not exist")
    store = new_store(tmp_path / "home")  # <home>/store/datasets/live: where the config's store_root points
    commit(store, [pair("p-1"), pair("p-2", task="billing")])
    done = CliRunner().invoke(app, ["features", "refresh"])
    assert done.exit_code == 0, done.output
    assert '"pairs.parquet": 2' in done.output
    assert set(read_table(tmp_path / "home" / "features" / "offline", PAIRS_TABLE).pair_id) == {"p-1", "p-2"}
    bad = CliRunner().invoke(app, ["features", "materialize", "--end", "yesterday"])
    assert bad.exit_code == 1 and "--end: not 'now' or an ISO 8601 time" in bad.stderr

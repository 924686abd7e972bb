"""Replay targets: a new version only; what the live dataset forgot is forgotten in the version from the start."""

from __future__ import annotations

import pytest

from loopline.config import LooplineConfig
from loopline.store import CuratedStore, subject_hash
from pipelines import run
from pipelines.replay import check_replay_target, create_replay
from tests.loopline.store.test_store import TOPIC, unit


@pytest.fixture
def config(tmp_path) -> LooplineConfig:
    return LooplineConfig(home=tmp_path)


def test_replay_never_writes_into_the_live_dataset_or_an_existing_one(config):
    with pytest.raises(ValueError, match="'live' is the live dataset"):
        check_replay_target(config, "live")
    CuratedStore(config.store_root, "v1").create({"source": "test"})
    with pytest.raises(ValueError, match="'v1' already exists"):
        check_replay_target(config, "v1")
    check_replay_target(config, "v2")


def test_a_replayed_version_starts_with_the_live_datasets_forgotten_subjects(config, monkeypatch):
    live = CuratedStore(config.store_root, "live")
    live.create({"source": "test"})
    live.commit([unit(0, "alice"), unit(1, "bob")])
    live.forget(subject_hash("alice"))
    # no broker here: the topics' offsets are what Kafka would answer
    monkeypatch.setattr(run, "partition_offsets", lambda *_args, **_kw: {(TOPIC, 0): (0, 4)})
    version = create_replay(config, "v2", from_time_ms=None)
    assert version.forgotten() == {subject_hash("alice")}
    assert version.meta["replay_of"] == "live"
    assert version.meta["start_offsets"] == {f"{TOPIC}/0": 0}
    version.commit([unit(0, "alice"), unit(1, "bob")])
    assert sorted(r["pair_id"] for r in version.read("CuratedPair")) == ["p-1"]

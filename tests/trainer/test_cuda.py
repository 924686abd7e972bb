"""One QLoRA cycle on a CUDA GPU: the path the CPU tests never reach (4-bit NF4 base through bitsandbytes, bf16
compute, gradient checkpointing and packing). Skipped without a GPU; the tiny random model stands in for the base."""

from __future__ import annotations

import math

import pytest
import torch

from loopline.config import LooplineConfig
from tests.trainer.records import commit, feedback, new_store, pair
from trainer import continual
from trainer.chat import pair_messages
from trainer.continual import ContinualTrainer
from trainer.model import load_model
from trainer.registry import AdapterRegistry
from trainer.tiny_model import SUPPORT_PAIRS, build_tiny_model, feedback_examples

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def qlora_config(tmp_path, base, device: str = "cuda") -> LooplineConfig:
    """Sized like the CPU cycle tests (tests/trainer/test_continual.py), with the real default method, qlora."""
    c = LooplineConfig(home=tmp_path, cache_dir=tmp_path / "cache")
    c.features.enabled = False  # Feast steering is device-independent (and Feast is not installed on GPU machines)
    t = c.trainer
    t.device = device
    t.model.base = str(base)
    t.model.method = "qlora"
    t.model.max_length = 96
    t.data.golden_percent = 20
    t.data.task_caps = {}
    t.sft.max_steps, t.sft.batch_size, t.sft.checkpoint_every, t.sft.learning_rate = 8, 4, 4, 5e-3
    t.kto.min_examples, t.kto.max_steps, t.kto.batch_size = 4, 2, 4
    t.eval.max_golden, t.eval.rouge_samples, t.eval.max_new_tokens = 8, 2, 4
    t.eval.general_ppl_tolerance = 10.0  # a random tiny model: the gate's verdict is not what this test checks
    t.eval.domain_ppl_tolerance = 0.5
    return c


def fill_store(c: LooplineConfig) -> None:
    """Three copies of the support pairs and eight thumbs up/down, in the curated store the cycle reads."""
    store = new_store(c.home, c.trainer.dataset)  # under <home>/store, the config's store_root
    pairs = [
        {
            **pair(f"{p['pair_id']}-{n}", content=p["output"] + str(n)),
            **{k: p[k] for k in ("instruction", "input", "output", "task")},
        }
        for n in range(3)
        for p in SUPPORT_PAIRS
    ]
    thumbs = [
        {**feedback(e["example_id"], 1_793_000_000_000 + i, e["desirable"]), "prompt": e["prompt"], "response": e["response"]}
        for i, e in enumerate(feedback_examples(8))
    ]
    commit(store, pairs, thumbs)


def four_bit_layers(model) -> dict[str, str]:
    """Target linear layers whose (base) weight is a bitsandbytes 4-bit layer -> its quant type."""
    import bitsandbytes as bnb

    layers = {}
    for name, module in model.named_modules():
        base = module.get_base_layer() if hasattr(module, "get_base_layer") else module
        if isinstance(base, bnb.nn.Linear4bit) and name.rsplit(".", 1)[-1].endswith("_proj"):
            layers[name] = base.weight.quant_type
    return layers


def test_a_qlora_cycle_on_cuda_trains_a_4bit_base_and_records_an_adapter_that_loads_back_and_generates(tmp_path, monkeypatch):
    base = build_tiny_model(tmp_path / "tiny")
    c = qlora_config(tmp_path, base)
    fill_store(c)
    loaded = []

    def load_and_keep(*args, **kwargs):
        model, tokenizer = load_model(*args, **kwargs)
        loaded.append(model)
        return model, tokenizer

    monkeypatch.setattr(continual, "load_model", load_and_keep)
    report = ContinualTrainer(c, progress=False).run_cycle()

    trained = loaded[0]
    quant_types = four_bit_layers(trained)
    assert len(quant_types) == 2 * 7 and set(quant_types.values()) == {"nf4"}  # 2 layers x 7 projections, all 4-bit
    assert next(p for p in trained.parameters() if p.requires_grad).device.type == "cuda"

    assert report.version == "v0001" and report.outcome in ("promoted", "rejected")
    assert report.sft["steps"] == 8 and report.kto.get("steps") == 2
    losses = [loss for _, loss in report.sft["losses"]]
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses)
    assert sum(losses[4:]) < sum(losses[:4]), losses  # halves, not single steps: packed batches vary in content
    card = AdapterRegistry(c.registry_root).get("v0001")
    assert card.method == "qlora" and card.status == report.outcome
    for side in ("base", "candidate"):
        assert math.isfinite(card.metrics[side]["domain_ppl"]) and math.isfinite(card.metrics[side]["general_ppl"])
    assert card.metrics["candidate"]["domain_ppl"] < card.metrics["base"]["domain_ppl"]

    adapter = AdapterRegistry(c.registry_root).adapter_dir("v0001")
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    model, tokenizer = load_model(base, c.trainer.model, "cuda", adapter=adapter, trainable=False)
    assert set(four_bit_layers(model).values()) == {"nf4"} and len(four_bit_layers(model)) == 14
    prompt = tokenizer.apply_chat_template(
        pair_messages(SUPPORT_PAIRS[0])[:-1], add_generation_prompt=True, return_tensors="pt", return_dict=True
    ).to("cuda")
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
        adapted = model(**prompt).logits
        with model.disable_adapter():
            bare = model(**prompt).logits
    assert out.shape[1] > prompt["input_ids"].shape[1]  # it generated
    assert not torch.allclose(adapted, bare)  # the trained adapter, not a no-op, was loaded onto the 4-bit base

"""Preference step on thumbs-up/down feedback with trl's KTOTrainer, after SFT, on the same adapter.

KTO learns from unpaired good/bad answers, which is what thumbs feedback is (DPO would need both for one prompt).
The reference policy is the model as it enters this step: trl copies a PEFT model's adapter into a frozen "ref"
adapter (removed again afterwards, so only the trained adapter is saved); a fully trained model gets a frozen copy.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset
from peft import PeftModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from trl import KTOConfig, KTOTrainer

from loopline.config import TrainerKTOConfig, TrainerModelConfig
from trainer.chat import prompt_completion
from trainer.model import keep_adapter_fp32
from trainer.sft import device_args, on_gpu_by_default

REF_ADAPTER = "ref"  # the name trl 1.16 gives the frozen copy of a PEFT model's adapter


@dataclass
class KTOResult:
    steps: int
    examples: int
    desirable: int
    undesirable: int
    losses: list[tuple[int, float]]  # (step, KTO loss) as logged
    seconds: float


@dataclass
class Skipped:
    reason: str


def feedback_rows(examples: list[dict]) -> list[dict]:
    """trl's unpaired-preference rows: a conversational prompt-completion plus the thumbs as the label."""
    return [
        {
            **prompt_completion([{"role": "user", "content": e["prompt"]}, {"role": "assistant", "content": e["response"]}]),
            "label": bool(e["desirable"]),
        }
        for e in examples
    ]


def skip_reason(examples: list[dict], cfg: TrainerKTOConfig) -> str | None:
    """Why the step cannot run on these examples, or None."""
    if not cfg.enabled:
        return "KTO is disabled in the config (trainer.kto.enabled)"
    if len(examples) < cfg.min_examples:
        return f"{len(examples)} feedback examples, fewer than trainer.kto.min_examples={cfg.min_examples}"
    desirable = sum(bool(e["desirable"]) for e in examples)
    if desirable in (0, len(examples)):
        kind = "thumbs-up" if desirable else "thumbs-down"
        return f"all {len(examples)} feedback examples are {kind}; KTO needs both kinds"
    return None


def run_kto(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: list[dict],
    cfg: TrainerKTOConfig,
    model_cfg: TrainerModelConfig,
    output_dir: Path,
    device: str,
    progress: bool = True,
) -> KTOResult | Skipped:
    """Train `model` in place for cfg.max_steps KTO steps on the feedback, or say why not.

    The minority label is weighted up so both kinds pull equally (the KTO paper's advice: weighted counts within 1:1
    to 4:3). Examples are shuffled once (seeded): KTO's KL estimate needs a fixed batch order, and feedback arrives
    in time order, often in runs of one label.
    """
    reason = skip_reason(examples, cfg)
    if reason:
        return Skipped(reason)
    desirable = sum(bool(e["desirable"]) for e in examples)
    undesirable = len(examples) - desirable
    dataset = Dataset.from_list(feedback_rows(examples)).shuffle(seed=cfg.seed)
    args = KTOConfig(
        output_dir=str(output_dir),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        beta=cfg.beta,
        desirable_weight=max(1.0, undesirable / desirable),
        undesirable_weight=max(1.0, desirable / undesirable),
        max_length=model_cfg.max_length,
        save_strategy="no",
        seed=cfg.seed,
        activation_checkpointing=on_gpu_by_default(None, device),
        **device_args(device, progress),
    )
    ref_model = None if isinstance(model, PeftModel) else copy.deepcopy(model).eval().requires_grad_(False)
    trainer = KTOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=dataset, processing_class=tokenizer)
    if device == "cpu":
        keep_adapter_fp32(trainer.model)
    started = time.monotonic()
    try:
        trainer.train()
    finally:
        if isinstance(model, PeftModel) and REF_ADAPTER in model.peft_config:
            model.delete_adapter(REF_ADAPTER)
    seconds = time.monotonic() - started
    return KTOResult(
        steps=trainer.state.global_step,
        examples=len(examples),
        desirable=desirable,
        undesirable=undesirable,
        losses=[(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h],
        seconds=seconds,
    )

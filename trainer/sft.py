"""Supervised fine-tuning on curated pairs with trl's SFTTrainer: checkpointed, resumable, loss on the answers only."""

from __future__ import annotations

import logging
import math
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import SFTConfig, SFTTrainer

from loopline.config import TrainerModelConfig, TrainerSFTConfig
from trainer.chat import pair_messages, prompt_completion
from trainer.errors import TrainerError
from trainer.model import keep_adapter_fp32

log = logging.getLogger(__name__)
CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
TRAINER_STATE = "trainer_state.json"  # written last into a checkpoint: its presence marks a complete one


@dataclass
class SFTResult:
    steps: int  # the trainer's global step at the end (counting steps done before a resume)
    resumed_from_step: int  # 0: started fresh
    losses: list[tuple[int, float]]  # (step, training loss) as logged, this run's steps only
    train_tokens: int  # tokens (prompt and answer, no padding) this run pushed through the model
    seconds: float
    tokens_per_s: float


def latest_checkpoint(output_dir: Path) -> tuple[Path, int] | None:
    """The newest complete checkpoint and its step; incomplete ones (killed mid-save) are removed."""
    found = []
    for path in Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        match = CHECKPOINT.match(path.name)
        if not match or not path.is_dir():
            continue
        if (path / TRAINER_STATE).exists():
            found.append((int(match.group(1)), path))
        else:
            log.warning("removing incomplete checkpoint %s", path)
            shutil.rmtree(path)
    if not found:
        return None
    step, path = max(found)
    return path, step


def on_gpu_by_default(setting: bool | None, device: str) -> bool:
    """The config's None means: on for CUDA, off for CPU."""
    return device == "cuda" if setting is None else setting


def device_args(device: str, progress: bool) -> dict:
    """The training arguments that follow from the device, shared by the SFT and KTO steps."""
    return {
        "logging_steps": 1,
        "report_to": "none",
        "bf16": device == "cuda",
        "use_cpu": device == "cpu",
        "disable_tqdm": not progress,
        "dataloader_pin_memory": device == "cuda",
    }


def sft_steps(cfg: TrainerSFTConfig, examples: int) -> int:
    """cfg.max_steps, fewer when that would pass over the examples more than cfg.max_epochs times."""
    per_step = cfg.batch_size * cfg.gradient_accumulation_steps
    return max(1, min(cfg.max_steps, math.ceil(cfg.max_epochs * examples / per_step)))


def build_sft_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: list[dict],
    cfg: TrainerSFTConfig,
    model_cfg: TrainerModelConfig,
    output_dir: Path,
    device: str,
    progress: bool = True,
) -> SFTTrainer:
    """An SFTTrainer on the pairs as conversational prompt-completion rows (trl masks the prompt out of the loss)."""
    if not pairs:
        raise TrainerError("no pairs to train on")
    dataset = Dataset.from_list([prompt_completion(pair_messages(p)) for p in pairs])
    args = SFTConfig(
        output_dir=str(output_dir),
        max_steps=sft_steps(cfg, len(pairs)),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        save_strategy="steps",
        save_steps=cfg.checkpoint_every,
        save_total_limit=2,
        seed=cfg.seed,
        data_seed=cfg.seed,
        max_length=model_cfg.max_length,
        packing=on_gpu_by_default(cfg.packing, device),
        activation_checkpointing=on_gpu_by_default(cfg.gradient_checkpointing, device),
        **device_args(device, progress),
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    if device == "cpu":
        keep_adapter_fp32(trainer.model)
    return trainer


def run_sft(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: list[dict],
    cfg: TrainerSFTConfig,
    model_cfg: TrainerModelConfig,
    output_dir: Path,
    device: str,
    resume: bool = True,
    progress: bool = True,
) -> SFTResult:
    """Train `model` (its adapter, or every weight for method 'full') in place on the pairs for sft_steps() steps.

    With resume, the newest complete checkpoint in output_dir is loaded first (weights, optimizer, data position),
    so a killed run picks up where it stopped; max_steps counts from the start of the whole run, not the resume.
    """
    trainer = build_sft_trainer(model, tokenizer, pairs, cfg, model_cfg, output_dir, device, progress)
    checkpoint = latest_checkpoint(output_dir) if resume else None
    if checkpoint:
        log.info("resuming SFT from %s", checkpoint[0])
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(checkpoint[0]) if checkpoint else None)
    seconds = time.monotonic() - started
    resumed_from = checkpoint[1] if checkpoint else 0
    logged = [h for h in trainer.state.log_history if h["step"] > resumed_from]  # a resume restores older entries
    tokens = max((int(h["num_tokens"]) for h in logged if "num_tokens" in h), default=0)  # this run's running count
    return SFTResult(
        steps=trainer.state.global_step,
        resumed_from_step=resumed_from,
        losses=[(h["step"], h["loss"]) for h in logged if "loss" in h],
        train_tokens=tokens,
        seconds=seconds,
        tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
    )

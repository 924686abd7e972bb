"""How many SFT steps a cycle takes: the step budget, capped by passes over the cycle's pairs."""

from __future__ import annotations

from loopline.config import TrainerSFTConfig
from trainer.sft import sft_steps


def test_a_small_cycle_takes_fewer_steps_than_the_budget_instead_of_memorizing_its_pairs():
    cfg = TrainerSFTConfig(max_steps=24, batch_size=8, max_epochs=3.0)
    assert sft_steps(cfg, 7) == 3  # 21 examples seen, not 192
    assert sft_steps(cfg, 1000) == 24  # the budget binds
    assert sft_steps(cfg, 64) == 24  # exactly 3 passes
    assert sft_steps(cfg.model_copy(update={"gradient_accumulation_steps": 2}), 64) == 12
    assert sft_steps(cfg, 1) == 1

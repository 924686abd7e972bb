"""`loopline train` prints each cycle as a table; metrics a cycle did not measure print as "-", never crash it."""

from __future__ import annotations

import importlib

from loopline.config import LooplineConfig
from trainer.continual import CycleReport

train_cli = importlib.import_module("loopline.cli.train")  # the module: `loopline.cli.train` is also the command


def test_a_cycle_without_rouge_prints_a_dash(capsys, monkeypatch):
    from rich.console import Console

    monkeypatch.setattr(train_cli, "console", Console(width=200))
    metrics = {"domain_ppl": 7.9, "general_ppl": 30.7, "answer_match": None, "rouge_l": None}  # eval.rouge_samples: 0
    report = CycleReport("v0001", "promoted", "golden perplexity 7.9 <= 22.4", metrics={"base": metrics, "candidate": metrics})
    train_cli.print_cycle(LooplineConfig(), report)
    out = capsys.readouterr().out
    assert "cycle v0001: promoted" in out and "7.900" in out and "-" in out

"""The eval gate: a candidate adapter is promoted only if it is not worse on the domain and has not forgotten.

Domain: perplexity on the golden split's answer tokens, against the adapter serving now (the base model when
none is). Forgetting: perplexity on the general-text set shipped in the repo, against the base model, so a
slow drift over many cycles is still caught. Answer match: perplexity falls for any fluent answer in the domain's
style, even one to another question (a candidate trained on answers shuffled across pairs beat the current adapter
on perplexity alone), so the candidate must also prefer each golden prompt's own answer over another pair's at
least as strongly as the reference does. ROUGE-L is recorded beside them but does not decide: on a few dozen
greedy answers it is too noisy to gate on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loopline.config import TrainerEvalConfig


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str  # one line with the numbers, shown by `loopline adapters list`


def decide(base: dict, current: dict | None, candidate: dict, cfg: TrainerEvalConfig) -> Decision:
    """Metrics are dicts with domain_ppl and general_ppl (trainer.evaluate.EvalMetrics as a dict)."""
    # a served adapter whose golden perplexity is not finite cannot be beaten: hold candidates to the base then
    usable = current is not None and math.isfinite(current["domain_ppl"])
    reference, name = (current, "current") if usable else (base, "base")
    domain_limit = reference["domain_ppl"] * (1 + cfg.domain_ppl_tolerance)
    general_limit = base["general_ppl"] * (1 + cfg.general_ppl_tolerance)
    domain = (
        f"golden perplexity {candidate['domain_ppl']:.3f} vs {name} {reference['domain_ppl']:.3f}"
        f" x {1 + cfg.domain_ppl_tolerance:.2f}"
    )
    general = (
        f"general perplexity {candidate['general_ppl']:.3f} vs base {base['general_ppl']:.3f}"
        f" x {1 + cfg.general_ppl_tolerance:.2f}"
    )
    checks = [
        (candidate["domain_ppl"] <= domain_limit, domain, " > ", " <= "),  # a NaN fails: comparisons are False
        (candidate["general_ppl"] <= general_limit, general, " > ", " <= "),
    ]
    if candidate.get("answer_match") is not None and reference.get("answer_match") is not None:
        match_floor = reference["answer_match"] - cfg.answer_match_tolerance
        match = (
            f"answer match {candidate['answer_match']:.3f} vs {name} {reference['answer_match']:.3f}"
            f" - {cfg.answer_match_tolerance:.2f}"
        )
        checks.append((candidate["answer_match"] >= match_floor, match, " < ", " >= "))
    failures = [text.replace(" vs ", worse, 1) for ok, text, worse, _ in checks if not ok]
    if failures:
        return Decision(False, "; ".join(failures))
    return Decision(True, "; ".join(text.replace(" vs ", better, 1) for _, text, _, better in checks))

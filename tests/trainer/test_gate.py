"""The eval gate: not worse on the golden split than what is served, not more than the tolerance worse than the
base on general text, and a NaN never passes."""

from __future__ import annotations

import math

import pytest

from loopline.config import TrainerEvalConfig
from trainer.gate import decide

BASE = {"domain_ppl": 10.0, "general_ppl": 20.0}
CURRENT = {"domain_ppl": 8.0, "general_ppl": 21.0}
STRICT = TrainerEvalConfig(domain_ppl_tolerance=0.0, general_ppl_tolerance=0.1)


def metrics(domain: float, general: float = 20.0) -> dict:
    return {"domain_ppl": domain, "general_ppl": general, "rouge_l": 0.3}


@pytest.mark.parametrize("domain", [8.0, 7.2])
def test_equal_or_better_than_the_served_adapter_is_promoted(domain):
    decision = decide(BASE, CURRENT, metrics(domain), STRICT)
    assert decision.promote
    assert f"golden perplexity {domain:.3f} <= current 8.000" in decision.reason
    assert "general perplexity 20.000 <= base 20.000" in decision.reason


def test_worse_on_the_golden_split_is_rejected_with_the_numbers():
    decision = decide(BASE, CURRENT, metrics(8.25), STRICT)
    assert not decision.promote
    assert decision.reason == "golden perplexity 8.250 > current 8.000 x 1.00"


def test_the_domain_tolerance_allows_that_much_worse_and_no_more():
    lenient = TrainerEvalConfig(domain_ppl_tolerance=0.05, general_ppl_tolerance=0.1)
    assert decide(BASE, CURRENT, metrics(8.39), lenient).promote
    assert not decide(BASE, CURRENT, metrics(8.41), lenient).promote


def test_general_perplexity_beyond_the_tolerance_over_the_base_is_rejected():
    assert decide(BASE, CURRENT, metrics(7.0, general=21.9), STRICT).promote
    decision = decide(BASE, CURRENT, metrics(7.0, general=22.5), STRICT)
    assert not decision.promote
    assert decision.reason == "general perplexity 22.500 > base 20.000 x 1.10"


def test_general_text_is_always_held_against_the_base_not_a_drifted_current():
    drifted = {"domain_ppl": 8.0, "general_ppl": 30.0}
    decision = decide(BASE, drifted, metrics(7.0, general=25.0), STRICT)
    assert not decision.promote and "> base 20.000" in decision.reason


def test_without_a_served_adapter_the_base_is_the_domain_reference():
    assert decide(BASE, None, metrics(9.0), STRICT).promote
    decision = decide(BASE, None, metrics(11.0), STRICT)
    assert not decision.promote and decision.reason == "golden perplexity 11.000 > base 10.000 x 1.00"


def test_both_failures_are_named():
    decision = decide(BASE, CURRENT, metrics(9.0, general=23.0), STRICT)
    assert not decision.promote
    assert decision.reason.split("; ") == [
        "golden perplexity 9.000 > current 8.000 x 1.00",
        "general perplexity 23.000 > base 20.000 x 1.10",
    ]


@pytest.mark.parametrize("candidate", [metrics(math.nan), metrics(7.0, general=math.nan), metrics(math.inf)])
def test_nan_or_infinite_perplexity_is_rejected(candidate):
    decision = decide(BASE, CURRENT, candidate, STRICT)
    assert not decision.promote and (" nan > " in decision.reason or " inf > " in decision.reason)


def test_a_candidate_that_lost_the_match_between_prompts_and_answers_is_rejected_despite_lower_perplexity():
    cfg = TrainerEvalConfig()
    base = {"domain_ppl": 23.1, "general_ppl": 42.5, "answer_match": 0.30}
    current = {"domain_ppl": 14.4, "general_ppl": 41.4, "answer_match": 0.55}
    shuffled = {"domain_ppl": 10.8, "general_ppl": 40.9, "answer_match": 0.41}
    decision = decide(base, current, shuffled, cfg)
    assert not decision.promote
    assert decision.reason == "answer match 0.410 < current 0.550 - 0.01"
    better = {**shuffled, "answer_match": 0.57}
    assert decide(base, current, better, cfg).promote

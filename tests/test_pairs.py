"""Pair extraction against the simulator's expected pairs (cleaned text; duplicates flagged from the truth
so this measures pairing alone)."""

from __future__ import annotations

import pytest

from loopline.config import CleanConfig, PairsConfig
from pipelines.clean import Cleaner, event_text
from pipelines.pairs import PairExtractor
from tests.simtruth import message_id, simulated_threads


@pytest.fixture(scope="module")
def extracted():
    threads, truth = simulated_threads(seed=5, count=5000)
    cleaner, extractor = Cleaner(CleanConfig()), PairExtractor(PairsConfig())
    pairs = {}
    for thread in threads:
        events = []
        for e in thread.events:
            kind, text, html = event_text(e)
            events.append(e._replace(text=cleaner.clean(kind, text=text, html=html),
                                     duplicate_of=truth[message_id(e)]["duplicate_of"]))
        for p in extractor.extract(thread._replace(events=tuple(events))):
            pairs[message_id(p.response)] = p
    expected = {i: t["answers"] for i, t in truth.items() if t["answers"]}
    return pairs, expected


def test_pairs_kept_after_the_quality_floor_match_the_expected_pairs(extracted):
    pairs, expected = extracted
    kept = {r: p for r, p in pairs.items() if p.quality >= PairsConfig().min_quality}
    hits = [r for r in kept if r in expected]
    precision, recall = len(hits) / len(kept), len(hits) / len(expected)
    print(f"pairs: precision {precision:.3f} recall {recall:.3f} of {len(expected)} expected")
    assert precision >= 0.97 and recall >= 0.93


def test_prompts_and_tasks(extracted):
    pairs, expected = extracted
    hits = [r for r in pairs if r in expected]
    prompt_exact = sum({message_id(e) for e in pairs[r].prompts} == set(expected[r]["prompt_ids"]) for r in hits) / len(hits)
    task_accuracy = sum(pairs[r].task == expected[r]["task"] for r in hits) / len(hits)
    print(f"prompt sets exact {prompt_exact:.3f}, task accuracy {task_accuracy:.3f}")
    assert prompt_exact >= 0.93 and task_accuracy >= 0.78


def test_auto_replies_and_filler_never_pair():
    extractor = PairExtractor(PairsConfig())
    assert extractor.auto_reply.search("Thank you for contacting us, we have received your message. Ref CS-1.")
    assert extractor.auto_reply.search("Ich bin bis 3.1. nicht im Büro.")
    assert not extractor.auto_reply.search("I'm Tom, thank you for contacting us. I have reset your password.")
    assert extractor.task("My parcel never arrived and the tracking page is empty.") == "shipping"
    assert extractor.task("Nothing in particular.") == "other"

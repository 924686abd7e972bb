"""Near-duplicates: a customer reposting the same question with exactly one aspect changed."""

from __future__ import annotations

import random
import re
from dataclasses import replace

from loopline.simulator.compose import Question
from loopline.simulator.text import questions

VARIATIONS = ("greeting", "signature", "whitespace", "case", "dropped_sentence", "edited_words")
NEAR_MIN_JACCARD = 0.6  # a near-duplicate's word 5-shingle Jaccard with its original is at least this
_WORD = re.compile(r"\{\w+\}|[A-Za-z]+")


def vary(rng: random.Random, q: Question) -> tuple[Question, str]:
    """The question with one aspect changed, and which. A short question can lose too much to an edit or a
    dropped sentence: redraw until the variant is still clearly similar, so the truth's "near" is never a
    judgment call."""
    for _ in range(5):
        variant, variation = _vary_once(rng, q)
        if jaccard5(q.chat_text(), variant.chat_text()) >= NEAR_MIN_JACCARD:
            return variant, variation
    return replace(q, case="lower"), "case"


def jaccard5(a: str, b: str) -> float:
    """Word 5-shingle Jaccard on lowercased words, the similarity MinHash dedup estimates."""

    def shingles(s: str) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", s.lower())
        return {tuple(words[i : i + 5]) for i in range(max(len(words) - 4, 1))}

    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def _vary_once(rng: random.Random, q: Question) -> tuple[Question, str]:
    variation = rng.choice(VARIATIONS)
    if variation == "greeting":
        return replace(q, greeting=rng.choice([g for g in questions.GREETINGS if g != q.greeting])), variation
    if variation == "signature":
        return replace(q, signed=not q.signed), variation
    if variation == "whitespace":
        return replace(q, spacing=rng.choice(["  ", "\n", " \n"])), variation
    if variation == "case":
        return replace(q, case="lower"), variation
    if variation == "dropped_sentence":
        droppable = [i for i, (role, _) in enumerate(q.parts) if role != "problem"]
        drop = rng.choice(droppable)
        return replace(q, parts=[p for i, p in enumerate(q.parts) if i != drop]), variation
    return replace(q, parts=_edit_words(rng, q.parts)), variation


def _edit_words(rng: random.Random, parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Swap 2-3 words for synonyms (or typos) outside the slots, as a customer retyping would."""
    spots = [
        (i, m.start(), m.end())
        for i, (_, tpl) in enumerate(parts)
        for m in _WORD.finditer(tpl)
        if not m.group().startswith("{") and len(m.group()) >= 4
    ]
    chosen = sorted(rng.sample(spots, min(len(spots), rng.randint(2, 3))), reverse=True)
    edited = [list(p) for p in parts]
    for i, s, e in chosen:
        tpl = edited[i][1]
        edited[i][1] = tpl[:s] + _edit(rng, tpl[s:e]) + tpl[e:]
    return [tuple(p) for p in edited]


def _edit(rng: random.Random, word: str) -> str:
    synonym = questions.WORD_EDITS.get(word.lower())
    if synonym:
        return synonym.capitalize() if word[0].isupper() else synonym
    k = rng.randrange(1, len(word) - 2)
    return word[:k] + word[k + 1] + word[k] + word[k + 2 :]

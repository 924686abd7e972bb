"""The scrubbing algorithm: detect (rules + NER, through Presidio), propagate what was found across a
context, resolve overlaps into whole spans, and render typed placeholders numbered per context.
Never log or raise with text in a message: everything here may be PII."""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from typing import NamedTuple

import regex
from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
from spacy.lang.en.stop_words import STOP_WORDS

from loopline.config import ScrubConfig
from pipelines.scrub.ner import NerEngine, offline_tldextract
from pipelines.scrub.phones import PhoneNumberRecognizer
from pipelines.scrub.rules import FLAGS, NAME_WORD, NOT_NAMES, PARTICLE, RULES, RuleRecognizer, check_person


class ScrubResult(NamedTuple):
    text: str  # the input with each entity replaced by its placeholder
    entities: list[dict]  # {type, start, end, score}: offsets into the input, sorted, non-overlapping
    counts: dict[str, int]  # entity type -> occurrences masked


class Hit(NamedTuple):
    """One detection: offsets into the analyzed text."""

    start: int
    end: int
    type: str
    score: float


class Scrubber:
    """Presidio analyzer + our recognizers + per-context placeholders. Build once per process
    (`scrubber(config)`): loading the model takes seconds and ~200 MB."""

    def __init__(self, config: ScrubConfig):
        offline_tldextract()
        self.config = config
        wanted = set(config.entities)
        presidio_log = logging.getLogger("presidio-analyzer")
        level = max(presidio_log.getEffectiveLevel(), logging.INFO)  # its DEBUG records quote text around detections
        presidio_log.setLevel(logging.ERROR)  # building warns once for each non-English recognizer it skips
        try:
            engine = NerEngine(config.spacy_model)
            engine.load()
            registry = RecognizerRegistry(supported_languages=["en"])
            registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
            registry.recognizers = [
                r for r in registry.recognizers if set(r.supported_entities) & wanted and r.name not in _SUPERSEDED
            ]
            for entity in sorted(wanted & {r.entity for r in RULES}):
                registry.add_recognizer(RuleRecognizer(entity, [r for r in RULES if r.entity == entity]))
            if "PHONE_NUMBER" in wanted:
                registry.add_recognizer(PhoneNumberRecognizer())
            self.analyzer = AnalyzerEngine(
                registry=registry, nlp_engine=engine, supported_languages=["en"], default_score_threshold=config.score_threshold
            )
        finally:
            presidio_log.setLevel(level)
        unknown = wanted - set(self.analyzer.get_supported_entities("en"))
        if unknown:
            raise ValueError(f"scrub.entities: no recognizer for {sorted(unknown)}")
        self.entities = sorted(wanted)
        self.max_chars = engine.nlp["en"].max_length  # longer texts are analyzed in pieces (spaCy's E088)
        self._batch = BatchAnalyzerEngine(self.analyzer)
        self._lock = threading.Lock()  # one spaCy model per process, DoFn threads take turns

    def scrub_batch(self, texts: list[str], contexts: list[str]) -> list[ScrubResult]:
        """Scrub `texts`; texts sharing a context share placeholders (a thread, a conversation)."""
        if len(texts) != len(contexts):
            raise ValueError(f"{len(texts)} texts but {len(contexts)} contexts")
        hits = self.analyze(texts)
        groups: dict[str, list[int]] = {}
        for i, context in enumerate(contexts):
            groups.setdefault(context, []).append(i)
        results: list[ScrubResult | None] = [None] * len(texts)
        for idx in groups.values():
            group_texts = [texts[i] for i in idx]
            group_hits = _propagate(group_texts, [hits[i] for i in idx])
            names = _Placeholders()
            for i, text, text_hits in zip(idx, group_texts, group_hits):
                results[i] = _render(text, _resolve(text_hits), names)
        return results

    def analyze(self, texts: list[str]) -> list[list[Hit]]:
        """Detections per text, before propagation and merging (what scrub_batch masks is a superset)."""
        pieces = [
            (i, start, end)
            for i, text in enumerate(texts)
            for start, end in _pieces(text, self.max_chars)
            if text[start:end].strip()
        ]
        with self._lock:
            found = self._batch.analyze_iterator(
                [texts[i][s:e] for i, s, e in pieces],
                "en",
                batch_size=self.config.batch_size,
                entities=self.entities,
                score_threshold=self.config.score_threshold,
            )
        hits: list[list[Hit]] = [[] for _ in texts]
        for (i, offset, _), results in zip(pieces, found):
            text = texts[i]
            hits[i] += [
                Hit(offset + r.start, offset + r.end, r.entity_type, r.score)
                for r in results
                if r.end > r.start and (r.entity_type != "PERSON" or _name_words(text[offset + r.start : offset + r.end]))
            ]
        return hits


# Where a text too long for spaCy is cut, best first: after a line, after a sentence, at any space.
_CUTS = [regex.compile(p, regex.REVERSE) for p in (r"\n", r"(?<=[.!?])\s", r"\s")]


def _pieces(text: str, limit: int) -> list[tuple[int, int]]:
    """(start, end) of consecutive pieces of `text`, none longer than `limit`: cut at the last line break
    in the second half of the piece, else sentence end, else whitespace; only a run without any is cut anywhere.
    A detection can only be split by a cut through it, which these boundaries make rare."""
    spans, start = [], 0
    while len(text) - start > limit:
        end = start + limit
        cut = next((m.end() for rx in _CUTS if (m := rx.search(text, start + limit // 2, end))), end)
        spans.append((start, cut))
        start = cut
    spans.append((start, len(text)))
    return spans


# Ours replace these: Presidio's email check (tldextract) rejects internal mail domains, and its phone
# recognizer reads fewer regions and scans all the text once per region (phones.py: phone-like runs only).
_SUPERSEDED = {"EmailRecognizer", "PhoneRecognizer"}

_CACHE: dict[str, Scrubber] = {}
_CACHE_LOCK = threading.Lock()


def scrubber(config: ScrubConfig) -> Scrubber:
    """The process's Scrubber for this config, built on first use. Configs differing only in
    batch_size share one: how many texts go in a call is the caller's choice."""
    key = config.model_dump_json(exclude={"batch_size"})
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = Scrubber(config)
        return _CACHE[key]


_NAME_TOKEN = regex.compile(rf"{NAME_WORD}", FLAGS)


def _name_words(name: str) -> list[str]:
    """The words of a detected name that can stand for the person on their own ("Anna" of "Anna Smith").
    A name typed in lowercase ("ping anna") gives its words capitalized, as they are written elsewhere."""
    if name == name.lower() != name.title():
        return _name_words(name.title())
    return [w for w in _NAME_TOKEN.findall(name) if len(w) > 1 and w.lower() not in NOT_NAMES and w.lower() not in STOP_WORDS]


def _propagate(texts: list[str], hits: list[list[Hit]]) -> list[list[Hit]]:
    """Add every other occurrence, in any text of the context, of a value detected somewhere in it,
    and stretch names over the capitalized words that follow them on the line ("Anna" -> "Anna Smith").

    A name caught in a signature is then also masked in "Regards, Anna" where NER missed it. Name
    words match case-sensitively (a name in lowercase is an ordinary word), except in texts with no
    capitals at all, where case says nothing.
    """
    values: dict[str, Hit] = {}  # lowercased value -> where it was found
    words: dict[str, float] = {}  # name word -> score
    for text, text_hits in zip(texts, hits):
        for h in text_hits:
            value = text[h.start : h.end]
            if h.type == "PERSON":
                for w in _name_words(value):
                    words.setdefault(w, h.score)
            elif len(value) >= 4:
                values.setdefault(value.lower(), h)
    word_scores = {w.lower(): score for w, score in words.items()}
    if not values and not words:
        return hits

    def pattern(keys, flags=0):  # `re`: compiles these one-off alternations ~10x faster than `regex`
        alternatives = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", flags) if keys else None

    by_value = pattern(values, re.I)
    by_word = pattern(words)
    by_word_any_case = pattern(words, re.I)
    out = []
    for text, text_hits in zip(texts, hits):
        found = list(text_hits)
        if by_value:
            found += [
                Hit(m.start(), m.end(), h.type, h.score) for m in by_value.finditer(text) if (h := values.get(m.group().lower()))
            ]
        word_rx = by_word_any_case if text == text.lower() else by_word
        if word_rx:
            found += [
                Hit(m.start(), m.end(), "PERSON", word_scores[m.group().lower()])
                for m in word_rx.finditer(text)
                if m.group().lower() in word_scores
            ]
        out.append([_extend_name(text, h) if h.type == "PERSON" else h for h in found])
    return out


_NAME_TAIL = regex.compile(rf"(?:[ \t]+(?:{PARTICLE}[ \t]+)*{NAME_WORD}){{1,3}}", FLAGS)


def _extend_name(text: str, hit: Hit) -> Hit:
    m = _NAME_TAIL.match(text, hit.end)
    if m and check_person(m.group()) is None:
        return hit._replace(end=m.end())
    return hit


# Which type names a merged span when no detection is confirmed (checksum) and lengths tie.
_PRIORITY = {
    t: i
    for i, t in enumerate(
        [
            "CREDIT_CARD",
            "IBAN_CODE",
            "US_SSN",
            "API_KEY",
            "EMAIL_ADDRESS",
            "IP_ADDRESS",
            "ACCOUNT_NUMBER",
            "ORDER_NUMBER",
            "HOSTNAME",
            "PHONE_NUMBER",
            "STREET_ADDRESS",
            "PERSON",
        ]
    )
}


def _resolve(hits: list[Hit]) -> list[Hit]:
    """Non-overlapping entities covering every detected character.

    Overlapping detections merge into one span (a half-masked number is a leak); the span takes
    the type of a checksum-confirmed member, else of the longest, else the higher score.
    """
    merged: list[list[Hit]] = []
    end = -1
    for h in sorted(hits):
        if merged and h.start < end:
            merged[-1].append(h)
            end = max(end, h.end)
        else:
            merged.append([h])
            end = h.end
    out = []
    for group in merged:
        best = max(group, key=lambda h: (h.score >= 1.0, h.end - h.start, h.score, -_PRIORITY.get(h.type, 99)))
        out.append(Hit(group[0].start, max(h.end for h in group), best.type, best.score))
    return out


class _Placeholders:
    """`<TYPE_n>` per context, numbered by first appearance. A person named in part ("Anna") or in
    full ("Anna Smith") gets one number: a name whose words are a subset of an earlier one's is it."""

    def __init__(self):
        self.numbers: dict[tuple[str, str], int] = {}
        self.people: list[set[str]] = []
        self.counts: Counter = Counter()

    def __call__(self, entity: str, value: str) -> str:
        if entity == "PERSON":
            words = {w for w in regex.findall(r"\p{L}[\p{L}'’\-]*", value.casefold()) if w not in NOT_NAMES} or {value}
            for n, known in enumerate(self.people, 1):
                if words <= known or known <= words:
                    known |= words
                    return f"<PERSON_{n}>"
            self.people.append(words)
            return f"<PERSON_{len(self.people)}>"
        key = (entity, regex.sub(r"[\W_]+", "", value.casefold()) or value)
        if key not in self.numbers:
            self.counts[entity] += 1
            self.numbers[key] = self.counts[entity]
        return f"<{entity}_{self.numbers[key]}>"


def _render(text: str, entities: list[Hit], names: _Placeholders) -> ScrubResult:
    parts, pos = [], 0
    for e in entities:
        parts += [text[pos : e.start], names(e.type, text[e.start : e.end])]
        pos = e.end
    parts.append(text[pos:])
    return ScrubResult(
        "".join(parts),
        [{"type": e.type, "start": e.start, "end": e.end, "score": round(e.score, 3)} for e in entities],
        dict(Counter(e.type for e in entities)),
    )

"""The NER side of detection: Presidio's spaCy engine cut down to PERSON, run only on the lines and
sentences that could name someone. Never log text here: everything may be PII."""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path

import regex
import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from spacy.attrs import IDX, LOWER
from spacy.lang.en.stop_words import STOP_WORDS

from pipelines.scrub.rules import NOT_NAMES

_BOUNDARY = regex.compile(r"\n|(?<=[.!?])(?<!\b(?:Mr|Mrs|Ms|Dr|Prof|St|Sr|Jr|Mme|Mlle|Sra|vs|etc|e\.g|i\.e)\.)[ \t]+")
_CAPITALIZED = regex.compile(r"[^\p{L}\p{N}]*\p{Lu}\p{Ll}")


def _segments(text: str) -> Iterator[tuple[int, int]]:
    """Lines and sentences of `text`, as (start, end)."""
    start = 0
    for m in _BOUNDARY.finditer(text):
        if m.start() > start:
            yield start, m.start()
        start = m.end()
    if start < len(text):
        yield start, len(text)


def _may_name(segment: str) -> bool:
    """A capitalized word after the first, a capitalized first word that is no stop word, or any
    word in a segment without capitals (chat typed in lowercase: case says nothing there)."""
    words = segment.split()
    if not words:
        return False
    if segment == segment.lower():
        return any(c.isalpha() for c in segment)
    if any(_CAPITALIZED.match(w) for w in words[1:]):
        return True
    first = regex.sub(r"[^\p{L}]", "", words[0]).lower()
    return bool(_CAPITALIZED.match(words[0])) and first not in STOP_WORDS and first not in NOT_NAMES


_WORD = regex.compile(r"\p{L}+(?:['’]\p{L}+)*")
_CHAT_WORDS = frozenset("ping pinged cc pls plz thx ok asked said says wrote".split())  # capitalized, NER takes them in


def _cased(segment: str) -> str:
    """An all-lowercase segment with its words that are no stop words capitalized, offsets unchanged:
    the small model finds names by their capitals ("ping rik" -> "ping Rik")."""
    if segment != segment.lower():
        return segment
    cased = _WORD.sub(
        lambda m: w if (w := m.group()) in STOP_WORDS or w in NOT_NAMES or w in _CHAT_WORDS else w[:1].upper() + w[1:], segment
    )
    return cased if len(cased) == len(segment) else segment


class NerEngine(SpacyNlpEngine):
    """Presidio's spaCy engine, cut down to what the analyzer needs from it: PERSON entities.

    Only the model's NER pipe is loaded (tagger, parser and lemmatizer would cost a third of the
    time), and NER only reads the sentences and lines that could name someone: those with a
    capitalized word after the first, or opening with a capitalized word that is no stop word
    ("Anna called", a signature's "Anna Smith"). That halves the text NER reads in support traffic
    and doubles throughput. A name opening an otherwise lowercase sentence that starts like "We ..."
    can't occur; one after "Thanks" is left to the sign-off rules and to propagation.
    The lowercased word stands in for the lemma in Presidio's context-word boosts.
    """

    def __init__(self, model: str):
        super().__init__(models=[{"lang_code": "en", "model_name": model}], ner_model_configuration=NerModelConfiguration())

    def load(self) -> None:
        name = self.models[0]["model_name"]
        path = spacy.util.get_package_path(name) if spacy.util.is_package(name) else Path(name)
        pipes = spacy.util.get_model_meta(path).get("components", [])
        nlp = spacy.load(name, exclude=[p for p in pipes if p != "ner"])
        if any("listener" in node.name for node in nlp.get_pipe("ner").model.walk()):
            nlp = spacy.load(name)  # this model's NER shares an encoder: keep the full pipeline
        labels = set(nlp.get_pipe("ner").labels)
        config = self.ner_model_configuration
        config.labels_to_ignore = sorted((labels | set(config.model_to_presidio_entity_mapping.values())) - {"PERSON", "PER"})
        self.nlp = {"en": nlp}

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return next(self.process_batch([text], language))[1]

    def process_batch(self, texts, language, batch_size=1, n_process=1, as_tuples=False):
        nlp = self.nlp[language]
        texts = [str(t) for t in texts]
        pieces = [[(s, e) for s, e in _segments(t) if _may_name(t[s:e])] for t in texts]
        ner_texts = ["\n".join(_cased(t[s:e]) for s, e in p) for t, p in zip(texts, pieces)]
        for text, spans, ner_doc in zip(texts, pieces, nlp.pipe(ner_texts, batch_size=batch_size, n_process=n_process)):
            doc = nlp.make_doc(text)
            starts = list(accumulate((e - s + 1 for s, e in spans[:-1]), initial=0))  # of each piece in ner_doc
            ents = []
            for ent in ner_doc.ents:
                if ent.label_ in self.ner_model_configuration.labels_to_ignore:
                    continue
                i = bisect_right(starts, ent.start_char) - 1
                s, e = spans[i]
                begin = s + ent.start_char - starts[i]
                span = doc.char_span(begin, min(e, begin + len(ent.text)), label=ent.label_, alignment_mode="expand")
                if span is not None:
                    ents.append(span)
            doc.ents = spacy.util.filter_spans(ents)
            yield text, self._doc_to_nlp_artifact(doc, language)

    def _doc_to_nlp_artifact(self, doc, language):
        # Presidio's version builds a Python Token per word twice over; arrays cost a tenth of that.
        lower, idx = doc.to_array([LOWER, IDX]).T.tolist()
        strings = doc.vocab.strings
        entities, scores = self._get_updated_entities(list(doc.ents), self._get_scores_for_entities(doc))
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=idx,
            lemmas=[strings[h] for h in lower],
            nlp_engine=self,
            language=language,
            scores=scores,
        )

    def is_stopword(self, word: str, language: str) -> bool:
        return word.lower() in STOP_WORDS

    def is_punct(self, word: str, language: str) -> bool:
        return bool(word) and all(unicodedata.category(c).startswith("P") for c in word)


def offline_tldextract() -> None:
    """Presidio's email check asks tldextract for the public suffix list, which it would fetch from
    the internet on first use (logging a ConnectionError offline): use the bundled snapshot."""
    import tldextract.tldextract as tx

    if tx.TLD_EXTRACTOR.suffix_list_urls:
        tx.TLD_EXTRACTOR = tx.TLDExtract(suffix_list_urls=(), cache_dir=None)

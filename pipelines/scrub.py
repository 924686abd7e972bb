"""Mask PII in message text with Presidio: typed placeholders, consistent within a conversation.

Detection is Presidio's AnalyzerEngine with a spaCy model cut down to its NER pipe (PERSON is all
we ask of spaCy), the predefined recognizers for the configured entity types, and our own rules for
what support traffic carries (local phone formats, ACC-/ORD- ids, internal hosts, API keys, street
addresses, names in greetings, sign-offs and mail headers). Recall beats precision: overlapping
detections are merged so nothing detected stays half visible, and a name or value found once in a
conversation is masked everywhere in it. Placeholders (`<PERSON_1>`) are numbered per context in
order of first appearance, so one person keeps one placeholder across a thread.

Never log or raise with text in the message: everything here may be PII.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
import unicodedata
from bisect import bisect_right
from collections import Counter
from itertools import accumulate
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

import apache_beam as beam
import regex
import spacy
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue
from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, LocalRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from spacy.attrs import IDX, LOWER
from spacy.lang.en.stop_words import STOP_WORDS

from loopline.config import ScrubConfig
from pipelines.guard import DEAD, ThreadStage
from pipelines.model import Event, Thread, message_text

FEEDBACK_FIELDS = ("prompt", "response", "comment")

# --------------------------------------------------------------------------- rules

_FLAGS = regex.MULTILINE
_I = _FLAGS | regex.IGNORECASE

# Letters, also as mojibake (UTF-8 read as cp1252: "é" -> "Ã©"), which raw text can carry.
_UP = r"(?:Ã[^\x00-\x7f]|\p{Lu})"
_LOW = r"(?:\p{Ll}|Ã[^\x00-\x7f])"
_LETTER = r"(?:\p{L}|Ã[^\x00-\x7f])"
# A capitalized name word (Anna, O'Neil, Jean-Pierre, Müller), never a prefix of a longer word.
_NAME_WORD = rf"(?:Mc|Mac|O['’]|D['’])?{_UP}{_LOW}+(?:['’-]{_UP}?{_LOW}+)*(?:-{_UP}\.)?(?![\p{{L}}\p{{N}}])"
_PARTICLE = r"(?:van|von|der|den|de|del|della|da|di|du|dos|das|la|le|zu|y|ter|ten|bin|ibn)"
_NAME = rf"{_NAME_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+)*(?:{_NAME_WORD}|{_UP}\.)){{0,3}}"
_TITLE = r"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Frau|M|Mme|Mlle|Sr|Sra|Srta|Don|Doña)\.?[ \t]+)?"
_BR = r"(?:[ \t]*(?:\r?\n|<br\s*/?>|</?(?:p|div|span)\b[^>]*>))+[ \t]*"  # a line break, plain or HTML
_EOL = r"(?=[ \t]*(?:\r?\n|<|$))"
_GREETING = (r"(?:Hi|Hello|Hey|Hiya|Dear|Good[ \t]+(?:morning|afternoon|evening|day)|Hallo|Liebe[rs]?|"
             r"Sehr[ \t]+geehrte[rs]?|Bonjour|Bonsoir|Salut|Cher|Chère|Hola|Buenos[ \t]+días|Buenas[ \t]+tardes|"
             r"Estimad[oa]|Querid[oa])")
_SIGNOFF = (r"(?:(?:Best|Kind|Warm|Warmest|Many)[ \t]+regards|Regards|Best[ \t]+wishes|Best|Thanks|Thank[ \t]+you|"
            r"Many[ \t]+thanks|Cheers|Sincerely|Yours[ \t]+(?:sincerely|truly|faithfully)|Take[ \t]+care|"
            r"All[ \t]+the[ \t]+best|Mit[ \t]+freundlichen[ \t]+Grüßen|Freundliche[ \t]+Grüße|(?:Viele|Beste|Liebe)"
            r"[ \t]+Grüße|Gruß|Grüße|Cordialement|Bien[ \t]+(?:à[ \t]+vous|cordialement)|Merci(?:[ \t]+d'avance)?|"
            r"Bonne[ \t]+journée|Salutations|Saludos|Un[ \t]+saludo|Atentamente|(?:Muchas[ \t]+)?[Gg]racias)")
# Words that follow "Hi"/"Dear" or end a letter without being anyone's name.
_NOT_NAMES = frozenset("""support team sir madam all everyone customer customers service services sales billing
    there folks guys colleague colleagues friend friends thanks thank good morning afternoon evening hello hi hey
    dear regards best kind cheers many sent get again please sorry yes no okay ok happy from the this that here
    admin administrator helpdesk desk department user users client clients partner partners specialist engineer
    manager lead officer director assistant coordinator agent representative
    mr mrs ms miss mx dr prof herr frau mme mlle sr sra srta
    von mit viele beste gruß grüße sie wenn und ich wir bitte danke outlook
    cordialement bien merci vous nous une bonjour saludos atentamente gracias una el hola""".split())

_STREET = (r"(?:Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Ln\.?|Drive|Dr\.?|Boulevard|Blvd\.?|Court|Ct\.?|Way|"
           r"Place|Pl\.?|Square|Sq\.?|Terrace|Close|Crescent|Parkway|Pkwy\.?|Highway|Hwy\.?|Trail|Circle|Row|Walk)")
_ADDR_LOWER = (r"(?:avenue|rue|boulevard|bd|chemin|place|allée|impasse|quai|route|cours|calle|de|del|la|las|los|le|les|"
               r"du|des|d['’]|sur|en|y|am|an|der|im|bei|apt\.?|suite|flat|unit)")
_ADDR_WORD = rf"(?:\d{{1,5}}[A-Za-z]?(?:[-/]\d{{1,5}}[A-Za-z]?)?|{_UP}(?:{_LETTER}|['’.\-])*|{_ADDR_LOWER}(?![\p{{L}}]))"
_ADDR_SEG = rf"{_ADDR_WORD}(?:[ \t]+{_ADDR_WORD}){{0,7}}"
_CITY_WORD = rf"{_UP}(?:{_LETTER}|['’\-])*"
_CITY = rf"{_CITY_WORD}(?:[ \t\-]+(?:{_CITY_WORD}|sur|la|le|les|de|du|en|am|an|der|im|bei))*"
_POSTAL_ALPHA = r"(?:[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})(?![\w])"
_POSTAL_ANY = rf"(?:{_POSTAL_ALPHA}|\d{{4,5}}(?:[ \t]+{_CITY})?(?![\w]))"


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _luhn(number: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(number)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card(s: str) -> bool | None:
    d = _digits(s)
    return True if 13 <= len(d) <= 19 and _luhn(d) else None


def _iban(s: str) -> bool | None:
    code = "".join(s.split()).upper()
    if 15 <= len(code) <= 34 and int("".join(str(int(c, 36)) for c in code[4:] + code[:4])) % 97 == 1:
        return True
    return None if s[:2].isupper() and len(code) >= 15 else False


def _phone(s: str) -> bool | None:
    if not 7 <= len(_digits(s)) <= 15:
        return False
    if regex.fullmatch(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{1,3}(?:\.\d{1,3}){3}", s):
        return False  # a date or an IPv4 address
    return None


def _ipv6(s: str) -> bool | None:
    try:
        ipaddress.IPv6Address(s.split("/")[0])
    except ValueError:
        return False
    return None


def _person(s: str) -> bool | None:
    return False if any(w.lower() in _NOT_NAMES for w in regex.findall(r"[\p{L}'’\-]+", s)) else None


_MONTH = (r"(?:jan(?:uary|vier|uar)?|janv|feb(?:ruary|ruar)?|févr(?:ier)?|mar(?:ch|s|zo)?|märz|apr(?:il)?|avr(?:il)?|"
          r"abr(?:il)?|may(?:o)?|mai|jun(?:e|i|io)?|juin|jul(?:y|i|io)?|juil(?:let)?|aug(?:ust)?|août|ago(?:sto)?|"
          r"sep(?:t|tember|tembre|tiembre)?|oct(?:ober|obre|ubre)?|okt(?:ober)?|nov(?:ember|embre|iembre)?|"
          r"dec(?:ember)?|dez(?:ember)?|déc(?:embre)?|dic(?:iembre)?|ene(?:ro)?)")
_DATE = regex.compile(rf"\b{_MONTH}\.?[ \t]+\d{{1,2}}\b|\b\d{{1,2}}\.?[ \t]+(?:de[ \t]+)?{_MONTH}\b", regex.IGNORECASE)


def _postal_address(s: str) -> bool | None:
    """Postal-code-anchored matches need a comma and a digit, and a date ("Monday, October 26, 2026") is none."""
    return None if "," in s and any(c.isdigit() for c in s) and not _DATE.search(s) else False


class _Rule(NamedTuple):
    entity: str
    pattern: str
    score: float
    check: Callable[[str], bool | None] | None = None  # True: confirmed (score 1.0), False: not this entity
    ignore_case: bool = True


_RULES = [
    _Rule("EMAIL_ADDRESS", r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", 0.9),
    # +CC, optional (area), then digit groups split by space/dot/dash: international and local styles
    _Rule("PHONE_NUMBER", r"(?<![\w+/.,-])(?:\+\d{1,3}[ \t.\-]?|\d{1,3}[ \t.\-]?(?=\())?(?:\(\d{1,5}\)[ \t.\-]?)?\d{1,5}"
                          r"(?:[ \t.\-\u00a0]\d{2,8}){1,5}(?![\w/-]|[.,]\d)", 0.5, _phone),
    _Rule("PHONE_NUMBER", r"(?<![\w+/.,-])(?:\+\d{1,3}[ \t.\-]?)?\(\d{1,5}\)[ \t.\-]?\d{3,8}(?![\w/-]|[.,]\d)",
          0.5, _phone),
    _Rule("PHONE_NUMBER", r"(?<![\w/.,-])\+?\d{9,15}(?![\w/-]|[.,]\d)", 0.35, _phone),
    _Rule("CREDIT_CARD", r"(?<![\w-])\d{4}(?:[ \-]?\d{4,6}){2}(?:[ \-]?\d{1,5})?(?![\w-])", 0.4, _card),
    _Rule("IBAN_CODE", r"(?<![\w])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![\w])", 0.4, _iban),
    _Rule("US_SSN", r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])", 0.5),
    _Rule("IP_ADDRESS", r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:/\d{1,2})?"
                        r"(?![\w]|\.\d)", 0.6),
    _Rule("IP_ADDRESS", r"(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:/\d{1,3})?(?![\w:])", 0.6, _ipv6),
    _Rule("ACCOUNT_NUMBER", r"\bACC[-_ ]?\d{4,}\b", 0.9),
    _Rule("ACCOUNT_NUMBER", r"\b(?:account|acct|customer)(?:[ \t]+(?:number|no\.?|id|#))?[ \t]*[:#]?[ \t]*"
                            r"(?P<v>(?=[A-Z\-]*\d)[A-Z0-9][A-Z0-9\-]{5,})\b", 0.6),
    _Rule("ORDER_NUMBER", r"\b(?:ORD|TCK|TKT|INV|PO|SO|RMA|CASE)-(?=[A-Z\-]*\d)[A-Z0-9]+(?:-[A-Z0-9]+)*\b", 0.9),
    _Rule("HOSTNAME", r"\b(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+(?:internal|local|localdomain|lan|corp|intranet|intra|"
                      r"home\.arpa)\b", 0.8),
    _Rule("HOSTNAME", r"\b(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+corp(?:\.[a-z0-9\-]+)+\b", 0.8),
    _Rule("API_KEY", r"\b(?:sk|pk|rk)_(?:live|test)_[a-z0-9]{8,}\b", 0.95),
    _Rule("API_KEY", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 0.95),
    _Rule("API_KEY", r"\bgh[pousr]_[a-z0-9]{30,}\b", 0.95),
    _Rule("API_KEY", r"\bxox[abprs]-[a-z0-9\-]{10,}", 0.95),
    _Rule("API_KEY", r"\beyJ[\w\-]+\.[\w\-]+\.[\w\-]+", 0.9),
    _Rule("API_KEY", r"\bAIza[\w\-]{30,}", 0.9),
    _Rule("API_KEY", r"(?<![\w/+=\-])[a-f0-9]{32,}(?![\w/+=\-])", 0.6),
    _Rule("API_KEY", r"(?<![\w/+=\-.])(?=[\w+/\-]*\d)(?=[\w+/\-]*[a-z])(?=[\w+/\-]*[A-Z])[\w+/\-]{24,}={0,2}"
                     r"(?![\w/+=\-])", 0.5, ignore_case=False),
    _Rule("API_KEY", r"\b(?:password|passwd|pwd|secret|token|api[_ \-]?key|client[_ ]secret)[ \t]*[:=][ \t]*"
                     r"(?P<v>[^\s,;]{6,})", 0.7),
    _Rule("STREET_ADDRESS", rf"(?<![\w\-/]){_ADDR_SEG}(?:[ \t]*,[ \t]*{_ADDR_SEG}){{0,4}}"
                            rf"(?:[ \t]*,[ \t]*{_POSTAL_ANY}|[ \t]+{_POSTAL_ALPHA})", 0.6, _postal_address, False),
    _Rule("STREET_ADDRESS", rf"\b\d{{1,5}}[A-Za-z]?[ \t]+(?:\p{{Lu}}[\p{{L}}'’.\-]*[ \t]+){{1,4}}{_STREET}(?![\p{{L}}])",
          0.5, None, False),
    _Rule("STREET_ADDRESS", r"\b\p{Lu}[\p{L}\-]*(?:straße|strasse|str\.|weg|allee|gasse|platz|ring|damm|ufer)[ \t]+"
                            r"\d{1,4}[a-z]?(?:[-/]\d{1,4})?\b", 0.5, None, False),
    _Rule("STREET_ADDRESS", r"\b\d{1,4}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?:rue|avenue|boulevard|bd|chemin|place|allée|"
                            r"impasse|quai|route)[ \t]+(?:(?:de|du|des|la|le|d['’])[ \t]*)*\p{Lu}[\p{L}\-]*"
                            r"(?:[ \t]+\p{Lu}[\p{L}\-]*){0,3}", 0.5, None, False),
    _Rule("STREET_ADDRESS", r"\b(?:Calle|Avenida|Av\.|Paseo|Plaza|Camino|Carrer|Ronda|Pasaje|Vía|Cañada|Callejón|"
                            r"Glorieta|Urbanización|Rambla|Alameda|Travesía|Carretera|Vial|Acceso)[ \t]+"
                            r"(?:(?:de|del|la|las|los)[ \t]+)*\p{Lu}[\p{L}\-]*(?:[ \t]+\p{Lu}[\p{L}\-]*){0,3}"
                            r"[ \t]+\d{1,4}\b",
          0.5, None, False),
    # names where letters put them: greetings, sign-offs, signatures, introductions, mail headers
    _Rule("PERSON", rf"\b{_GREETING}[ \t]+{_TITLE}(?P<v>{_NAME})(?=[ \t]*(?:[,!:;.]|\r?\n|<|$))", 0.8, _person, False),
    # (lookbehinds, so a rejected "Beste Grüße" after "Thanks," can still be the sign-off before the name)
    _Rule("PERSON", rf"(?<=(?:^|>)[ \t]*{_SIGNOFF}[ \t]*[,.!]?{_BR}{_TITLE})(?P<v>{_NAME}){_EOL}", 0.8, _person, False),
    _Rule("PERSON", rf"\b{_SIGNOFF}[ \t]*,[ \t]+(?P<v>{_NAME}){_EOL}", 0.8, _person, False),
    _Rule("PERSON", rf"(?<=^--[ \t]*{_BR})(?P<v>{_NAME}){_EOL}", 0.8, _person, False),
    _Rule("PERSON", rf"(?:\b[Mm]y[ \t]+name[ \t]+is|\b[Tt]his[ \t]+is|\bI['’]m|\bI[ \t]+am|\b[Ii]ch[ \t]+bin|"
                    rf"\b[Jj]e[ \t]+m['’]appelle|\b[Jj]e[ \t]+suis|\b[Mm]e[ \t]+llamo|\b[Mm]i[ \t]+nombre[ \t]+es)"
                    rf"[ \t]+(?P<v>{_NAME})", 0.7, _person, False),
    _Rule("PERSON", rf"(?:^|(?<=[.!?:,>][ \t]))(?P<v>{_NAME})(?=[ \t]+here[,!])", 0.7, _person, False),
    _Rule("PERSON", rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Frau|Mme|Mlle|Sr|Sra|Srta)\.?[ \t]+(?P<v>{_NAME})",
          0.8, _person, False),
    _Rule("PERSON", rf"(?P<v>{_NAME})[\"”]?[ \t]*\(?(?:<|&lt;)(?:mailto:)?[^\s<>@&]+@", 0.85, _person, False),
    _Rule("PERSON", rf"(?:,|\bAm\b[^\n]{{0,40}}?)[ \t]+(?P<v>{_NAME})[ \t]+(?:wrote|schrieb|a[ \t]+écrit|escribió)",
          0.85, _person, False),
    _Rule("PERSON", rf"^[ \t]*(?:From|To|Cc|Von|An|De|À|Para)[ \t]*:[ \t]*(?P<v>{_NAME})", 0.8, _person, False),
    _Rule("PERSON", rf"(?i:\b(?:attention[ \t]+of|attn\.?:?|c/o|my[ \t]+name,?|name:|contact[ \t]+person:?))[ \t]+"
                    rf"{_TITLE}(?P<v>{_NAME})", 0.8, _person, False),
]


class _RuleRecognizer(LocalRecognizer):
    """Our regex rules for one entity type, as a Presidio recognizer.

    Unlike PatternRecognizer, a rule can mask just its named group `v` (the name after "Hi") and a
    failed checksum lowers nothing: an unconfirmed card-like number is still masked at the rule's score.
    """

    def __init__(self, entity: str, rules: list[_Rule]):
        super().__init__(supported_entities=[entity], name=f"Loopline{entity.title().replace('_', '')}Recognizer")
        self.rules = [(regex.compile(r.pattern, _I if r.ignore_case else _FLAGS), r) for r in rules]
        self.metadata = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                         RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        for compiled, rule in self.rules:
            for m in compiled.finditer(text):
                start, end = m.span("v") if "v" in compiled.groupindex else m.span()
                verdict = rule.check(text[start:end]) if rule.check and end > start else None
                if end > start and verdict is not False:
                    results.append(RecognizerResult(rule.entity, start, end, 1.0 if verdict else rule.score,
                                                    recognition_metadata=self.metadata))
        return results


# --------------------------------------------------------------------------- NLP

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
    """A capitalized word after the first, or a capitalized first word that is no stop word."""
    words = segment.split()
    if not words:
        return False
    if any(_CAPITALIZED.match(w) for w in words[1:]):
        return True
    first = regex.sub(r"[^\p{L}]", "", words[0]).lower()
    return bool(_CAPITALIZED.match(words[0])) and first not in STOP_WORDS and first not in _NOT_NAMES


class _NerEngine(SpacyNlpEngine):
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
        super().__init__(models=[{"lang_code": "en", "model_name": model}],
                         ner_model_configuration=NerModelConfiguration())

    def load(self) -> None:
        name = self.models[0]["model_name"]
        path = spacy.util.get_package_path(name) if spacy.util.is_package(name) else Path(name)
        pipes = spacy.util.get_model_meta(path).get("components", [])
        nlp = spacy.load(name, exclude=[p for p in pipes if p != "ner"])
        if any("listener" in node.name for node in nlp.get_pipe("ner").model.walk()):
            nlp = spacy.load(name)  # this model's NER shares an encoder: keep the full pipeline
        labels = set(nlp.get_pipe("ner").labels)
        config = self.ner_model_configuration
        config.labels_to_ignore = sorted((labels | set(config.model_to_presidio_entity_mapping.values()))
                                         - {"PERSON", "PER"})
        self.nlp = {"en": nlp}

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return next(self.process_batch([text], language))[1]

    def process_batch(self, texts, language, batch_size=1, n_process=1, as_tuples=False):
        nlp = self.nlp[language]
        texts = [str(t) for t in texts]
        pieces = [[(s, e) for s, e in _segments(t) if _may_name(t[s:e])] for t in texts]
        ner_texts = ["\n".join(t[s:e] for s, e in p) for t, p in zip(texts, pieces)]
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
        return NlpArtifacts(entities=entities, tokens=doc, tokens_indices=idx, lemmas=[strings[h] for h in lower],
                            nlp_engine=self, language=language, scores=scores)

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


# --------------------------------------------------------------------------- scrubbing

class ScrubResult(NamedTuple):
    text: str              # the input with each entity replaced by its placeholder
    entities: list[dict]   # {type, start, end, score}: offsets into the input, sorted, non-overlapping
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
            engine = _NerEngine(config.spacy_model)
            engine.load()
            registry = RecognizerRegistry(supported_languages=["en"])
            registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
            registry.recognizers = [r for r in registry.recognizers
                                    if set(r.supported_entities) & wanted and r.name not in _SUPERSEDED]
            for entity in sorted(wanted & {r.entity for r in _RULES}):
                registry.add_recognizer(_RuleRecognizer(entity, [r for r in _RULES if r.entity == entity]))
            self.analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"],
                                           default_score_threshold=config.score_threshold)
        finally:
            presidio_log.setLevel(level)
        unknown = wanted - set(self.analyzer.get_supported_entities("en"))
        if unknown:
            raise ValueError(f"scrub.entities: no recognizer for {sorted(unknown)}")
        self.entities = sorted(wanted)
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
        todo = [i for i, t in enumerate(texts) if t.strip()]
        with self._lock:
            found = self._batch.analyze_iterator([texts[i] for i in todo], "en", batch_size=self.config.batch_size,
                                                 entities=self.entities, score_threshold=self.config.score_threshold)
        hits: list[list[Hit]] = [[] for _ in texts]
        for i, results in zip(todo, found):
            hits[i] = [Hit(r.start, r.end, r.entity_type, r.score) for r in results
                       if r.end > r.start and (r.entity_type != "PERSON" or _name_words(texts[i][r.start:r.end]))]
        return hits


# Our rules find all these do and more, at a fraction of the cost: tldextract rejects internal mail
# domains, and phonenumbers' matcher (a third of the analyzer's time) misses local formats.
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


_NAME_TOKEN = regex.compile(rf"{_NAME_WORD}", _FLAGS)


def _name_words(name: str) -> list[str]:
    """The words of a detected name that can stand for the person on their own ("Anna" of "Anna Smith")."""
    return [w for w in _NAME_TOKEN.findall(name)
            if len(w) > 1 and w.lower() not in _NOT_NAMES and w.lower() not in STOP_WORDS]


def _propagate(texts: list[str], hits: list[list[Hit]]) -> list[list[Hit]]:
    """Add every other occurrence, in any text of the context, of a value detected somewhere in it,
    and stretch names over the capitalized words that follow them on the line ("Anna" -> "Anna Smith").

    A name caught in a signature is then also masked in "Regards, Anna" where NER missed it. Name
    words match case-sensitively (a name in lowercase is an ordinary word), except in texts with no
    capitals at all, where case says nothing.
    """
    values: dict[str, Hit] = {}   # lowercased value -> where it was found
    words: dict[str, float] = {}    # name word -> score
    for text, text_hits in zip(texts, hits):
        for h in text_hits:
            value = text[h.start:h.end]
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
            found += [Hit(m.start(), m.end(), h.type, h.score) for m in by_value.finditer(text)
                      if (h := values.get(m.group().lower()))]
        word_rx = by_word_any_case if text == text.lower() else by_word
        if word_rx:
            found += [Hit(m.start(), m.end(), "PERSON", word_scores[m.group().lower()]) for m in word_rx.finditer(text)
                      if m.group().lower() in word_scores]
        out.append([_extend_name(text, h) if h.type == "PERSON" else h for h in found])
    return out


_NAME_TAIL = regex.compile(rf"(?:[ \t]+(?:{_PARTICLE}[ \t]+)*{_NAME_WORD}){{1,3}}", _FLAGS)


def _extend_name(text: str, hit: Hit) -> Hit:
    m = _NAME_TAIL.match(text, hit.end)
    if m and _person(m.group()) is None:
        return hit._replace(end=m.end())
    return hit


# Which type names a merged span when no detection is confirmed (checksum) and lengths tie.
_PRIORITY = {t: i for i, t in enumerate(["CREDIT_CARD", "IBAN_CODE", "US_SSN", "API_KEY", "EMAIL_ADDRESS",
                                         "IP_ADDRESS", "ACCOUNT_NUMBER", "ORDER_NUMBER", "HOSTNAME", "PHONE_NUMBER",
                                         "STREET_ADDRESS", "PERSON"])}


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
            words = {w for w in regex.findall(r"\p{L}[\p{L}'’\-]*", value.casefold()) if w not in _NOT_NAMES} or {value}
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
        parts += [text[pos:e.start], names(e.type, text[e.start:e.end])]
        pos = e.end
    parts.append(text[pos:])
    return ScrubResult("".join(parts),
                       [{"type": e.type, "start": e.start, "end": e.end, "score": round(e.score, 3)} for e in entities],
                       dict(Counter(e.type for e in entities)))


# --------------------------------------------------------------------------- Beam

def _texts(event: Event) -> list[str | None]:
    """What gets scrubbed: the cleaned text (raw body if clean did not run), or a feedback's fields."""
    if event.kind == "feedback":
        return [event.record.get(f) for f in FEEDBACK_FIELDS]
    return [event.text if event.text is not None else message_text(event)]


def _scrubbed(event: Event, results: list[ScrubResult | None]) -> Event:
    counts = Counter()
    for r in results:
        if r is not None:
            counts.update(r.counts)
    pii = tuple(sorted(counts.items()))
    if event.kind == "feedback":
        record = dict(event.record, **{f: r.text if r else event.record.get(f)
                                       for f, r in zip(FEEDBACK_FIELDS, results)})
        return event._replace(record=record, pii_counts=pii)
    return event._replace(text=results[0].text, pii_counts=pii)


class _Scrub(ThreadStage):
    """Scrubs the threads of a bundle in batches of about `batch_size` texts (13% more texts/s than
    thread by thread on simulated traffic, ~3.6 messages a thread). Buffered threads go out with their
    own timestamp and window; if a batch fails, its threads are redone one by one through
    Guarded.process, so only the bad one is dead-lettered."""

    stage = "scrub"

    def __init__(self, config: ScrubConfig):
        self.config = config
        self.messages = Metrics.counter("loopline", "scrub.messages")
        self.entity_counters: dict[str, object] = {}

    def setup(self):
        self.scrubber = scrubber(self.config)

    def start_bundle(self):
        self.pending: list[tuple[Thread, object, object]] = []
        self.pending_texts = 0

    def handle(self, thread: Thread):
        return self._scrub([thread])

    def process(self, thread: Thread, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        self.pending.append((thread, timestamp, window))
        self.pending_texts += len(thread.events)
        if self.pending_texts >= self.config.batch_size:
            yield from self._flush()

    def finish_bundle(self):
        yield from self._flush()

    def _flush(self):
        pending, self.pending, self.pending_texts = self.pending, [], 0
        if not pending:
            return
        try:
            outputs = [[t] for t in self._scrub([thread for thread, _, _ in pending])]
        except Exception:  # noqa: BLE001 - isolate the failing thread; Guarded.process dead-letters it
            outputs = [list(super(_Scrub, self).process(thread)) for thread, _, _ in pending]
        for outs, (_, timestamp, window) in zip(outputs, pending):
            for out in outs:
                if isinstance(out, TaggedOutput):
                    yield TaggedOutput(out.tag, WindowedValue(out.value, timestamp, (window,)))
                else:
                    yield WindowedValue(out, timestamp, (window,))

    def _scrub(self, threads: list[Thread]) -> list[Thread]:
        slots, texts, contexts = [], [], []  # slots: (thread, event, field) of each text
        for t, thread in enumerate(threads):
            for e, event in enumerate(thread.events):
                for f, text in enumerate(_texts(event)):
                    if text is not None:
                        slots.append((t, e, f))
                        texts.append(text)
                        contexts.append(str(t))
        results = self.scrubber.scrub_batch(texts, contexts)
        per_event: dict[tuple[int, int], list] = {}
        for (t, e, f), r in zip(slots, results):
            per_event.setdefault((t, e), [None] * len(FEEDBACK_FIELDS))[f] = r
        out = []
        for t, thread in enumerate(threads):
            events = tuple(_scrubbed(event, per_event[(t, e)]) for e, event in enumerate(thread.events))
            out.append(thread._replace(events=events))
        for thread in out:
            for event in thread.events:
                self.messages.inc()
                for entity, n in event.pii_counts:
                    self._counter(entity).inc(n)
        return out

    def _counter(self, entity: str):
        if entity not in self.entity_counters:
            self.entity_counters[entity] = Metrics.counter("loopline", f"scrub.entities.{entity}")
        return self.entity_counters[entity]


class ScrubThreads(beam.PTransform):
    """Threads -> Threads with PII masked (main tag "threads") and dead letters (tag DEAD).

    Each thread is one placeholder context: the same person is <PERSON_1> in every message of it.
    Messages get `text` and `pii_counts`; feedback events get a new record with prompt, response
    and comment scrubbed."""

    def __init__(self, config: ScrubConfig):
        super().__init__()
        self.config = config

    def expand(self, threads):
        return threads | "Scrub" >> beam.ParDo(_Scrub(self.config)).with_outputs(DEAD, main="threads")


# --------------------------------------------------------------------------- `loopline scrub`

def filter_lines(lines: Iterable[str], config: ScrubConfig) -> Iterator[str]:
    """JSON lines {"id", "text"} -> {"id", "text" (scrubbed), "entities": [{type, start, end, score}]},
    one per input line in order (blank lines skipped); each line is its own context. A bad line
    yields {"id", "error"} and the stream goes on. Same code path as the pipeline."""
    scrub = scrubber(config)
    pending: list[tuple[object, str | None, str | None]] = []  # (id, text, error)

    def flush():
        texts = [text for _, text, error in pending if error is None]
        results = iter(scrub.scrub_batch(texts, [str(i) for i in range(len(texts))]))
        for id_, _, error in pending:
            if error is not None:
                yield json.dumps({"id": id_, "error": error}, ensure_ascii=False)
            else:
                r = next(results)
                yield json.dumps({"id": id_, "text": r.text, "entities": r.entities}, ensure_ascii=False)
        pending.clear()

    for line in lines:
        if line.strip():
            pending.append(_parse_line(line))
        if len(pending) >= config.batch_size:
            yield from flush()
    yield from flush()


def _parse_line(line: str) -> tuple[object, str | None, str | None]:
    """(id, text, None) or (id or None, None, reason); reasons never quote the line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return None, None, f"invalid_json: {e.msg} at column {e.colno}"
    if not isinstance(obj, dict):
        return None, None, f"invalid_record: expected a JSON object, got {type(obj).__name__}"
    id_ = obj.get("id")
    if isinstance(id_, (dict, list)):
        return None, None, "invalid_record: id must be a string, number or null"
    if not isinstance(obj.get("text"), str):
        return id_, None, "invalid_record: text must be a string"
    return id_, obj["text"], None

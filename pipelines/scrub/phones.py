"""Phone numbers as libphonenumber reads them: national formats of many regions, international ones,
extensions ("x412", "ext. 12") kept inside the span. Hand-written patterns missed formats their author
had not seen (`+358 007072450`, `(06)74/137-3630`, `0352 693024 extension 24`); phonenumbers knows the
numbering plans. Our checks reject what it would take for a number in plain text: dates, IPv4
addresses, digits glued to ids ("INC8190922", "v1.17.56") or labelled as one ("order 94616-88"), amounts,
and runs too short to be a phone."""

from __future__ import annotations

import phonenumbers
import regex
from phonenumbers import Leniency, PhoneNumberMatcher
from presidio_analyzer import LocalRecognizer, RecognizerResult

# Where support traffic comes from; a national number is found if any of these regions reads it.
DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "FI", "PT", "HU", "ES", "IT", "NL", "SE", "IN", "AU", "CA", "BR")

# A cheap superset of what the matcher could take: only these stretches are handed to it, once per
# region, so text without a phone-like run costs one regex scan instead of one matcher pass per region.
_CANDIDATE = regex.compile(
    r"[(+]*\d[\d \t\u00a0().\-/+]{4,}\d(?:[ \t]*,?[ \t]*(?:ext\.?|extension|x|\#)[ \t]*\d{1,6})?", regex.IGNORECASE
)
_DATE_OR_IPV4 = regex.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{1,3}(?:\.\d{1,3}){3}")
_GLUED_BEFORE = regex.compile(r"(?:[\w+/\-$€£¥#]|\d[.,])\Z")  # part of an id, version, amount or path
_GLUED_AFTER = regex.compile(r"^(?:[\w/\-€]|[.,]\d)")
# A label that makes the number that follows an id: "order 94616-88", "PO 4500123456", "part 123-4567-89".
_ID_LABEL = regex.compile(
    r"\b(?:order|invoice|inv|ticket|case|ref|reference|po|part|serial|sn|rma|sku|tracking|incident|id|account|acct)\.?"
    r"(?:[ \t]*(?:no\.?|nr\.?|number|\#|id))?[ \t]*[:#]?[ \t]*\Z",
    regex.IGNORECASE,
)
VALID_SCORE, POSSIBLE_SCORE = 0.7, 0.5


def _plausible(text: str, start: int, end: int, main_digits: int) -> bool:
    """Whether the matcher's hit text[start:end] stands alone in the text as a phone number would."""
    value = text[start:end]
    if not 7 <= main_digits <= 15 or _DATE_OR_IPV4.fullmatch(value):
        return False
    before = text[max(0, start - 30) : start]
    return not _GLUED_BEFORE.search(before) and not _GLUED_AFTER.match(text[end : end + 2]) and not _ID_LABEL.search(before)


class PhoneNumberRecognizer(LocalRecognizer):
    """PHONE_NUMBER from phonenumbers' matcher over `regions`, at `leniency` (POSSIBLE: length fits the
    plan, so fictional and unassigned numbers count too; VALID: the number is assigned). A number valid as read
    scores VALID_SCORE, one that is only possible POSSIBLE_SCORE; regions are tried in order until every
    digit of a phone-like stretch is in an accepted number."""

    def __init__(self, regions: tuple[str, ...] = DEFAULT_REGIONS, leniency: Leniency = Leniency.POSSIBLE):
        super().__init__(supported_entities=["PHONE_NUMBER"], name="LooplinePhoneNumberRecognizer")
        self.regions = regions
        self.leniency = leniency
        self.metadata = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        found: dict[tuple[int, int], float] = {}
        for candidate in _CANDIDATE.finditer(text):
            if sum(c.isdigit() for c in candidate.group()) < 7 or _DATE_OR_IPV4.fullmatch(candidate.group()):
                continue  # nothing in it could pass _plausible()
            offset = max(0, candidate.start() - 1)  # one character of context, for the matcher's own checks
            window = text[offset : candidate.end() + 1]
            uncovered = {i for i in range(*candidate.span()) if text[i].isdigit()}
            for region in self.regions:  # in order, until every digit of the stretch is in a number
                for m in PhoneNumberMatcher(window, region, leniency=self.leniency):
                    start, end = offset + m.start, offset + m.end
                    digits = sum(c.isdigit() for c in m.raw_string) - len(m.number.extension or "")
                    if _plausible(text, start, end, digits):
                        score = VALID_SCORE if phonenumbers.is_valid_number(m.number) else POSSIBLE_SCORE
                        found[(start, end)] = max(score, found.get((start, end), 0.0))
                        uncovered.difference_update(range(start, end))
                if not uncovered:
                    break
        return [
            RecognizerResult("PHONE_NUMBER", start, end, score, recognition_metadata=self.metadata)
            for (start, end), score in sorted(found.items())
        ]

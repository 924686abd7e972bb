"""Signature blocks that no "-- " or sign-off announces, found by the shape of a message's last lines.

A block is a run of at most MAX_LINES short lines at the end of the body that mostly look like signature
lines: a name or company (capitalised words), a job title, phones (phonenumbers' matcher, not regexes),
emails, URLs, social handles, street or postcode lines, pronouns. It is cut only when it opens with who
the sender is, holds contact details or a role, and the body above keeps lines that are not signature
lines. A block introduced by a line ending in ":" ("ship it to:") is content the sender is giving.
"""

from __future__ import annotations

import re

import phonenumbers

MAX_LINES = 8
MIN_SHARE = 0.75  # of a block's lines that must look like signature lines
MAX_LINE_CHARS = 100
PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES")  # for numbers written without a country code

_PARTS = re.compile(r"\s*(?:[|•·,;]|\s[–—-]\s)\s*")
_PRONOUNS = re.compile(r"\(?\b(?:she|he|they|ze|xe)/(?:her|him|them|hers|his|theirs|zir|xem)(?:/\w+)?\)?", re.I)
_LABEL = r"(?:[^\W\d_][\w.-]{0,15}[ \t]*:?[ \t]*)?"  # "E-Mail:", "Tel.", "M", "LinkedIn:"
_EMAIL = re.compile(rf"{_LABEL}[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(rf"{_LABEL}(?:https?://|www\.)\S+|{_LABEL}[\w-]+(?:\.[\w-]+)*\.[a-z]{{2,}}(?:/\S*)?")
_HANDLE = re.compile(r"@\w{2,30}")
_PHONE_LABELS = re.compile(
    r"\b(?:tel|telephone|phone|ph|mobile|mob|cell|fax|direct|office|work|main|handy|telefon|fon|tél|téléphone|portable"
    r"|móvil|movil|teléfono|telefono|ext|[tmfodpwx])\b|[\s:.+()/-]",
    re.I,
)
_STREET_WORDS = (
    r"(?:street|st|road|rd|avenue|ave|boulevard|blvd|lane|ln|way|drive|dr|place|pl|square|sq|court|ct|parkway|pkwy|"
    r"suite|floor|unit|building|rue|chemin|calle|avenida|plaza|paseo|via|viale|piazza|straße|strasse|str|weg|platz|allee"
    r"|[\w'-]*(?:straße|strasse|gatan|vägen|straat|gasse|platz|allee))\.?"
)
_STREET = re.compile(
    rf"\d+[a-z]?,?\s+(?:[\w'.-]+\s+){{0,3}}{_STREET_WORDS}(?:\s+[\w'.-]+){{0,3}}"  # 12 Harbour Street, 8 rue de Rivoli
    rf"|(?:[\w'.-]+\s+){{0,3}}{_STREET_WORDS}(?:\s+[\w'.-]+){{0,3}}\s+\d+[a-z]?",  # Hauptstraße 5, Calle de Alcalá 42
    re.I,
)
_CITY = r"[A-ZÀ-ÖØ-Þ][\w'.-]*(?:[ -][A-ZÀ-ÖØ-Þ][\w'.-]*){0,3}"  # capitalised words: "2026 was" is no city
_POSTCODE_CITY = re.compile(
    rf"(?:\d{{4,5}}|\d{{3}} \d{{2}}|[A-Z]{{1,2}}-\d{{4,5}})\s+{_CITY}"  # 10115 Berlin, 114 51 Stockholm
    rf"|{_CITY},?\s+(?:[A-Z]{{2}}\s+)?(?:\d{{5}}(?:-\d{{4}})?|[A-Z]{{1,2}}\d[A-Z\d]? ?\d[A-Z]{{2}})"  # CA 94105, EC1A 1BB
)
_ROLES = (
    r"manager|director|directora|directeur|directrice|engineer|specialist|lead|vp|head|officer|ceo|cto|cfo|coo|cio|"
    r"founder|co-founder|president|consultant|analyst|coordinator|administrator|representative|agent|associate|"
    r"assistant|developer|architect|designer|executive|supervisor|technician|chief|intern|recruiter|accountant|"
    r"advisor|adviser|partner|owner|gerente|jefe|jefa|ingeniero|ingeniera|responsable|berater|beraterin|"
    r"geschäftsführer|geschäftsführerin|referent|referentin"
)
_ROLE = re.compile(rf"\b(?:{_ROLES})\b|\w(?:leiter|leiterin|manager|managerin)\b", re.I)
_TITLE_CONTEXT = re.compile(r"\b(?:support|sales|team|operations|success|account|service|customer|kundenservice)\b", re.I)
_SMALL_WORDS = re.compile(r"(?:of|and|&|for|at|de|del|des|du|la|le|y|für|und|van|von|der|den|da|di|bin|al)", re.I)
_COMPANY = re.compile(
    r"\b(?:ltd|inc|gmbh|llc|ag|ab|sa|s\.a|s\.l|sl|sas|bv|b\.v|nv|plc|corp|co|limited|oy|aps|as|a/s|srl|s\.r\.l|pty|kg)\.?$",
    re.I,
)
_WORD = re.compile(r"[^\W\d_][\w'’.&/-]*")


def signature_start(text: str) -> int | None:
    """Offset in `text` where a trailing signature block starts, or None when its last lines are content."""
    lines = [(m.start(), m.group().strip()) for m in re.finditer(r"[^\n]+", text) if m.group().strip()]
    if not lines or not _line_kinds(lines[-1][1]):
        return None
    kinds = [_line_kinds(line) for _, line in lines]
    for first in range(max(1, len(lines) - MAX_LINES), len(lines)):
        block, above = kinds[first:], kinds[:first]
        if (
            "identity" in block[0]
            and (len(block) == 1 or block[1])  # a name followed by an odd line is not a signature's opening
            and sum(bool(k) for k in block) >= MIN_SHARE * len(block)
            and sum(len(k.get("parts", ())) for k in block) >= 2
            and any("strong" in k for k in block)
            and not all(above)  # the body above keeps a line that is no signature line
            and not lines[first - 1][1].endswith(":")
        ):
            return lines[first][0]
    return None


def _line_kinds(line: str) -> dict:
    """{"parts": [kind per part], "identity"?: first part says who, "strong"?: a contact detail or role}; {} for
    a line that is no signature line (a sentence, too long, a part no signature holds)."""
    if len(line) > MAX_LINE_CHARS:
        return {}
    parts = [_part_kind(part) for part in _PARTS.split(line) if part]
    if not parts or None in parts:
        return {}
    kinds: dict = {"parts": parts}
    if parts[0] in ("name", "title", "role", "company") and "address" not in parts:  # "New York, NY 10001" says where
        kinds["identity"] = True
    if any(p in ("phone", "email", "url", "handle", "address", "role", "company") for p in parts):
        kinds["strong"] = True
    return kinds


def _part_kind(part: str) -> str | None:
    """What one separated part of a line is, or None when it is nothing a signature holds."""
    part = _PRONOUNS.sub("", part).strip()
    if not part:
        return "pronouns"
    for kind, pattern in (("email", _EMAIL), ("url", _URL), ("handle", _HANDLE)):
        if pattern.fullmatch(part):
            return kind
    if _is_phone(part):
        return "phone"
    if _STREET.fullmatch(part) or _POSTCODE_CITY.fullmatch(part):
        return "address"
    words = part.split()
    if len(words) > 6 or not all(_capitalised(w) or _SMALL_WORDS.fullmatch(w) for w in words):
        return None
    if _ROLE.search(part):
        return "role"
    if _COMPANY.search(part):
        return "company"
    if _TITLE_CONTEXT.search(part):
        return "title"
    return "name" if len(words) <= 4 else None


def _capitalised(word: str) -> bool:
    """A name's word: "Lindqvist", "O'Brien", "Dr.", "J.", "GmbH"; not "we", "5pm", "Thanks!"."""
    return word[0].isupper() and bool(_WORD.fullmatch(word)) and not any(c.isdigit() for c in word)


def _is_phone(part: str) -> bool:
    """One or more phone numbers with only labels around them ("T: +46 8 123 456 78", "Mobile 030 12345678")."""
    if sum(c.isdigit() for c in part) < 6:
        return False
    return any(_only_labels_around(part, phonenumbers.PhoneNumberMatcher(part, region)) for region in PHONE_REGIONS)


def _only_labels_around(part: str, matches) -> bool:
    """True when `matches` found a number and what lies outside them is phone labels and punctuation."""
    spans = [(m.start, m.end) for m in matches]
    rest = "".join(part[end:start] for (_, end), (start, _) in zip([(0, 0), *spans], [*spans, (len(part), 0)]))
    return bool(spans) and not _PHONE_LABELS.sub("", rest)

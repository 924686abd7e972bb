"""What our own recognizers look for: regex rules for what support traffic carries, with the checks
(Luhn, IBAN mod 97, words that are no names) that confirm or reject a match. Presidio runs them beside
spaCy's NER (ner.py) and the phone matcher (phones.py); scrubber.py also reuses the name patterns to
spread a detected name over a conversation."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import NamedTuple

import regex
from presidio_analyzer import LocalRecognizer, RecognizerResult
from spacy.lang.en.stop_words import STOP_WORDS

FLAGS = regex.MULTILINE
_I = FLAGS | regex.IGNORECASE

# Letters, also as mojibake (UTF-8 read as cp1252: "é" -> "Ã©"), which raw text can carry.
_UP = r"(?:Ã[^\x00-\x7f]|\p{Lu})"
_LOW = r"(?:\p{Ll}|Ã[^\x00-\x7f])"
_LETTER = r"(?:\p{L}|Ã[^\x00-\x7f])"
# A capitalized name word (Anna, O'Neil, Jean-Pierre, Müller), never a prefix of a longer word.
NAME_WORD = rf"(?:Mc|Mac|O['’]|D['’])?{_UP}{_LOW}+(?:['’-]{_UP}?{_LOW}+)*(?:-{_UP}\.)?(?![\p{{L}}\p{{N}}])"
PARTICLE = r"(?:van|von|der|den|de|del|della|da|di|du|dos|das|la|le|zu|y|ter|ten|bin|ibn)"
_NAME = rf"{NAME_WORD}(?:[ \t]+(?:{PARTICLE}[ \t]+)*(?:{NAME_WORD}|{_UP}\.)){{0,3}}"
_TITLE = r"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Frau|M|Mme|Mlle|Sr|Sra|Srta|Don|Doña)\.?[ \t]+)?"
_BR = r"(?:[ \t]*(?:\r?\n|<br\s*/?>|</?(?:p|div|span)\b[^>]*>))+[ \t]*"  # a line break, plain or HTML
_EOL = r"(?=[ \t]*(?:\r?\n|<|$))"
_GREETING = (
    r"(?:Hi|Hello|Hey|Hiya|Dear|Welcome|Good[ \t]+(?:morning|afternoon|evening|day)|Hallo|Liebe[rs]?|"
    r"Sehr[ \t]+geehrte[rs]?|Bonjour|Bonsoir|Salut|Cher|Chère|Hola|Buenos[ \t]+días|Buenas[ \t]+tardes|"
    r"Estimad[oa]|Querid[oa])"
)
_SIGNOFF = (
    r"(?:(?:Best|Kind|Warm|Warmest|Many)[ \t]+regards|Regards|Best[ \t]+wishes|Best|Thanks|Thank[ \t]+you|"
    r"Many[ \t]+thanks|Cheers|Sincerely|Yours[ \t]+(?:sincerely|truly|faithfully)|Take[ \t]+care|"
    r"All[ \t]+the[ \t]+best|Mit[ \t]+freundlichen[ \t]+Grüßen|Freundliche[ \t]+Grüße|(?:Viele|Beste|Liebe)"
    r"[ \t]+Grüße|Gruß|Grüße|Cordialement|Bien[ \t]+(?:à[ \t]+vous|cordialement)|Merci(?:[ \t]+d'avance)?|"
    r"Bonne[ \t]+journée|Salutations|Saludos|Un[ \t]+saludo|Atentamente|(?:Muchas[ \t]+)?[Gg]racias)"
)
# Words that follow "Hi"/"Dear" or end a letter without being anyone's name.
NOT_NAMES = frozenset(
    """support team sir madam all everyone customer customers service services sales billing
    there folks guys colleague colleagues friend friends thanks thank good morning afternoon evening hello hi hey
    dear regards best kind cheers many sent get again please sorry yes no okay ok happy from the this that here
    admin administrator helpdesk desk department user users client clients partner partners specialist engineer
    voicemail aboard back manager lead officer director assistant coordinator agent representative
    mr mrs ms miss mx dr prof herr frau mme mlle sr sra srta
    von mit viele beste gruß grüße sie wenn und ich wir bitte danke outlook
    cordialement bien merci vous nous une bonjour saludos atentamente gracias una el hola""".split()
)

_STREET = (
    r"(?:Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Ln\.?|Drive|Dr\.?|Boulevard|Blvd\.?|Court|Ct\.?|Way|"
    r"Place|Pl\.?|Square|Sq\.?|Terrace|Close|Crescent|Parkway|Pkwy\.?|Highway|Hwy\.?|Trail|Circle|Row|Walk)"
)
_ADDR_LOWER = (
    r"(?:avenue|rue|boulevard|bd|chemin|place|allée|impasse|quai|route|cours|calle|de|del|la|las|los|le|les|"
    r"du|des|d['’]|sur|en|y|am|an|der|im|bei|apt\.?|suite|flat|unit|da|do|das|dos|di|e|"
    r"utca|út|útja|tér|köz|körút|sor|piano|van|het)"
)
_ADDR_WORD = rf"(?:\d{{1,5}}[A-Za-zªº]?(?:[-/]\d{{1,5}}[A-Za-z]?)?\.?|{_UP}(?:{_LETTER}|['’.\-])*|{_ADDR_LOWER}(?![\p{{L}}]))"
_ADDR_SEG = rf"{_ADDR_WORD}(?:[ \t]+{_ADDR_WORD}){{0,7}}"
_CITY_WORD = rf"(?:['’]t[ \t]+|['’]s-)?{_UP}(?:{_LETTER}|['’\-])*"
_CITY = (
    rf"{_CITY_WORD}(?:[ \t\-]+(?:{_CITY_WORD}|sur|la|le|les|de|du|en|am|an|der|im|bei|da|do|das|dos|di|del|e))*"
    r"(?:[ \t]*\([A-Z]{2}\)|[ \t]*/[ \t]*[A-Z]{2})?"  # Italian "(TN)", Brazilian "/ SP": the province or state
)
_POSTAL_ALPHA = r"(?:[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})(?![\w])"
# Postcodes before the city: "94257", "H-8367" (Hungary), "1532-301" (Portugal), "72883-108" (Brazil), "2510 SK" (NL).
_POSTCODE = r"(?:\d{4}[ \t]?[A-Z]{2}|(?:[A-Z]{1,2}-)?\d{4,5}(?:-\d{3,4})?|\d{8})(?![\w\-])"
_POSTAL_ANY = rf"(?:{_POSTAL_ALPHA}|{_POSTCODE}(?:[ \t]*,?[ \t]+{_CITY})?(?![\w])|{_CITY}[ \t]*[-,]?[ \t]*\d{{6}}(?![\w]))"


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


def _ipv6(s: str) -> bool | None:
    try:
        ipaddress.IPv6Address(s.split("/")[0])
    except ValueError:
        return False
    return None


def check_person(s: str) -> bool | None:
    return False if any(w.lower() in NOT_NAMES for w in regex.findall(r"[\p{L}'’\-]+", s)) else None


_MONTH = (
    r"(?:jan(?:uary|vier|uar)?|janv|feb(?:ruary|ruar)?|févr(?:ier)?|mar(?:ch|s|zo)?|märz|apr(?:il)?|avr(?:il)?|"
    r"abr(?:il)?|may(?:o)?|mai|jun(?:e|i|io)?|juin|jul(?:y|i|io)?|juil(?:let)?|aug(?:ust)?|août|ago(?:sto)?|"
    r"sep(?:t|tember|tembre|tiembre)?|oct(?:ober|obre|ubre)?|okt(?:ober)?|nov(?:ember|embre|iembre)?|"
    r"dec(?:ember)?|dez(?:ember)?|déc(?:embre)?|dic(?:iembre)?|ene(?:ro)?)"
)
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


RULES = [
    _Rule("EMAIL_ADDRESS", r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", 0.9),
    _Rule("CREDIT_CARD", r"(?<![\w-])\d{4}(?:[ \-]?\d{4,6}){2}(?:[ \-]?\d{1,5}){0,2}(?![\w-])", 0.4, _card),
    _Rule("IBAN_CODE", r"(?<![\w])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![\w])", 0.4, _iban),
    _Rule("US_SSN", r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])", 0.5),
    _Rule(
        "IP_ADDRESS",
        r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:/\d{1,2})?"
        r"(?![\w]|\.\d)",
        0.6,
    ),
    _Rule("IP_ADDRESS", r"(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:/\d{1,3})?(?![\w:])", 0.6, _ipv6),
    _Rule("ACCOUNT_NUMBER", r"\bACC[-_ ]?\d{4,}\b", 0.9),
    _Rule(
        "ACCOUNT_NUMBER",
        r"\b(?:account|acct|customer)(?:[ \t]+(?:number|no\.?|id|#))?[ \t]*[:#]?[ \t]*"
        r"(?P<v>(?=[A-Z\-]*\d)[A-Z0-9][A-Z0-9\-]{5,})\b",
        0.6,
    ),
    _Rule("ORDER_NUMBER", r"\b(?:ORD|TCK|TKT|INV|PO|SO|RMA|CASE)-(?=[A-Z\-]*\d)[A-Z0-9]+(?:-[A-Z0-9]+)*\b", 0.9),
    _Rule(
        "HOSTNAME",
        r"\b(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+(?:internal|local|localdomain|lan|corp|intranet|intra|"
        r"home\.arpa)\b",
        0.8,
    ),
    _Rule("HOSTNAME", r"\b(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+corp(?:\.[a-z0-9\-]+)+\b", 0.8),
    _Rule("API_KEY", r"\b(?:sk|pk|rk)_(?:live|test)_[a-z0-9]{8,}\b", 0.95),
    _Rule("API_KEY", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 0.95),
    _Rule("API_KEY", r"\bgh[pousr]_[a-z0-9]{30,}\b", 0.95),
    _Rule("API_KEY", r"\bxox[abprs]-[a-z0-9\-]{10,}", 0.95),
    _Rule("API_KEY", r"\beyJ[\w\-]+\.[\w\-]+\.[\w\-]+", 0.9),
    _Rule("API_KEY", r"\bAIza[\w\-]{30,}", 0.9),
    _Rule("API_KEY", r"(?<![\w/+=\-])[a-f0-9]{32,}(?![\w/+=\-])", 0.6),
    _Rule(
        "API_KEY",
        r"(?<![\w/+=\-.])(?=[\w+/\-]*\d)(?=[\w+/\-]*[a-z])(?=[\w+/\-]*[A-Z])[\w+/\-]{24,}={0,2}"
        r"(?![\w/+=\-])",
        0.5,
        ignore_case=False,
    ),
    _Rule(
        "API_KEY",
        r"\b(?:password|passwd|pwd|secret|token|api[_ \-]?key|client[_ ]secret)[ \t]*[:=][ \t]*"
        r"(?P<v>[^\s,;]{6,})",
        0.7,
    ),
    _Rule(
        "STREET_ADDRESS",
        rf"(?<![\w\-/]){_ADDR_SEG}(?:[ \t]*,[ \t]*{_ADDR_SEG}){{0,4}}"
        rf"(?:[ \t]*,[ \t]*{_POSTAL_ANY}|[ \t]+{_POSTAL_ALPHA})",
        0.6,
        _postal_address,
        False,
    ),
    _Rule(
        "STREET_ADDRESS",
        rf"\b\d{{1,5}}[A-Za-z]?[ \t]+(?:\p{{Lu}}[\p{{L}}'’.\-]*[ \t]+){{1,4}}{_STREET}(?![\p{{L}}])",
        0.5,
        None,
        False,
    ),
    _Rule(
        "STREET_ADDRESS",
        r"\b\p{Lu}[\p{L}\-]*(?:straße|strasse|str\.|weg|allee|gasse|platz|ring|damm|ufer)[ \t]+"
        r"\d{1,4}[a-z]?(?:[-/]\d{1,4})?\b",
        0.5,
        None,
        False,
    ),
    _Rule(
        "STREET_ADDRESS",
        r"\b\d{1,4}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?:rue|avenue|boulevard|bd|chemin|place|allée|"
        r"impasse|quai|route)[ \t]+(?:(?:de|du|des|la|le|d['’])[ \t]*)*\p{Lu}[\p{L}\-]*"
        r"(?:[ \t]+\p{Lu}[\p{L}\-]*){0,3}",
        0.5,
        None,
        False,
    ),
    _Rule(
        "STREET_ADDRESS",
        r"\b(?:Calle|Avenida|Av\.|Paseo|Plaza|Camino|Carrer|Ronda|Pasaje|Vía|Cañada|Callejón|"
        r"Glorieta|Urbanización|Rambla|Alameda|Travesía|Carretera|Vial|Acceso)[ \t]+"
        r"(?:(?:de|del|la|las|los)[ \t]+)*\p{Lu}[\p{L}\-]*(?:[ \t]+\p{Lu}[\p{L}\-]*){0,3}"
        r"[ \t]+\d{1,4}\b",
        0.5,
        None,
        False,
    ),
    # a street line over a postcode line (signatures, shipping labels): the postcode line vouches for the street
    _Rule(
        "STREET_ADDRESS",
        rf"^[ \t]*(?=[^\n]*\d)(?:{_ADDR_SEG})(?:[ \t]*,[ \t]*{_ADDR_SEG}){{0,2}}[ \t]*\r?\n[ \t]*"
        rf"(?:{_POSTCODE}(?:[ \t]*,?[ \t]+{_CITY}|[ \t]*\r?\n[ \t]*{_CITY})?|{_CITY}(?:[ \t]*,[ \t]*{_ADDR_SEG})?"
        rf"[ \t]*[-,]?[ \t]*(?:\d{{6}}|{_POSTAL_ALPHA}))(?=[ \t]*(?:\r?\n|$))",
        0.6,
        None,
        False,
    ),
    # US military mail: "PSC 1234, Box 5678" / "Unit 1234 Box 56" / "CMR 123", a ship, then "APO AE 09123"
    _Rule("STREET_ADDRESS", r"\b(?:PSC|CMR|Unit)[ \t]+\d{1,5},?[ \t]+Box[ \t]+\d{1,5}\b", 0.6, None, False),
    _Rule("STREET_ADDRESS", r"\b[AFD]PO[ \t]+A[AEP][ \t]+\d{5}(?:-\d{4})?\b", 0.6, None, False),
    _Rule("STREET_ADDRESS", r"^[ \t]*(?:USNS|USNV|USS|USCGC)\b[^\n]{0,40}(?=\r?\n[ \t]*[AFD]PO[ \t]+A[AEP]\b)", 0.6, None, False),
    # names where letters put them: greetings, sign-offs, signatures, introductions, mail headers
    _Rule("PERSON", rf"\b{_GREETING}[ \t]+{_TITLE}(?P<v>{_NAME})(?=[ \t]*(?:[,!:;.]|\r?\n|<|$))", 0.8, check_person, False),
    # (lookbehinds, so a rejected "Beste Grüße" after "Thanks," can still be the sign-off before the name)
    _Rule("PERSON", rf"(?<=(?:^|>)[ \t]*{_SIGNOFF}[ \t]*[,.!]?{_BR}{_TITLE})(?P<v>{_NAME}){_EOL}", 0.8, check_person, False),
    _Rule("PERSON", rf"\b{_SIGNOFF}[ \t]*,[ \t]+(?P<v>{_NAME}){_EOL}", 0.8, check_person, False),
    _Rule("PERSON", rf"(?<=^--[ \t]*{_BR})(?P<v>{_NAME}){_EOL}", 0.8, check_person, False),
    _Rule(
        "PERSON",
        rf"(?:\b[Mm]y[ \t]+name[ \t]+is|\b[Tt]his[ \t]+is|\bI['’]m|\bI[ \t]+am|\b[Ii]ch[ \t]+bin|"
        rf"\b[Jj]e[ \t]+m['’]appelle|\b[Jj]e[ \t]+suis|\b[Mm]e[ \t]+llamo|\b[Mm]i[ \t]+nombre[ \t]+es)"
        rf"[ \t]+(?P<v>{_NAME})",
        0.7,
        check_person,
        False,
    ),
    _Rule("PERSON", rf"(?:^|(?<=[.!?:,>][ \t]))(?P<v>{_NAME})(?=[ \t]+here[,!])", 0.7, check_person, False),
    _Rule(
        "PERSON",
        rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Frau|Mme|Mlle|Sr|Sra|Srta)\.?[ \t]+(?P<v>{_NAME})",
        0.8,
        check_person,
        False,
    ),
    _Rule("PERSON", rf"(?P<v>{_NAME})[\"”]?[ \t]*\(?(?:<|&lt;)(?:mailto:)?[^\s<>@&]+@", 0.85, check_person, False),
    _Rule(
        "PERSON",
        rf"(?:,|\bAm\b[^\n]{{0,40}}?)[ \t]+(?P<v>{_NAME})[ \t]+(?:wrote|schrieb|a[ \t]+écrit|escribió)",
        0.85,
        check_person,
        False,
    ),
    _Rule("PERSON", rf"^[ \t]*(?:From|To|Cc|Von|An|De|À|Para)[ \t]*:[ \t]*(?P<v>{_NAME})", 0.8, check_person, False),
    _Rule(
        "PERSON",
        rf"(?i:\b(?:attention[ \t]+of|attn\.?:?|c/o|my[ \t]+name,?|name:|contact[ \t]+person:?))[ \t]+"
        rf"{_TITLE}(?P<v>{_NAME})",
        0.8,
        check_person,
        False,
    ),
]

# Labels that introduce people, one or a list: "Attendees: Ana Silva, Bo Berg and Cy Dunn", "Reporter: Ana Silva".
_PEOPLE_LABEL = (
    r"(?i:\b(?:co-?founders?|founders?|attendees|participants|present|apologies|absent|invitees|guests|speakers|"
    r"panelists|members|owners?|reviewers?|approvers?|assignees?|reporter|requester|organi[sz]ers?|hosts?|"
    r"signatories|stakeholders|contacts?|authors?|(?:directed|sponsored|requested|approved|reviewed|prepared|"
    r"signed|reported|assigned[ \t]+to|raised)[ \t]+by))[ \t]*:[ \t]*"
)
_LIST_SEP = r"[ \t]*(?:[,;&/]|\band\b|\bund\b|\bet\b|\by\b|\be\b)[ \t]*"
# Verbs that take a person: "ping rik", "follow up with glen austin", "as discussed with Ana Silva".
_PERSON_VERB = (
    r"(?i:\b(?:ping|cc|loop[ \t]+in|follow[ \t]+up[ \t]+with|talk[ \t]+to|speak[ \t]+(?:to|with)|spoke[ \t]+"
    r"(?:to|with)|check[ \t]+with|reach[ \t]+out[ \t]+to|(?:discussed|met|agreed|confirmed)[ \t]+with|ask))[ \t]+"
)
# A lowercase word that can be a name in lowercase chat: no stop word, no role, no time of day.
_LOWER_NAME_WORD = (
    r"(?!(?:"
    + "|".join(
        sorted(STOP_WORDS | NOT_NAMES | {"today", "tomorrow", "tonight", "yesterday", "asap", "later"}, key=len, reverse=True)
    )
    + r")(?![\p{L}'’\-]))\p{Ll}[\p{Ll}'’\-]+(?![\p{L}@.\d])"
)
RULES += [
    _Rule("PERSON", rf"(?<={_PEOPLE_LABEL}(?:{_NAME}{_LIST_SEP})*){_TITLE}(?P<v>{_NAME})", 0.8, check_person, False),
    # directory rows and exports, a cell with words after the name: "Fontaine, Marthe | Account Manager | ..."
    _Rule(
        "PERSON",
        rf"^[ \t]*(?P<v>{NAME_WORD}(?:[ \t]+{NAME_WORD})?,[ \t]*{NAME_WORD}(?:[ \t]+{NAME_WORD})?)(?=[ \t]*[|\t;][^\n]*\p{{L}})",
        0.7,
        check_person,
        False,
    ),
    _Rule("PERSON", rf"{_PERSON_VERB}{_TITLE}(?P<v>{_NAME})", 0.7, check_person, False),
    _Rule("PERSON", rf"{_PERSON_VERB}(?P<v>{_LOWER_NAME_WORD}(?:[ \t]+{_LOWER_NAME_WORD})?)", 0.6, check_person, False),
    _Rule(
        "PERSON",
        rf"(?:^|[,;:!?][ \t]+)(?P<v>{_LOWER_NAME_WORD})[ \t]+(?:asked|said|says|mentioned|suggested|wrote)\b",
        0.6,
        check_person,
        False,
    ),
    _Rule(
        "PERSON",
        rf"(?i:\b(?:voicemail|missed[ \t]+call|message|text)[ \t]+from)[ \t]+{_TITLE}(?P<v>{_NAME})",
        0.7,
        check_person,
        False,
    ),
    _Rule("PERSON", rf"(?i:\b(?:the|full|legal)[ \t]+name(?:[ \t]+is)?)[ \t]+(?P<v>{_NAME})", 0.7, check_person, False),
    _Rule("PERSON", rf"(?i:\b(?:hi|hey|hello)[ \t,]+it['’]s)[ \t]+(?P<v>{_NAME})", 0.7, check_person, False),
    # a message signed with a dash after its last sentence: "... until Friday. - Anna"
    _Rule("PERSON", rf"(?<=[.!?)][ \t]+[-–—][ \t]*)(?P<v>{_NAME})(?=[ \t]*$)", 0.7, check_person, False),
]


class RuleRecognizer(LocalRecognizer):
    """Our regex rules for one entity type, as a Presidio recognizer.

    Unlike PatternRecognizer, a rule can mask just its named group `v` (the name after "Hi") and a
    failed checksum lowers nothing: an unconfirmed card-like number is still masked at the rule's score.
    """

    def __init__(self, entity: str, rules: list[_Rule]):
        super().__init__(supported_entities=[entity], name=f"Loopline{entity.title().replace('_', '')}Recognizer")
        self.rules = [(regex.compile(r.pattern, _I if r.ignore_case else FLAGS), r) for r in rules]
        self.metadata = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        for compiled, rule in self.rules:
            for m in compiled.finditer(text):
                start, end = m.span("v") if "v" in compiled.groupindex else m.span()
                verdict = rule.check(text[start:end]) if rule.check and end > start else None
                if end > start and verdict is not False:
                    results.append(
                        RecognizerResult(
                            rule.entity, start, end, 1.0 if verdict else rule.score, recognition_metadata=self.metadata
                        )
                    )
        return results

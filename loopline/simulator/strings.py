"""String helpers the generators share: HTML escaping as webmail does it, mojibake, ASCII folding, dates, ids, JSON."""

from __future__ import annotations

import functools
import json
import random
import re
import string
import unicodedata
from datetime import UTC, datetime

from loopline.simulator.text import mail


def html_escape(s: str) -> str:
    """HTML-escape the way webmail clients do (apostrophe as &#39;)."""
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;")):
        s = s.replace(char, entity)
    return s


def mojibake(s: str) -> str | None:
    """UTF-8 bytes misread as cp1252 ("café" -> "cafÃ©"); None where cp1252 can't decode the bytes."""
    try:
        return s.encode("utf-8").decode("cp1252")
    except UnicodeDecodeError:
        return None


def ascii_word(s: str) -> str:
    """Lowercase ASCII letters only ("Müller-Lüdenscheidt" -> "mullerludenscheidt"): for addresses and tags."""
    return re.sub(r"[^a-z]", "", unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower())


@functools.cache
def template_fields(template: str) -> frozenset[str]:
    """The str.format slots a template uses."""
    return frozenset(f for _, f, _, _ in string.Formatter().parse(template) if f)


def time_fields(ms: int) -> dict:
    """The date parts quote headers are written with, in every header language."""
    d = datetime.fromtimestamp(ms / 1000, tz=UTC)
    wd, mon = d.weekday(), d.month - 1
    return {
        "wd3": mail.WEEKDAYS["en"][wd][:3],
        "wdfull": mail.WEEKDAYS["en"][wd],
        "mon3": mail.MONTHS["en"][mon][:3],
        "monfull": mail.MONTHS["en"][mon],
        "day": d.day,
        "dd": f"{d.day:02d}",
        "mo": f"{d.month:02d}",
        "year": d.year,
        "hh": f"{d.hour:02d}",
        "mm": f"{d.minute:02d}",
        "ss": f"{d.second:02d}",
        "h12": d.hour % 12 or 12,
        "ampm": "AM" if d.hour < 12 else "PM",
        "wd_fr": mail.WEEKDAYS["fr"][wd],
        "mon_fr": mail.MONTHS["fr"][mon],
        "wd_es": mail.WEEKDAYS["es"][wd],
        "mon_es": mail.MONTHS["es"][mon],
        "wd_de": mail.WEEKDAYS["de"][wd],
        "mon_de": mail.MONTHS["de"][mon],
    }


def date_phrase(rng: random.Random, ms: int) -> str:
    """A date as a person writes it in a sentence, in one of three styles."""
    f = time_fields(ms)
    return rng.choice((f"{f['monfull']} {f['day']}", f"{f['day']} {f['monfull']}", f"{f['year']}-{f['mo']}-{f['dd']}"))


def random_hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def json_bytes(record: dict) -> bytes:
    """A record as its producer writes it: UTF-8 JSON, non-ASCII kept as is."""
    return json.dumps(record, ensure_ascii=False).encode("utf-8")

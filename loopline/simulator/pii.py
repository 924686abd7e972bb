"""PII spans of the ground truth: every way a known value can appear on the wire, and where it does."""

from __future__ import annotations

from loopline.simulator.strings import html_escape, mojibake

Variants = list[tuple[str, str]]  # (PII type, lowercased wire form)


def variants(pairs) -> Variants:
    """(type, lowercased form) for each way a value can appear on the wire: as typed, with smart
    quotes, mojibake'd, HTML-escaped."""
    out, seen = [], set()
    for typ, value in pairs:
        for a in (value, value.replace("'", "’")):
            for b in (a, mojibake(a)):
                for c in (b, html_escape(b)) if b else ():
                    low = c.lower()
                    if low not in seen:
                        seen.add(low)
                        out.append((typ, low))
    return out


def longest_first(values: Variants) -> Variants:
    """The search order of find(): a longer value claims its span before a value inside it can."""
    return sorted(values, key=lambda v: -len(v[1]))


def find(field_name: str, text: str, values: Variants) -> list[dict]:
    """Every non-overlapping occurrence of the known values in `text`, longest values first."""
    low = text.lower()
    if len(low) != len(text):
        low = text
    claimed: list[tuple[int, int]] = []
    found = []
    for typ, v in values:
        i = low.find(v)
        while i != -1:
            j = i + len(v)
            if _bounded(low, i, j) and all(j <= s or i >= e for s, e in claimed):
                claimed.append((i, j))
                found.append({"type": typ, "value": text[i:j], "field": field_name, "start": i, "end": j})
            i = low.find(v, i + 1)
    return sorted(found, key=lambda p: p["start"])


def _bounded(s: str, i: int, j: int) -> bool:
    """No letter/digit glued to either end: 'Ann' must not match inside 'Annual'."""
    return not (i > 0 and s[i].isalnum() and s[i - 1].isalnum()) and not (j < len(s) and s[j - 1].isalnum() and s[j].isalnum())

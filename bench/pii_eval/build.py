"""Build pii_eval.jsonl: enterprise-style messages with labelled PII, from Faker values and templates
written for this set alone (nothing from loopline.simulator), so scrubber rules can't have been fitted to it.

Deterministic: one seed drives template order, locales and Faker. Each record:
{"id", "text", "spans": [{"start", "end", "type"}], "source", "split"}; split is dev/test by a hash of the id.
Usage: .venv/bin/python bench/pii_eval/build.py [--records 1300] [--seed 20261124] [--out bench/pii_eval/pii_eval.jsonl]
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import random
import re
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from faker import Faker

LOCALES = [
    "en_US",
    "en_GB",
    "de_DE",
    "fr_FR",
    "fi_FI",
    "pt_PT",
    "hu_HU",
    "es_ES",
    "it_IT",
    "nl_NL",
    "sv_SE",
    "en_IN",
    "en_AU",
    "en_CA",
    "pt_BR",
]
# Templates: {slot} or {slot.part}; people are p1..p3 (parts: full, first, last, lower, first_lower).
# Slots with no type in SLOTS are fillers that must not be flagged (dates, order ids, versions, amounts).
TEMPLATES = {
    "sig_email": "Hi {p2.first},\n\nthe renewal quote is attached, valid until {date}.\n\nBest regards,\n"
    "{p1}\n{title} | {company}\n"
    "Desk: {phone}\nMobile: {phone_intl}\n{email}",
    "sig_fax": "Thanks for the quick turnaround on {order}.\n\n--\n{p1}\n{company}\n{addr_block}\nTel. {phone}\nFax: {phone}",
    "sig_office_suffix": "Please loop in the billing desk.\n\n{p1.full}\n{phone_ext} -Office\n{phone} -Mobile",
    "sig_dashes": "Regards\n{p1}\n{title}\nT: {phone_intl} | M: {phone} | E: {email}",
    "label_block": "Name: {p1}\nCompany: {company}\nPhone: {phone_ext}\nEmail: {email}\nAddress: {addr_line}\nTicket: {order}",
    "directed_by": "Project charter v{version}\nDirected By: {p1}\nSponsored by: {p2}\nStart date: {date}\nBudget: {amount}",
    "founders_list": "For the investor deck: founders: {p1.last}, {p2.last} and {p3.last}. {p1.first} handles hiring.",
    "attendees": "Attendees: {p1}, {p2}, {p3}\nApologies: none\nNext sync {date} at {time}",
    "lower_followup": "follow up with {p1.lower} about the {order} refund, she asked to be called at {phone}",
    "lower_chat": "ok i'll ping {p1.first_lower} tomorrow, {p2.lower} is out until {date}",
    "mid_sentence": "As discussed with {p1} last week, the migration for {company} moves to {date}.",
    "escalation": "Escalating per {p1.first}'s request: customer {p2} (acct owner) reports card {card} "
    "was charged twice ({amount}).",
    "card_dashes": "Card on file: {card_dashed}, exp {exp}. Please update before the {date} run.",
    "card_plain": "customer read out the card number {card} over the phone, ticket {order}",
    "iban_payment": "Please send the refund of {amount} to IBAN {iban} (account holder {p1}).",
    "iban_grouped": "New bank details for invoice {order}:\nBeneficiary: {company}\nIBAN: {iban_grouped}\nReference: {order}",
    "ssn_hr": "HR onboarding for {p1}: SSN {ssn}, start date {date}, badge {badge}.",
    "ssn_inline": "W-9 received, taxpayer id {ssn} matches the name {p1}.",
    "ip_firewall": "Blocked {ipv4} after {count} failed logins for {email}. Allowlisted {ipv4} for the VPN.",
    "ip_v6": "The client connects from {ipv6} (fallback {ipv4}), build {version}, since {date}.",
    "ip_log": "[{time}] auth ok user={username_email} src={ipv4} agent=curl/{version}",
    "ticket_reporter": "Ticket {order}\nReporter: {p1} <{email}>\nCallback: {phone_ext}\nSeverity: 2\nOpened: {date}",
    "callback": "Could you call me back on {phone_intl}? I'm travelling until {date}. - {p1.first}",
    "phone_ext_inline": "Reach our desk at {phone_ext} or the switchboard {phone}; quote reference {order}.",
    "international_desk": "Our London desk is on {phone_gb}, the Helsinki team on {phone_fi}, Lisbon on {phone_pt}.",
    "shipping_block": "Ship the replacement to:\n{p1}\n{addr_block}\nPhone {phone}",
    "military_addr": "Please ship to my deployment address:\n{p1}\n{addr_military}\nThanks, {p1.first}",
    "address_inline": "We moved our office to {addr_line} effective {date}; invoices should use the new address.",
    "address_change": "change of address for {p1}: old {addr_line}, new {addr_line}",
    "chat_casual": "hey it's {p1.first}, my new number is {phone}, old one was {phone}",
    "chat_email": "pls cc {email} and {email} on the thread, {p1.first_lower} asked",
    "onboarding": "Welcome {p1.first}! Your manager {p2} ({email}) will call you on {phone_intl} before {date}.",
    "vendor_contact": "Vendor contact: {p1}, {title} at {company}, {phone_ext}, {email}.",
    "two_people_call": "{p1} and {p2} joined the call; {p2.first} will send the SOW to {email} by {date}.",
    "negatives_dense": "Release {version} shipped {date} at {time}; {count} tickets closed, order {order} invoiced {amount}.",
    "negatives_ids": "Serial {serial}, part {part}, firmware {version}; RMA {order} opened {date}.",
    "mixed_kitchen": "{p1} ({email}, {phone}) paid {amount} with {card}; refund to {iban} if it fails. Ship: {addr_line}.",
    "support_voicemail": "Voicemail from {p1.full} at {time}: callback {phone_ext}, mentions order {order}.",
    "directory_row": "{p1.last}, {p1.first} | {title} | {phone_ext} | {email}",
    "cc_header": "From: {p1} <{email}>\nTo: {p2} <{email}>\nSubject: RE: {order} delayed\n\n{p2.first}, any update?",
}

FILLERS = {
    "company": lambda f, r: f.company(),
    "title": lambda f, r: r.choice(["Account Manager", "Head of Procurement", "IT Administrator", "Finance Lead", "CTO"]),
    # from rng, not Faker: Faker's dates and times are relative to now, which would change the file
    "date": lambda f, r: (date(2020, 1, 1) + timedelta(days=r.randint(0, 2500))).strftime(
        r.choice(["%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%d %B %Y", "%B %d, %Y"])
    ),
    "time": lambda f, r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
    "order": lambda f, r: f.bothify(r.choice(["ORD-######", "#####-##", "INC#######", "PO 4500######", "case ######"])),
    "version": lambda f, r: f"{r.randint(1, 12)}.{r.randint(0, 40)}.{r.randint(0, 99)}",
    "amount": lambda f, r: r.choice(["${:,.2f}", "EUR {:,.2f}", "£{:,.2f}", "{:,.2f} €"]).format(r.uniform(10, 25000)),
    "count": lambda f, r: str(r.randint(2, 4000)),
    "badge": lambda f, r: f.bothify("B-####"),
    "exp": lambda f, r: f"{r.randint(1, 12):02d}/{r.randint(26, 31)}",
    "serial": lambda f, r: f.bothify("SN-??##-####-##").upper(),
    "part": lambda f, r: f.bothify("###-####-##"),
}


def _phone(f: Faker, r: random.Random) -> str:
    """A Faker phone number of `f`'s locale, skipping its digit soup with no country or trunk prefix ("00008063608")."""
    while True:
        value = f.phone_number().strip()
        if not value.startswith("00"):
            return value


def _with_ext(f: Faker, r: random.Random) -> str:
    base = re.sub(r"\s*x\d+$", "", _phone(f, r))
    ext = str(r.randint(1, 99999))[: r.choice([2, 3, 4])]
    return base + r.choice(["x", " x", " ext. ", " ext ", " Ext.", ", ext. ", " extension "]) + ext


def _intl(f: Faker, r: random.Random) -> str:
    """A number with its country code, however the locale writes it."""
    for _ in range(20):
        value = _phone(f, r)
        if value.startswith(("+", "(+")):
            return value
    return value


def _card(f: Faker, r: random.Random, sep: str | None = None) -> str:
    digits = f.credit_card_number()
    sep = r.choice(["", " ", "-"]) if sep is None else sep
    if len(digits) in (14, 15):  # Diners and Amex group 4-6-rest
        return sep.join([digits[:4], digits[4:10], digits[10:]])
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def _iban(f: Faker, r: random.Random, grouped: bool = False) -> str:
    code = f.iban()
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4)) if grouped else code


def _ipv6(f: Faker, r: random.Random) -> str:
    value = f.ipv6()
    return ipaddress.IPv6Address(value).compressed if r.random() < 0.5 else value


def _address_lines(f: Faker, r: random.Random) -> list[str]:
    return [line.strip() for line in f.address().splitlines() if line.strip()]


def _military(f: Faker, r: random.Random) -> list[str]:
    box = r.choice([f.military_apo, f.military_dpo, f.military_ship])()
    return [box, f"{r.choice(['APO', 'FPO', 'DPO'])} {f.military_state()} {f.postcode()}"]


# Typed slots: value generator (Faker of the record's locale, rng) and gold type.
SLOTS = {
    "phone": (_phone, "PHONE_NUMBER"),
    "phone_ext": (_with_ext, "PHONE_NUMBER"),
    "phone_intl": (_intl, "PHONE_NUMBER"),
    "email": (lambda f, r: f.email(), "EMAIL_ADDRESS"),
    "username_email": (lambda f, r: f.company_email(), "EMAIL_ADDRESS"),
    "card": (_card, "CREDIT_CARD"),
    "card_dashed": (lambda f, r: _card(f, r, "-"), "CREDIT_CARD"),
    "iban": (_iban, "IBAN_CODE"),
    "iban_grouped": (lambda f, r: _iban(f, r, True), "IBAN_CODE"),
    "ipv4": (lambda f, r: f.ipv4_public() if r.random() < 0.7 else f.ipv4_private(), "IP_ADDRESS"),
    "ipv6": (_ipv6, "IP_ADDRESS"),
    "addr_line": (lambda f, r: ", ".join(_address_lines(f, r)), "ADDRESS"),
    "ssn": (lambda f, r: f.ssn(), "US_SSN"),
    **{k: (_phone, "PHONE_NUMBER") for k in ("phone_gb", "phone_fi", "phone_pt")},
}
BLOCKS = {"addr_block": _address_lines, "addr_military": _military}  # one ADDRESS span per line
FIXED_LOCALE = {"ssn": "en_US", "addr_military": "en_US", "phone_gb": "en_GB", "phone_fi": "fi_FI", "phone_pt": "pt_PT"}


def _person(f: Faker, locale: str) -> dict[str, str]:
    first, last = f.first_name(), f.last_name()
    full = f"{last} {first}" if locale == "hu_HU" else f"{first} {last}"
    return {"full": full, "first": first, "last": last, "lower": full.lower(), "first_lower": first.lower()}


def render(template: str, fakers: dict[str, Faker], locale: str, rng: random.Random) -> tuple[str, list[dict]]:
    """The template filled in, and the gold spans of what was filled in."""
    people = [_person(fakers[locale], locale) for _ in range(3)]
    text, spans, pos = [], [], 0
    for m in re.finditer(r"\{(\w+)(?:\.(\w+))?\}|[^{]+", template):
        slot, part = m.group(1), m.group(2)
        if slot is None:
            pieces = [(m.group(), None)]
        else:
            f = fakers[FIXED_LOCALE.get(slot, locale)]
            if slot in ("p1", "p2", "p3"):
                pieces = [(people[int(slot[1]) - 1][part or "full"], "PERSON")]
            elif slot in BLOCKS:
                lines = BLOCKS[slot](f, rng)
                pieces = [x for i, line in enumerate(lines) for x in ([("\n", None)] if i else []) + [(line, "ADDRESS")]]
            elif slot in SLOTS:
                make, kind = SLOTS[slot]
                pieces = [(make(f, rng), kind)]
            else:
                pieces = [(FILLERS[slot](f, rng), None)]
        for value, kind in pieces:
            if kind:
                spans.append({"start": pos, "end": pos + len(value), "type": kind})
            text.append(value)
            pos += len(value)
    return "".join(text), spans


def split_of(record_id: str) -> str:
    return "dev" if hashlib.sha256(record_id.encode()).digest()[0] % 2 == 0 else "test"


def build(records: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    fakers = {}
    for i, locale in enumerate(LOCALES):
        fakers[locale] = Faker(locale)
        fakers[locale].seed_instance(seed + i)
    names = sorted(TEMPLATES)
    out = []
    for n in range(records):
        if n % len(names) == 0:
            rng.shuffle(names)
        name, locale = names[n % len(names)], rng.choice(LOCALES)
        text, spans = render(TEMPLATES[name], fakers, locale, rng)
        record_id = f"pii-{seed}-{n:05d}"
        out.append(
            {"id": record_id, "text": text, "spans": spans, "source": f"faker/{name}/{locale}", "split": split_of(record_id)}
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1300)
    ap.add_argument("--seed", type=int, default=20261124)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("pii_eval.jsonl"))
    args = ap.parse_args()
    records = build(args.records, args.seed)
    with args.out.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    types = Counter(s["type"] for r in records for s in r["spans"])
    print(f"{len(records)} records, {len(TEMPLATES)} templates -> {args.out}")
    print("splits:", dict(Counter(r["split"] for r in records)), "spans:", dict(sorted(types.items())))


if __name__ == "__main__":
    main()

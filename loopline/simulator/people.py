"""Who writes: customers (one person, several ids used across sources) and agents, from one seeded pool.

A person has a customer id (chat sender_id, ticket author_id) and one or two email addresses; truth
`person` / `person_ids` name them. Faker is slow, so the pool is built once per run and a deleted
customer is replaced by a fresh one.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from faker import Faker

from loopline.simulator import pii, text
from loopline.simulator.strings import ascii_word
from loopline.simulator.text import contacts, mail

if TYPE_CHECKING:
    from loopline.simulator.generate import SimConfig

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES")
LOCALE_WEIGHTS = (0.35, 0.2, 0.15, 0.15, 0.15)
CLIENTS = ("gmail", "outlook", "apple", "yahoo", "thunderbird")
CLIENT_WEIGHTS = (0.4, 0.3, 0.15, 0.1, 0.05)


@dataclass(eq=False)
class Persona:
    person_id: str  # the person, whichever of their ids an event shows
    customer_id: str  # chat sender_id, ticket author_id
    name: str
    first_name: str
    locale: str
    email: str  # primary address (emails[0])
    emails: tuple[str, ...]  # one or two addresses; each email thread uses one
    phone: str
    address: str
    card: str
    iban: str
    ssn: str
    ip: str
    account: str
    orders: tuple[str, ...]
    company: str | None
    title: str | None
    client: str
    quote_lang: str
    mobile_footer: str | None
    disclaimer: str | None
    signoff: str
    variants: list = field(default_factory=list)
    pending: int = 0  # events scheduled, not yet sent (any role, its threads)
    seen_ids: list = field(default_factory=list)  # subject ids already sent, in first-sent order
    retired: bool = False  # a deletion was issued: never used again

    @property
    def lang(self) -> str:
        return self.locale[:2]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id this person appears under in events: customer id, then email addresses."""
        return (self.customer_id,) + self.emails

    def pii(self) -> list[tuple[str, str]]:
        return (
            [("PERSON", self.name), ("PERSON", self.first_name)]
            + [("EMAIL_ADDRESS", e) for e in self.emails]
            + [
                ("PHONE_NUMBER", self.phone),
                ("STREET_ADDRESS", self.address),
                ("CREDIT_CARD", self.card),
                ("IBAN_CODE", self.iban),
                ("US_SSN", self.ssn),
                ("IP_ADDRESS", self.ip),
                ("ACCOUNT_NUMBER", self.account),
            ]
            + [("ORDER_NUMBER", o) for o in self.orders]
        )

    def signature_lines(self) -> list[str]:
        return [self.name] + ([f"{self.title} | {self.company}"] if self.company else []) + [self.phone]


@dataclass(eq=False)
class Agent:
    agent_id: str
    name: str
    first_name: str
    email: str
    phone: str
    title: str
    client: str
    variants: list = field(default_factory=list)

    def pii(self) -> list[tuple[str, str]]:
        return [("PERSON", self.name), ("PERSON", self.first_name), ("EMAIL_ADDRESS", self.email), ("PHONE_NUMBER", self.phone)]


@functools.cache
def _vocabulary() -> frozenset[str]:
    """Every word in the text pools: persona first names must not be one, so a case-insensitive
    search for "Will" or "May" can't hit ordinary words or month names."""
    words: set[str] = set()

    def walk(obj) -> None:
        if isinstance(obj, str):
            words.update(w.lower() for w in re.findall(r"[^\W\d_]+", obj))
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(k)
                walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)

    for info in pkgutil.iter_modules(text.__path__):
        module = importlib.import_module(f"{text.__name__}.{info.name}")
        walk([getattr(module, n) for n in dir(module) if n.isupper()])
    return frozenset(words)


class People:
    """The customer and agent pool of one run, and the tenant's own support addresses."""

    def __init__(self, rng: random.Random, seed: int, cfg: SimConfig, start_ms: int):
        self.rng, self.cfg = rng, cfg
        self.year = datetime.fromtimestamp(start_ms / 1000, tz=UTC).year
        self.fakers = {}
        for i, locale in enumerate(LOCALES):
            self.fakers[locale] = Faker(locale)
            self.fakers[locale].seed_instance(seed * 7919 + i)
        self.domain = f"{cfg.tenant}.com"
        self.support = f"support@{self.domain}"
        self.noreply = f"noreply@{self.domain}"
        self.support_phone = self._digits(contacts.SUPPORT_PHONE)
        self.tenant_variants = pii.variants([("EMAIL_ADDRESS", self.support), ("EMAIL_ADDRESS", self.noreply)])
        self.used_ids: set[str] = set()
        self.person_seq = 0
        self.customers = [self._persona() for _ in range(cfg.customers)]
        self.agents = [self._agent(i) for i in range(cfg.agents)]

    def retire(self, persona: Persona) -> None:
        """A deletion was issued for this customer: a fresh one takes their place in the pool."""
        persona.retired = True
        self.customers[self.customers.index(persona)] = self._persona()

    def _persona(self) -> Persona:
        locale = self.rng.choices(LOCALES, LOCALE_WEIGHTS)[0]
        fk = self.fakers[locale]
        first, last = fk.first_name(), fk.last_name()
        while first.lower() in _vocabulary() or "'" in first:
            first = fk.first_name()
        company = self.rng.choice(contacts.COMPANIES) if self.rng.random() < 0.55 else None
        lang = locale[:2]
        client = self.rng.choices(CLIENTS, CLIENT_WEIGHTS)[0]
        quote_lang = "ru" if self.rng.random() < 0.03 else (lang if self.rng.random() < 0.8 else "en")
        card = fk.credit_card_number(card_type=self.rng.choice(("visa16", "mastercard", "amex", "discover")))
        iban = fk.iban()
        emails = [self._unique(lambda: self._email_address(first, last, company, locale))]
        if self.rng.random() < self.cfg.second_email_fraction:  # a private address beside the work one, or two
            emails.append(self._unique(lambda: self._email_address(first, last, None, locale)))
        self.person_seq += 1
        persona = Persona(
            person_id=f"person-{self.person_seq:06d}",
            customer_id=self._unique(lambda: f"cust-{self.rng.randrange(10**7):07d}"),
            name=f"{first} {last}",
            first_name=first,
            locale=locale,
            email=emails[0],
            emails=tuple(emails),
            phone=self._digits(self.rng.choice(contacts.PHONE_FORMATS[locale])),
            address=" ".join(fk.address().replace("\n", ", ").split()),
            card=self._group_digits(card),
            iban=" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if self.rng.random() < 0.4 else iban,
            ssn=self.fakers["en_US"].ssn(),
            ip=fk.ipv4_public(),
            account=f"ACC-{self.rng.randrange(10**8):08d}",
            orders=tuple(f"ORD-{self.year}-{self.rng.randrange(10**6):06d}" for _ in range(self.rng.randint(1, 3))),
            company=company,
            title=self.rng.choice(contacts.TITLES) if company else None,
            client=client,
            quote_lang=quote_lang,
            mobile_footer=self.rng.choice(mail.MOBILE_FOOTERS[lang]) if self.rng.random() < 0.2 else None,
            disclaimer=self.rng.choice(mail.DISCLAIMERS) if company and self.rng.random() < 0.5 else None,
            signoff=self.rng.choice(mail.SIGNOFFS.get(lang, mail.SIGNOFFS["en"])),
        )
        persona.variants = pii.variants(persona.pii())
        return persona

    def _agent(self, i: int) -> Agent:
        fk = self.fakers[self.rng.choice(("en_US", "en_GB"))]
        first, last = fk.first_name(), fk.last_name()
        while first.lower() in _vocabulary() or "'" in first:
            first = fk.first_name()
        agent = Agent(
            f"agent-{i + 1:03d}",
            f"{first} {last}",
            first,
            self._unique(lambda: f"{ascii_word(first)}.{ascii_word(last)}@{self.domain}"),
            self.support_phone,
            self.rng.choice(contacts.AGENT_TITLES),
            "outlook" if self.rng.random() < 0.7 else "gmail",
        )
        agent.variants = pii.variants(agent.pii())
        return agent

    def _email_address(self, first: str, last: str, company: str | None, locale: str) -> str:
        given, family = ascii_word(first), ascii_word(last)
        local = self.rng.choice(
            (
                f"{given}.{family}",
                f"{given[0]}{family}",
                f"{given}_{family}{self.rng.randint(1, 99)}",
                f"{family}.{given}",
                f"{given}{self.rng.randint(60, 99)}",
            )
        )
        domain = (
            (ascii_word(company.split()[0]) + self.rng.choice((".com", ".co", ".io", ".net")))
            if company
            else self.rng.choice(contacts.FREE_MAIL[locale])
        )
        return f"{local}@{domain}"

    def _unique(self, make) -> str:
        value = make()
        while value in self.used_ids:
            value = make()
        self.used_ids.add(value)
        return value

    def _digits(self, pattern: str) -> str:
        """'#' -> any digit, 'N' -> 2-9, so phone formats live in the text pools as patterns."""
        return "".join(
            str(self.rng.randint(0, 9)) if c == "#" else str(self.rng.randint(2, 9)) if c == "N" else c for c in pattern
        )

    def _group_digits(self, number: str) -> str:
        sep = self.rng.choice((" ", "-", ""))
        sizes = (4, 6, 5) if len(number) == 15 else (4, 4, 4, 4)
        groups, i = [], 0
        for size in sizes:
            groups.append(number[i : i + size])
            i += size
        return sep.join(g for g in groups if g)

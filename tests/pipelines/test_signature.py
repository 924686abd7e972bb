"""Signatures without a "-- " delimiter: blocks cut by their shape, content that only resembles one kept."""

from __future__ import annotations

import pytest

from loopline.config import CleanConfig
from pipelines.clean import Cleaner
from pipelines.signature import MAX_LINES, signature_start

BODY = "Hi Anna,\n\nThe refund was issued today and should arrive within 5 days."

# (raw body, what the cleaner must return); signature blocks in the shapes business mail carries them
SIGNED = {
    "name_title_phone": (f"{BODY}\n\nMaria Lindqvist\nCustomer Support Lead\n+46 8 123 456 78", BODY),
    "name_title_company_one_line": (
        f"{BODY}\n\nThanks!\n\nMaria Lindqvist | Senior Support Engineer | Brightwave AB\nT: +46 8 123 456 78",
        f"{BODY}\n\nThanks!",
    ),
    "no_blank_line_above": (
        f"{BODY}\nMaria Lindqvist\nSupport Specialist, Acme Inc.\nmaria@acme.example | +1 (415) 555-0132",
        BODY,
    ),
    "long_with_address_phones_url_pronouns": (
        f"{BODY}\n\nJonathan Reyes (he/him)\nHead of Customer Operations\nBrightwave Logistics Ltd.\n"
        "12 Harbour Street, London EC1A 1BB\nOffice: +44 20 7946 0958\nMobile: +1 415 555 0100\n"
        "www.brightwave.example\nLinkedIn: linkedin.com/in/jreyes",
        BODY,
    ),
    "long_german": (
        f"{BODY}\n\nJan Müller\nTeamleiter Kundenservice\nMusterfirma GmbH\nHauptstraße 5, 10115 Berlin\n"
        "Tel.: 030 12345678\nE-Mail: jan.mueller@musterfirma.example",
        BODY,
    ),
    "long_spanish_with_handle": (
        f"{BODY}\n\nDra. Ana María Gómez\nDirectora de Operaciones\nAcme Iberia S.L.\nCalle de Alcalá 42, "
        "28014 Madrid\nTel. +34 912 345 678\n@anagomez",
        BODY,
    ),
    "sparse_name_phone": (f"{BODY}\n\nAnna\n+44 20 7946 0958", BODY),
    "sparse_name_email": (f"{BODY}\n\nAnna Berg\nanna.berg@example.com", BODY),
    "after_a_slogan_line": (
        f"{BODY}\n\nMaria Lindqvist\nCustomer Support Lead\nWe move what matters.\n+46 8 123 456 78\nbrightwave.example",
        BODY,
    ),
}

# (raw body) whose last lines are content: the cleaner must return it unchanged
CONTENT = {
    "numbered_steps": f"{BODY}\n\nTo reproduce:\n1. Open Settings\n2. Click Export\n3. Choose CSV",
    "steps_without_numbers": f"{BODY}\n\nI tried the following.\n\nOpen Settings\nClick Export Data\nRestart Browser",
    "address_in_a_sentence": f"{BODY}\n\nPlease ship the replacement to Maria Lindqvist, Storgatan 12, 114 51 Stockholm.",
    "address_block_asked_for": f"{BODY}\n\nPlease ship the replacement to:\n\nMaria Lindqvist\nStorgatan 12\n114 51 Stockholm",
    "phone_in_a_sentence": f"{BODY}\n\nYou can call me back on +44 20 7946 0958 after 5pm.",
    "last_line_a_sentence": f"{BODY}\n\nMaria Lindqvist\nCustomer Support Lead\nLet me know if that works for you.",
    "link_after_content": f"{BODY}\n\nThe fix is described in our help centre.\n\nhttps://help.acme.example/kb/123",
    "only_a_contact_card": "Maria Lindqvist\n+46 8 123 456 78",
    "a_city_line": f"{BODY}\n\nPlease send it to my home address.\n\nNew York, NY 10001",
}


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner(CleanConfig())


@pytest.mark.parametrize("case", sorted(SIGNED))
def test_signature_blocks_without_a_delimiter_are_removed(cleaner, case):
    raw, clean = SIGNED[case]
    assert cleaner.clean("email", raw) == clean


@pytest.mark.parametrize("case", sorted(CONTENT))
def test_content_shaped_like_a_signature_stays(cleaner, case):
    assert cleaner.clean("email", CONTENT[case]) == CONTENT[case]


@pytest.mark.parametrize("case", sorted(SIGNED))
def test_signature_start_is_where_the_kept_text_ends(case):
    raw, clean = SIGNED[case]
    at = signature_start(raw)
    assert at is not None and raw[:at].rstrip() == clean and raw[at - 1] == "\n"


@pytest.mark.parametrize("case", sorted(CONTENT))
def test_signature_start_finds_nothing_in_content(case):
    assert signature_start(CONTENT[case]) is None


def test_tickets_lose_the_block_too_and_the_cut_is_recorded(cleaner):
    raw, clean = SIGNED["name_title_phone"]
    assert cleaner.clean("ticket", raw) == clean
    assert "signatures_removed" in cleaner.cleaned("email", raw).changes
    assert "signatures_removed" not in cleaner.cleaned("email", CONTENT["last_line_a_sentence"]).changes


def test_switching_signatures_off_keeps_the_block():
    raw, _ = SIGNED["long_with_address_phones_url_pronouns"]
    assert Cleaner(CleanConfig(strip_signatures=False)).clean("email", raw) == raw


def test_a_block_above_a_disclaimer_goes_with_it(cleaner):
    raw, clean = SIGNED["name_title_phone"]
    disclaimer = "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential."
    assert cleaner.clean("email", f"{raw}\n\n{disclaimer}") == clean


def test_a_block_longer_than_max_lines_is_not_a_signature():
    contacts = "\n".join(f"+46 8 123 456 {10 + i}" for i in range(MAX_LINES))
    assert signature_start(f"{BODY}\n\nMaria Lindqvist\n{contacts}") is None
    assert signature_start(f"{BODY}\n\nMaria Lindqvist\n{contacts.split(chr(10), 1)[1]}") is not None

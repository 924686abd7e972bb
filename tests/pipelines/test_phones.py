"""The phonenumbers-based phone recognizer (pipelines/scrub/phones.py): what it must find whole, what it must
leave alone, and that the scrubber runs it in place of the old phone patterns."""

from __future__ import annotations

import pytest
from phonenumbers import Leniency

from loopline.config import ScrubConfig
from pipelines.scrub import scrubber
from pipelines.scrub.phones import PhoneNumberRecognizer


def _phones(text: str, recognizer: PhoneNumberRecognizer | None = None) -> list[str]:
    results = (recognizer or PhoneNumberRecognizer()).analyze(text, ["PHONE_NUMBER"])
    return [text[r.start : r.end] for r in results]


@pytest.mark.parametrize(
    "number",
    [
        "555-201-7788x412",
        "+1-555-201-7788x09",
        "555-201-7788 ext. 12",
        "(0115) 496 0069, ext. 197",
        "0352 693024 extension 24",
        "(351) 930 670 325 Ext.2911",
    ],
)
def test_extensions_stay_inside_the_span(number):
    assert _phones(f"Please call {number} tomorrow.") == [number]


@pytest.mark.parametrize(
    "number",
    [
        "+44 (0)20 7946 0958",
        "07700 900 123",
        "+358 007072450",
        "(+358) 244279719",
        "+44(0)1414960286",
        "(06)74/137-3630",
        "06-4/763 8690",
        "+33 (0)1 41 63 60 83",
        "+55 61 9141-7776",
        "08-170 669 07",
    ],
)
def test_national_and_international_formats(number):
    assert _phones(f"reach me on {number} or by mail") == [number]


def test_numbers_after_labels_and_before_suffixes():
    text = "Desk: 555-201-7788\nFax:+44 20 7946 0958\nTel.07700 900123\n+49 30 12345678 -Office\nM: 040 1234567"
    assert _phones(text) == ["555-201-7788", "+44 20 7946 0958", "07700 900123", "+49 30 12345678", "040 1234567"]


@pytest.mark.parametrize(
    "text",
    [
        "released 2024-03-15, reviewed 15.03.2024, signed 12/06/1998",
        "blocked 172.28.110.19 and 10.0.0.254 at the firewall",
        "see ORD-416430 and INC8190922, build v1.17.56",
        "order 94616-88 was invoiced, PO 4500123456 approved, part 123-4567-89 shipped",
        "the total was $24,594.70 or 1,710.33 €",
        "ticket 12 of 40, 2748 closed",
    ],
)
def test_dates_ips_ids_and_amounts_are_no_phones(text):
    assert _phones(text) == []


def test_regions_decide_which_national_formats_are_read():
    text = "Hívjon: (06)74/137-3630"
    assert _phones(text, PhoneNumberRecognizer(regions=("HU",))) == ["(06)74/137-3630"]
    assert _phones(text, PhoneNumberRecognizer(regions=("US",))) == []


def test_valid_leniency_drops_unassigned_numbers_that_possible_keeps():
    text = "call 555-201-7788 or +44 20 7946 0958"  # no US area code starts 555
    possible = PhoneNumberRecognizer(regions=("US",), leniency=Leniency.POSSIBLE)
    assert _phones(text, possible) == ["555-201-7788", "+44 20 7946 0958"]
    assert _phones(text, PhoneNumberRecognizer(regions=("US",), leniency=Leniency.VALID)) == ["+44 20 7946 0958"]


def test_the_scrubber_masks_phones_with_this_recognizer_alone():
    scrub = scrubber(ScrubConfig())
    phone_recognizers = [r for r in scrub.analyzer.registry.recognizers if "PHONE_NUMBER" in r.supported_entities]
    assert [type(r) for r in phone_recognizers] == [PhoneNumberRecognizer]
    text = "Desk: +1-555-201-7788x09 (order 94616-88)"
    [result] = scrub.scrub_batch([text], ["c"])
    assert result.text == "Desk: <PHONE_NUMBER_1> (order 94616-88)"

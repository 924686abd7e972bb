"""Times typed on the command line: ISO 8601 with or without a zone, 'now', and a clear error otherwise."""

from __future__ import annotations

import time

import pytest

from loopline.timeparse import parse_time_ms


def test_iso_times_are_epoch_millis_and_a_time_without_zone_is_utc():
    assert parse_time_ms("2026-11-02T09:00:00Z") == 1_793_610_000_000
    assert parse_time_ms("2026-11-02T09:00:00") == 1_793_610_000_000
    assert parse_time_ms("2026-11-02T10:00:00+01:00") == 1_793_610_000_000
    assert parse_time_ms("2026-11-02T09:00:00.250Z") == 1_793_610_000_250


def test_now_is_the_wall_clock():
    before = int(time.time() * 1000)
    assert before <= parse_time_ms("now") <= int(time.time() * 1000)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-45", ""])
def test_anything_else_is_one_clear_error(text):
    with pytest.raises(ValueError, match="not 'now' or an ISO 8601 time"):
        parse_time_ms(text)

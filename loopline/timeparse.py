"""Times people type on the command line (`simulate --start`, `replay --from-time`) as epoch millis."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def parse_time_ms(text: str) -> int:
    """'now' or an ISO 8601 timestamp (UTC when it names no zone) as epoch millis, the unit Kafka uses."""
    if text == "now":
        return int(time.time() * 1000)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not 'now' or an ISO 8601 time: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)

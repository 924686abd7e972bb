"""One line per log event, so a service's log greps and ships well (pipelines/follow.py, the CLI)."""

from __future__ import annotations

import logging


def one_line(error: BaseException) -> str:
    """An error as one log line: its type and first line (gRPC errors carry pages of debug text)."""
    details = getattr(error, "details", None)
    text = details() if callable(details) else str(error)
    return f"{type(error).__name__}: {(text.strip().splitlines() or [''])[0][:300]}"


class OneLineFormatter(logging.Formatter):
    """Multi-line messages shrink to their first line, a record's exception to one_line()."""

    def format(self, record: logging.LogRecord) -> str:
        message = (record.getMessage().strip().splitlines() or [""])[0]
        if record.exc_info and record.exc_info[1] is not None:
            message += f" ({one_line(record.exc_info[1])})"
        return f"{self.formatTime(record)} {record.levelname} {record.name}: {message}"

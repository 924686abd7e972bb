"""The one contract of the JSON-lines filters (`loopline clean`, `scrub`, `dedup`), Beam-free.

Input is bytes, one JSON object per line: {"id": <a string or number>, <the filter's fields>, ...}.
Every non-blank line gets exactly one output line, in input order, flushed as it goes: the filter's
result {"id": <the id as given>, ...}, or {"id": <the id, or null if there is none to echo>,
"error": "<code>: <detail>"}, where code is one of
  invalid_utf8    the line is not UTF-8
  invalid_json    not JSON (NaN, Infinity, numbers too long and nesting too deep included)
  invalid_record  not an object; id missing or not a string or number; a field missing or not a string
  invalid_text    a string holds a lone surrogate ("\\ud800" is valid JSON but no text)
  oversized       longer than max_line_bytes (read past, never held)
  failed          processing the line raised (the detail names the exception type and where, only)
Details never quote the input. Nothing a line holds stops the stream or costs another line: a batch
that fails is redone line by line. Output is UTF-8 JSON.
"""

from __future__ import annotations

import io
import json
import math
import re
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple, TextIO

MAX_LINE_BYTES = 16 * 2**20

_SURROGATE = re.compile("[\ud800-\udfff]")


class Item(NamedTuple):
    """A valid input line: its id and the declared fields it has, all strings."""

    id: str | int | float
    fields: dict[str, str]


Process = Callable[[list[Item]], list[dict]]  # items -> one result (the output without "id") per item, in order


def run_filter(
    stdin: BinaryIO,
    stdout: BinaryIO | TextIO,
    process: Process,
    *,
    required: tuple[str, ...] = (),
    any_of: tuple[str, ...] = (),
    batch_size: int = 1,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> None:
    """Answer each line of `stdin` on `stdout` by `process`, `batch_size` lines per call. An item has every
    field in `required` and at least one of `any_of` (null counts as absent there)."""
    write = (lambda data: stdout.write(data.decode("utf-8"))) if isinstance(stdout, io.TextIOBase) else stdout.write
    pending: list[Item | dict] = []  # an item to process, or the error line that answers it

    def flush():
        results = iter(_answer([p for p in pending if isinstance(p, Item)], process))
        write(b"".join(_encode(p if isinstance(p, dict) else next(results)) for p in pending))
        stdout.flush()
        pending.clear()

    for line in _lines(stdin, max_line_bytes):
        if line is None:
            pending.append(_error(None, "oversized", f"line longer than the limit of {max_line_bytes} bytes"))
        elif line.strip():
            pending.append(_parse(line, required, any_of))
        if len(pending) >= batch_size:
            flush()
    flush()


def lone_surrogate(text: str) -> int | None:
    """Where `text` holds a surrogate code point, or None: JSON can carry one, UTF-8 (and spaCy) can't."""
    m = _SURROGATE.search(text)
    return m.start() if m else None


def _lines(stdin: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """Each line of `stdin`, or None for one longer than `limit` bytes, read past in pieces and never held."""
    while line := stdin.readline(limit + 2):
        if len(line) < limit + 2 or line.endswith(b"\n"):
            line = line.rstrip(b"\r\n")
            yield line if len(line) <= limit else None
            continue
        while not line.endswith(b"\n") and (line := stdin.readline(1 << 20)):
            pass
        yield None


def _parse(line: bytes, required: tuple[str, ...], any_of: tuple[str, ...]) -> Item | dict:
    try:
        obj = _DECODER.decode(line.decode("utf-8"))
    except UnicodeDecodeError as e:
        return _error(None, "invalid_utf8", f"{e.reason} at byte {e.start}")
    except json.JSONDecodeError as e:
        return _error(None, "invalid_json", f"{e.msg.removesuffix(' at')} at column {e.colno}")  # "starting at"
    except ValueError:  # NaN/Infinity (_not_json), an integer past Python's digit limit
        return _error(None, "invalid_json", "NaN, Infinity or a number out of range")
    except RecursionError:
        return _error(None, "invalid_json", "nested too deeply")
    if not isinstance(obj, dict):
        return _error(None, "invalid_record", f"expected a JSON object, got {_json_type(obj)}")
    ident = obj.get("id")
    if ident is None:
        return _error(None, "invalid_record", "missing id")
    if isinstance(ident, bool) or not isinstance(ident, (str, int, float)):
        return _error(None, "invalid_record", f"id must be a string or number, got {_json_type(ident)}")
    if isinstance(ident, float) and not math.isfinite(ident):
        return _error(None, "invalid_record", "id is a number out of range")
    if isinstance(ident, str) and (at := lone_surrogate(ident)) is not None:
        return _error(None, "invalid_record", f"lone surrogate in id at character {at}")
    fields = {k: obj.get(k) for k in required} | {k: obj[k] for k in any_of if obj.get(k) is not None}
    missing = [k for k in required if k not in obj]
    if missing or (any_of and not any(k in fields for k in any_of)):
        return _error(ident, "invalid_record", f"missing {', '.join(missing) or ' or '.join(any_of)}")
    for name, value in fields.items():
        if not isinstance(value, str):
            return _error(ident, "invalid_record", f"{name} must be a string, got {_json_type(value)}")
        if (at := lone_surrogate(value)) is not None:
            return _error(ident, "invalid_text", f"lone surrogate in {name} at character {at}")
    return Item(ident, fields)


def _answer(items: list[Item], process: Process) -> list[dict]:
    """process(items) with ids, or if that fails, each item on its own; a failing item gets an error line."""
    if not items:
        return []
    try:
        results = process(items)
        if len(results) != len(items):
            raise ValueError(f"{len(results)} results for {len(items)} items")
        return [{"id": item.id, **result} for item, result in zip(items, results)]
    except Exception as e:  # noqa: BLE001 - one bad line must not cost the others
        if len(items) > 1:
            return [out for item in items for out in _answer([item], process)]
        return [_error(items[0].id, "failed", _where(e))]


def _encode(out: dict) -> bytes:
    try:
        return _ENCODER.encode(out).encode("utf-8") + b"\n"
    except (TypeError, ValueError) as e:  # a result JSON or UTF-8 can't hold (UnicodeEncodeError is a ValueError)
        return json.dumps(_error(out.get("id"), "failed", f"unwritable result ({type(e).__name__})")).encode() + b"\n"


def _error(ident, code: str, detail: str) -> dict:
    return {"id": ident, "error": f"{code}: {detail}"}


def _where(error: Exception) -> str:
    """The exception's type and where it was raised, never its message (which may quote the text)."""
    frames = traceback.extract_tb(error.__traceback__)
    return type(error).__name__ + (
        f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    )


def _not_json(constant: str):
    raise ValueError("not JSON")


_DECODER = json.JSONDecoder(parse_constant=_not_json)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def _json_type(value) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")

"""The JSON-lines filter contract (pipelines/jsonlines.py), through all three filters and the CLI: one output
line per non-blank input line, in order, good lines unaffected by bad ones, errors with stable codes that
never quote the input, and nothing that ends the stream."""

from __future__ import annotations

import io
import json

import pytest
from typer.testing import CliRunner

from loopline.cli import app
from loopline.config import CleanConfig, DedupConfig, ScrubConfig
from pipelines.clean import Cleaner
from pipelines.clean import filter_lines as clean_lines
from pipelines.dedup import DedupIndex
from pipelines.dedup import filter_lines as dedup_lines
from pipelines.jsonlines import run_filter
from pipelines.scrub import Scrubber
from pipelines.scrub import filter_lines as scrub_lines

FILTERS = {
    "clean": lambda stdin, stdout, **kw: clean_lines(stdin, stdout, CleanConfig(), "chat", **kw),
    "scrub": lambda stdin, stdout, **kw: scrub_lines(stdin, stdout, ScrubConfig(batch_size=4), **kw),
    "dedup": lambda stdin, stdout, **kw: dedup_lines(stdin, stdout, DedupConfig(min_words=3), **kw),
}
# where each filter does its per-line work, to make it fail
WORK = {"clean": (Cleaner, "clean"), "scrub": (Scrubber, "scrub_batch"), "dedup": (DedupIndex, "check_and_add_batch")}

TEXT = "Hi, I am Anna Smith and my parcel never arrived, mail anna@example.com"
GOOD = [
    json.dumps(r).encode()
    for r in (
        {"id": "a", "text": TEXT},
        {"id": 7, "text": TEXT},
        {"id": 1.5, "text": "The parcel never arrived at my house, sadly"},
        {"id": "", "text": "Call me on +44 20 7946 0958 tomorrow morning please"},
        {"id": 10**30, "text": TEXT, "extra": [1]},
        {"id": -2, "text": "Grüße aus Köln — 東京 ✓"},
    )
]
LIMIT = 200_000
# (line, the id its error echoes, the error code); every bad line carries SECRET, which no error may quote
BAD = [
    (b'{"id": 1, "text": "caf\xe9 SECRET"}', None, "invalid_utf8"),
    (b'{"id": 2, "text": "SECRET', None, "invalid_json"),
    (b'{"id": NaN, "text": "SECRET"}', None, "invalid_json"),
    (b'{"id": 3, "text": "SECRET", "n": ' + b"9" * 5000 + b"}", None, "invalid_json"),
    (b"[" * 100_000 + b'"SECRET"', None, "invalid_json"),
    (b'["SECRET"]', None, "invalid_record"),
    (b'{"text": "SECRET"}', None, "invalid_record"),
    (b'{"id": null, "text": "SECRET"}', None, "invalid_record"),
    (b'{"id": true, "text": "SECRET"}', None, "invalid_record"),
    (b'{"id": {"SECRET": 1}, "text": "x"}', None, "invalid_record"),
    (b'{"id": 1e400, "text": "SECRET"}', None, "invalid_record"),
    (b'{"id": "SECRET\\udc00", "text": "x"}', None, "invalid_record"),
    (b'{"id": 4, "text": 5, "SECRET": 1}', 4, "invalid_record"),
    (b'{"id": 5, "SECRET": "x"}', 5, "invalid_record"),
    (b'{"id": "six", "text": "x \\ud800 y SECRET"}', "six", "invalid_text"),
    (b'{"id": 8, "text": "' + b"SECRET " * 30_000 + b'"}', None, "oversized"),
]


def _run(name: str, data: bytes, **kw) -> list[dict]:
    out = io.BytesIO()
    FILTERS[name](io.BytesIO(data), out, **kw)
    raw = out.getvalue()
    assert raw.endswith(b"\n") or not raw
    return [json.loads(line) for line in raw.decode("utf-8").split("\n")[:-1]]  # strict UTF-8, one JSON per line


@pytest.mark.parametrize("name", FILTERS)
def test_every_bad_input_gets_its_error_line_in_place_and_good_lines_are_unaffected(name):
    alone = _run(name, b"\n".join(GOOD) + b"\n", max_line_bytes=LIMIT)
    assert [o["id"] for o in alone] == [json.loads(g)["id"] for g in GOOD] and not any("error" in o for o in alone)
    lines = [GOOD[0], *(b for b, _, _ in BAD[:8]), b"", b"  \t\r", *GOOD[1:4], *(b for b, _, _ in BAD[8:]), *GOOD[4:]]
    out = _run(name, b"\r\n".join(lines), max_line_bytes=LIMIT)  # CRLF, and no newline after the last line
    assert len(out) == len(GOOD) + len(BAD)
    good = [out[0], *out[9:12], *out[-2:]]
    assert good == alone
    errors = out[1:9] + out[12:-2]
    assert [(e["id"], e["error"].split(":")[0]) for e in errors] == [(ident, code) for _, ident, code in BAD]
    assert all(set(e) == {"id", "error"} and "SECRET" not in e["error"] for e in errors)
    assert alone[1]["id"] == 7 and alone[2]["id"] == 1.5 and alone[4]["id"] == 10**30  # ids echoed as given


@pytest.mark.parametrize("name", FILTERS)
def test_a_line_whose_processing_fails_gets_failed_and_its_batch_goes_on(name, monkeypatch):
    cls, method = WORK[name]
    work = getattr(cls, method)

    def poisoned(self, *args, **kwargs):
        if "POISON" in repr(args):
            raise RuntimeError("refusing POISON")
        return work(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, poisoned)
    lines = [GOOD[0], json.dumps({"id": "p", "text": "POISON pill for the whole batch"}).encode(), *GOOD[1:4]]
    out = _run(name, b"\n".join(lines))
    assert [o["id"] for o in out] == ["a", "p", 7, 1.5, ""]
    assert out[1]["error"].startswith("failed: RuntimeError at ") and "POISON" not in out[1]["error"]
    assert not any("error" in o for i, o in enumerate(out) if i != 1)


def test_a_20_mb_line_is_oversized_and_read_past():
    huge = b'{"id": 1, "text": "' + b"word " * 4_000_000 + b'"}'
    out = _run("clean", huge + b"\n" + json.dumps({"id": 2, "text": "still here"}).encode())
    assert out == [
        {"id": None, "error": f"oversized: line longer than the limit of {16 * 2**20} bytes"},
        {"id": 2, "text": "still here"},
    ]


def test_100000_small_lines_through_clean_in_order():
    data = b"".join(b'{"id": %d, "text": "message %d about my parcel"}\n' % (i, i) for i in range(100_000))
    out = _run("clean", data)
    assert [o["id"] for o in out] == list(range(100_000))
    assert out[99_999] == {"id": 99_999, "text": "message 99999 about my parcel"}


def test_run_filter_writes_text_streams_and_refuses_unwritable_results():
    out = io.StringIO()
    results = iter([{"n": 1}, {"n": float("nan")}, {"n": object()}, {"s": "\ud800"}, {"n": "ü"}])
    run_filter(
        io.BytesIO(b"\n".join(b'{"id": %d, "text": "x"}' % i for i in range(5))),
        out,
        lambda items: [next(results) for _ in items],
        required=("text",),
    )
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0] == {"id": 0, "n": 1} and lines[4] == {"id": 4, "n": "ü"}
    assert [o["error"].split(" (")[0] for o in lines[1:4]] == ["failed: unwritable result"] * 3
    assert [o["id"] for o in lines] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("command", [["clean", "--kind", "chat"], ["scrub"], ["dedup"]])
def test_the_cli_filters_exit_0_and_answer_every_line(command):
    data = b"\n".join([GOOD[0], *(b for b, _, _ in BAD), GOOD[1]])
    result = CliRunner().invoke(app, [*command, "--max-line-bytes", str(LIMIT)], input=data)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout_bytes.decode("utf-8").splitlines()]
    assert [o["id"] for o in out] == ["a", *(ident for _, ident, _ in BAD), 7]
    assert [o["error"].split(":")[0] for o in out[1:-1]] == [code for _, _, code in BAD]

"""The training section of the run report: loss curve, eval metrics before/after, data mix by task.

Written beside the pipeline's reports (<home>/reports/train-<version>-<ms>/) as report.json + report.html.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import time
from pathlib import Path


def write(report, out_dir: Path) -> Path:
    """`report` is a continual.CycleReport; returns the HTML path."""
    data = {"created": int(time.time() * 1000), **dataclasses.asdict(report)}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(data, indent=2, sort_keys=True))
    parts = [
        f"<h1>Loopline training cycle {html.escape(str(report.version))}</h1>",
        f"<p><b>{html.escape(report.outcome)}</b>: {html.escape(report.reason)}<br>trigger: "
        f"{html.escape(report.trigger)}; {report.seconds} s"
        f"{'; retrained from the base after a deletion' if report.rebuild else ''}</p>",
        "<h2>Data read</h2>" + _rows([{k: str(v) for k, v in r.items()} for r in report.reads]),
        "<h2>Training data</h2>" + _table(report.counts),
        "<h2>Mix by task</h2>" + _table(report.mix),
    ]
    if report.metrics:
        names = sorted({m for values in report.metrics.values() for m in values})
        rows = [{"model": who, **{m: _fmt(values.get(m)) for m in names}} for who, values in report.metrics.items()]
        parts.append("<h2>Evaluation (golden split, general text)</h2>" + _rows(rows))
    if report.sft.get("losses"):
        parts.append(f"<h2>SFT loss</h2><img alt='loss curve' src='data:image/png;base64,{_loss_png(report.sft['losses'])}'>")
        parts.append(_table({k: v for k, v in report.sft.items() if k != "losses"}))
    parts.append("<h2>Preference step (KTO)</h2>" + _table({k: str(v) for k, v in report.kto.items() if k != "losses"}))
    page = (
        "<!doctype html><meta charset='utf-8'><title>Loopline training cycle</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:2px 8px;text-align:right}"
        "img{max-width:100%}</style>" + "".join(parts)
    )
    path = out_dir / "report.html"
    path.write_text(page)
    return path


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))


def _table(values: dict) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in values.items())
    return f"<table>{rows}</table>"


def _rows(rows: list[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _loss_png(losses: list) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot([s for s, _ in losses], [v for _, v in losses], color="#3b7dd8")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()

"""Run report: what each stage did, as JSON for machines and an HTML page with plots for people.

Curation views: PII entities by type, duplicates by kind, pairs per task, quality histogram.

Counters come from Beam metrics (namespace "loopline", names "<stage>.<what>"); every counter
prefix becomes a section with a bar chart, so stages that add counters show up without changes here.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path

FUNNEL = [
    ("read", "source.read"),
    ("decoded", "decode.ok"),
    ("late events (curated in late units)", "window.late"),
    ("windows", "window.windows"),
    ("units", "records.units"),
    ("units committed", "store.units_committed"),
    ("re-sent events (stored once)", "store.events_resent"),
]


def build(counters: dict[str, int], *, plan: dict, seconds: float, store_counts: dict[str, int]) -> dict:
    sections: dict[str, dict[str, int]] = {}
    for name, value in sorted(counters.items()):
        stage, _, what = name.partition(".")
        sections.setdefault(stage, {})[what or stage] = value
    read = counters.get("source.read", 0)

    def picked(prefix: str) -> dict[str, int]:
        return {name[len(prefix) :]: v for name, v in sorted(counters.items()) if name.startswith(prefix)}

    return {
        "created": int(time.time() * 1000),
        "plan": plan,
        "seconds": round(seconds, 3),
        "events_per_s": round(read / seconds, 1) if seconds else None,
        "funnel": {label: counters.get(name, 0) for label, name in FUNNEL},
        "dead_letters": sections.get("deadletter", {}),
        "records_written": sections.get("store", {}),
        "store_totals": store_counts,
        "pii_entities": picked("scrub.entities."),
        "duplicates": {k: counters.get(f"dedup.{k}", 0) for k in ("exact", "near", "semantic")},
        "pairs_per_task": picked("pairs.task."),
        "quality_histogram": picked("pairs.quality."),
        "sections": sections,
    }


def write(report: dict, out_dir: Path) -> Path:
    """report.json and report.html in `out_dir`; returns the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    charts = [
        ("Stage funnel", report["funnel"]),
        ("Dead letters by reason", report["dead_letters"]),
        ("PII entities masked, by type", report["pii_entities"]),
        ("Duplicates dropped", report["duplicates"]),
        ("Pairs per task", report["pairs_per_task"]),
        ("Pair quality histogram (bucket start)", report["quality_histogram"]),
        *[
            (f"all counters: {name}", values)
            for name, values in report["sections"].items()
            if name not in ("deadletter", "scrub", "dedup", "pairs")
        ],
    ]
    parts = [
        f"<h1>Loopline run report</h1><p>{html.escape(report['plan'].get('mode', ''))} run of dataset "
        f"<b>{html.escape(str(report['plan'].get('dataset', '')))}</b>: {report['seconds']} s, "
        f"{report['events_per_s']} events/s.</p>",
        "<h2>Store totals</h2>" + _table(report["store_totals"]),
    ]
    for title, values in charts:
        if values:
            parts.append(
                f"<h2>{html.escape(title)}</h2>{_table(values)}<img alt='{html.escape(title)}' "
                f"src='data:image/png;base64,{_bar_png(title, values)}'>"
            )
    page = (
        "<!doctype html><meta charset='utf-8'><title>Loopline run report</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:2px 8px;text-align:right}"
        "img{max-width:100%}</style>" + "".join(parts)
    )
    path = out_dir / "report.html"
    path.write_text(page)
    return path


def _table(values: dict) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{v:,}</td></tr>" for k, v in values.items())
    return f"<table>{rows}</table>"


def _bar_png(title: str, values: dict[str, int]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.4 * len(values) + 1))
    labels = list(values)
    ax.barh(labels[::-1], [values[k] for k in labels][::-1], color="#3b7dd8")
    ax.set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()

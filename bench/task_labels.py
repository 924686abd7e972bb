"""Accuracy and cost of the task labelers (pipelines/tasks.py) on simulated pairs with known task.

Simulated threads are cleaned (duplicates flagged from the truth), paired by the pairs stage's extractor, and
each pair that the simulator also expects is labeled by both methods (keywords: prompt only; embedding: prompt,
response and the thread's earlier customer messages, as the pairs stage does); the simulator's task of the pair
is the truth. Prints accuracy per task and overall, the confusion (rows: truth, columns: label), and ms per pair
of each method (model load apart; one process, batches of --batch-size texts).
The default labels and pairs.task_context_weight were chosen looking at seed 7 only: judge them on others.
Usage: .venv/bin/python bench/task_labels.py [--events 3000] [--seeds 7 99 123 2026] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from loopline.config import CleanConfig, PairsConfig
from pipelines.clean import Cleaner, event_text
from pipelines.pairs import PairExtractor, earlier_requests
from pipelines.simulated import message_id, simulated_threads
from pipelines.tasks import TaskLabeler


def labeled_pairs(seed: int, events: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """Prompt, response and earlier-request texts of the extracted pairs the simulator expects, and the
    simulator's task of each."""
    threads, truth = simulated_threads(seed=seed, count=events)
    cleaner, extractor = Cleaner(CleanConfig()), PairExtractor(PairsConfig(task_method="keywords"))
    prompts, responses, contexts, tasks = [], [], [], []
    for thread in sorted(threads, key=lambda t: (t.end_ms, t.key)):
        curated = []
        for e in thread.events:
            kind, text, html = event_text(e)
            curated.append(
                e._replace(text=cleaner.clean(kind, text=text, html=html), duplicate_of=truth[message_id(e)]["duplicate_of"])
            )
        turns = extractor.turns(thread._replace(events=tuple(curated)))
        for pair in extractor.pairs(turns):
            expected = truth[message_id(pair.response)]["answers"]
            if expected:
                prompts.append("\n\n".join(extractor.text(m) for m in pair.prompts))
                responses.append(extractor.text(pair.response))
                contexts.append(earlier_requests(turns, pair.prompts[0]))
                tasks.append(expected["task"])
    return prompts, responses, contexts, tasks


def report(name: str, truth: list[str], labels: list[str], seconds: float) -> None:
    tasks = sorted(set(truth) | set(labels))
    confusion = Counter(zip(truth, labels))
    right = sum(confusion[t, t] for t in tasks)
    print(f"\n{name}: accuracy {right / len(truth):.3f} of {len(truth)}, {1000 * seconds / len(truth):.2f} ms/pair")
    print(f"{'truth/label':14s}" + "".join(f"{t:>11s}" for t in tasks) + f"{'accuracy':>11s}{'n':>7s}")
    for t in tasks:
        n = sum(confusion[t, label] for label in tasks)
        accuracy = f"{confusion[t, t] / n:11.3f}" if n else f"{'-':>11s}"
        print(f"{t:14s}" + "".join(f"{confusion[t, label]:11d}" for label in tasks) + f"{accuracy}{n:7d}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 99, 123, 2026])
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    t0 = time.perf_counter()
    labelers = {
        "embedding": TaskLabeler(PairsConfig(task_method="embedding"), args.batch_size),
        "keywords": TaskLabeler(PairsConfig(task_method="keywords"), args.batch_size),
    }
    print(f"load: {time.perf_counter() - t0:.1f} s (model and label embeddings)")
    for seed in args.seeds:
        prompts, responses, contexts, truth = labeled_pairs(seed, args.events)
        words = sum(len(t.split()) for t in prompts) / len(prompts)
        print(f"\n=== seed {seed}: {len(prompts)} pairs, prompts of {words:.0f} words on average")
        for name, labeler in labelers.items():
            t0 = time.perf_counter()
            labels = labeler.label(prompts, responses, contexts)
            report(name, truth, labels, time.perf_counter() - t0)


if __name__ == "__main__":
    main()

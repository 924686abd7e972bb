"""Choose training pairs from the store: quality floor plus per-task balance caps.

Caps apply when a training set is selected, not when pairs are written, so the store keeps
every pair and a later selection with other caps (or more data in other tasks) can use them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable


def select_pairs(pairs: Iterable[dict], caps: dict[str, float], min_quality: float = 0.0) -> list[dict]:
    """Pairs with quality >= min_quality, each capped task holding at most its share of the result.

    Deterministic: within a task the best pairs (quality, then pair_id) are kept. A task capped at
    share c may hold k pairs where k <= c * (k + uncapped-or-other pairs kept), i.e. c of the total.
    """
    by_task: dict[str, list[dict]] = defaultdict(list)
    for p in pairs:
        if p["quality_score"] >= min_quality:
            by_task[p["task"]].append(p)
    for task_pairs in by_task.values():
        task_pairs.sort(key=lambda p: (-p["quality_score"], p["pair_id"]))
    uncapped = sum(len(v) for t, v in by_task.items() if t not in caps)
    capped_shares = sum(caps[t] for t in by_task if t in caps)
    if capped_shares >= 1:
        raise ValueError(f"task caps {caps} leave no room for other tasks")
    # the total T satisfies T = uncapped + sum(min(n_t, c_t * T)); solve by fixed point
    total = uncapped + sum(len(v) for t, v in by_task.items() if t in caps)
    for _ in range(50):
        new_total = uncapped + sum(min(len(v), math.floor(caps[t] * total)) for t, v in by_task.items() if t in caps)
        if new_total == total:
            break
        total = new_total
    selected = []
    for task in sorted(by_task):
        keep = by_task[task] if task not in caps else by_task[task][: math.floor(caps[task] * total)]
        selected.extend(keep)
    return sorted(selected, key=lambda p: p["pair_id"])

"""Choose training pairs from the store: quality floor plus per-task balance caps, steered by feedback features.

Caps apply when a training set is selected, not when pairs are written, so the store keeps
every pair and a later selection with other caps (or more data in other tasks) can use them.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterable


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


def feedback_caps(
    caps: dict[str, float], tasks: dict[str, dict], present: Iterable[str], fcfg
) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """Task caps and replay weights steered by feedback features (features/, `fcfg`: a FeaturesConfig).

    `tasks`: per task its feedback_count and thumbs_down_rate at the cycle's cut-off. A task with at least
    fcfg.min_feedback in the window is
      struggling (rate >= struggling_from): replay weight 1 + boost x rate, its cap (if any) raised by that factor;
      liked (rate < liked_below): capped at liked_cap (or its own cap, if lower).
    Returns (caps, weights, verdict by task). The caps of the `present` tasks (those with candidate pairs) must
    sum below 1 (select_pairs), and liked caps must leave some present task uncapped, else they are dropped:
    with every task liked there is nothing to shift the training towards, and a cap would only shrink it."""
    present = set(present)
    weights: dict[str, float] = {}
    verdicts: dict[str, str] = {}
    boosted, liked = dict(caps), {}
    for task, values in sorted(tasks.items()):
        rate, count = values.get("thumbs_down_rate") or 0.0, values.get("feedback_count") or 0
        if count < fcfg.min_feedback:
            continue
        if rate >= fcfg.struggling_from:
            factor = 1 + fcfg.boost * rate
            weights[task], verdicts[task] = factor, "struggling"
            if task in caps:
                boosted[task] = min(0.9, caps[task] * factor)
        elif rate < fcfg.liked_below:
            liked[task], verdicts[task] = min(caps.get(task, 1.0), fcfg.liked_cap), "liked"

    def room(c: dict[str, float]) -> bool:
        return sum(share for t, share in c.items() if t in present) < 1

    with_liked = {**boosted, **liked}
    if liked and room(with_liked) and present - set(with_liked):
        return with_liked, weights, verdicts
    verdicts = {t: v for t, v in verdicts.items() if v != "liked"}
    return (boosted if room(boosted) else dict(caps)), weights, verdicts


def weighted_sample(pairs: Iterable[dict], size: int, weight: Callable[[dict], float], seed: str) -> list[dict]:
    """`size` pairs drawn without replacement, each with chance proportional to weight(pair) (Efraimidis-Spirakis:
    the smallest keys -ln(u)/w). u comes from sha256(seed/pair_id), so the draw depends on the pairs and the
    seed only, never on their order; sorted by pair_id."""

    def key(p: dict) -> tuple[float, str]:
        digest = hashlib.sha256(f"{seed}/{p['pair_id']}".encode()).digest()
        u = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 1)  # in (0, 1)
        return -math.log(u) / max(weight(p), 1e-9), p["pair_id"]

    return sorted(sorted(pairs, key=key)[:size], key=lambda p: p["pair_id"])

"""A store snapshot -> the offline tables Feast reads (parquet), rebuilt whole from the snapshot each time.

Rebuilding (never appending) is what makes forgetting work here: a snapshot never returns a forgotten subject's
records, so after `CuratedStore.forget` and a re-export its pairs are gone from the tables, and the task volumes
no longer count them. Each row's `event_timestamp` is when its values became true, for point-in-time joins:

pairs     one row per pair at its created_at; duplicate_count = pairs sharing its content_hash so far (the
          store keeps no dedup clusters: exact duplicates by content_hash are what it can honestly tell), with
          one more row whenever a later duplicate arrives.
tasks     a row at every moment a task's values change: a pair created (volume), a feedback arriving in the
          window or leaving it (event_time + window): thumbs-down rate over (t - window, t].
adapters  a row per feedback event: feedback so far on that adapter version and its thumbs-up rate.

Pure pandas/pyarrow (no feast import), so the export is cheap to call.
"""

from __future__ import annotations

import bisect
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopline.store.manifest import entry_path

PAIRS = "CuratedPair"
FEEDBACK = "FeedbackExample"
PAIRS_TABLE, TASKS_TABLE, ADAPTERS_TABLE = "pairs.parquet", "tasks.parquet", "adapters.parquet"
EXPORT_INFO = "export.json"

_TS = pa.timestamp("ms", tz="UTC")
PAIR_SCHEMA = pa.schema(
    [
        ("pair_id", pa.string()),
        ("quality_score", pa.float64()),
        ("pair_task", pa.string()),
        ("source_kind", pa.string()),
        ("duplicate_count", pa.int64()),
        ("created_at_ms", pa.int64()),
        ("event_timestamp", _TS),
    ]
)
TASK_SCHEMA = pa.schema(
    [
        ("task", pa.string()),
        ("pairs", pa.int64()),
        ("feedback_count", pa.int64()),
        ("thumbs_down", pa.int64()),
        ("thumbs_down_rate", pa.float64()),
        ("event_timestamp", _TS),
    ]
)
ADAPTER_SCHEMA = pa.schema(
    [
        ("adapter_version", pa.string()),
        ("feedback_count", pa.int64()),
        ("thumbs_up", pa.int64()),
        ("thumbs_up_rate", pa.float64()),
        ("event_timestamp", _TS),
    ]
)


@dataclass
class ExportResult:
    dataset: str
    seq: int
    commit_ms: int
    rows: dict[str, int]
    pair_ids: set[str]


def commit_ms(snap) -> int:
    """When the snapshot's manifest entry was committed (wall clock, ms): the trainer's feature cut-off.
    seq 0 (nothing committed): when the dataset was created."""
    dataset_dir = snap._store.path
    if snap.seq == 0:
        return json.loads((dataset_dir / "dataset.json").read_text())["created"]
    return json.loads(entry_path(dataset_dir, snap.seq).read_text())["created"]


def feedback_task(record: dict) -> str:
    """FeedbackExamples written before the `task` field existed read without it: the schema's default."""
    return record.get("task") or "other"


def export_snapshot(snap, offline_dir: Path, window_ms: int) -> ExportResult:
    """Write the three tables for `snap` into `offline_dir` (each replaced atomically) and an export.json."""
    pairs = sorted(snap.read(PAIRS), key=lambda p: (p["created_at"], p["pair_id"]))
    feedback = sorted(snap.read(FEEDBACK), key=lambda r: (r["event_time"], r["example_id"]))
    tables = {
        PAIRS_TABLE: pa.Table.from_pylist(pair_rows(pairs), schema=PAIR_SCHEMA),
        TASKS_TABLE: pa.Table.from_pylist(task_rows(pairs, feedback, window_ms), schema=TASK_SCHEMA),
        ADAPTERS_TABLE: pa.Table.from_pylist(adapter_rows(feedback), schema=ADAPTER_SCHEMA),
    }
    offline_dir = Path(offline_dir)
    offline_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        tmp = offline_dir / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, offline_dir / name)
    result = ExportResult(
        snap.dataset, snap.seq, commit_ms(snap), {n: t.num_rows for n, t in tables.items()}, {p["pair_id"] for p in pairs}
    )
    info = {"dataset": result.dataset, "seq": result.seq, "commit_ms": result.commit_ms, "rows": result.rows}
    tmp = offline_dir / f".{EXPORT_INFO}.tmp"
    tmp.write_text(json.dumps(info, sort_keys=True))
    os.replace(tmp, offline_dir / EXPORT_INFO)
    return result


def pair_rows(pairs: list[dict]) -> list[dict]:
    """`pairs` sorted by (created_at, pair_id); a row per pair per change of its duplicate count."""
    rows = []
    by_hash: dict[str, list[dict]] = defaultdict(list)
    for p in pairs:
        by_hash[p["content_hash"]].append(p)
    for group in by_hash.values():
        for i, p in enumerate(group):
            for j in range(i, len(group)):  # p's count grows each time a later duplicate arrives
                rows.append(
                    {
                        "pair_id": p["pair_id"],
                        "quality_score": float(p["quality_score"]),
                        "pair_task": p["task"],
                        "source_kind": p["source_kind"],
                        "duplicate_count": j + 1,
                        "created_at_ms": p["created_at"],
                        "event_timestamp": _ts(group[j]["created_at"]),
                    }
                )
    return _last_per_key_and_time(rows, "pair_id")


def task_rows(pairs: list[dict], feedback: list[dict], window_ms: int) -> list[dict]:
    """A row per task at each moment its volume or windowed feedback changes (inputs sorted by time)."""
    created: dict[str, list[int]] = defaultdict(list)
    for p in pairs:
        created[p["task"]].append(p["created_at"])
    events: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for r in feedback:
        events[feedback_task(r)].append((r["event_time"], not r["desirable"]))
    rows = []
    for task in sorted(set(created) | set(events)):
        times = created[task]
        fb = events[task]
        fb_times = [t for t, _ in fb]
        downs = [0]  # prefix sums of thumbs-down
        for _, down in fb:
            downs.append(downs[-1] + down)
        changes = sorted({*times, *fb_times, *(t + window_ms for t in fb_times)})
        for t in changes:
            lo = bisect.bisect_right(fb_times, t - window_ms)  # window (t - window, t]
            hi = bisect.bisect_right(fb_times, t)
            n, down = hi - lo, downs[hi] - downs[lo]
            rows.append(
                {
                    "task": task,
                    "pairs": bisect.bisect_right(times, t),
                    "feedback_count": n,
                    "thumbs_down": down,
                    "thumbs_down_rate": down / n if n else 0.0,
                    "event_timestamp": _ts(t),
                }
            )
    return rows


def adapter_rows(feedback: list[dict]) -> list[dict]:
    """A row per feedback event (sorted by time): the running totals of its adapter version."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rows = []
    for r in feedback:
        total = totals[r["adapter_version"]]
        total[0] += 1
        total[1] += bool(r["desirable"])
        rows.append(
            {
                "adapter_version": r["adapter_version"],
                "feedback_count": total[0],
                "thumbs_up": total[1],
                "thumbs_up_rate": total[1] / total[0],
                "event_timestamp": _ts(r["event_time"]),
            }
        )
    return _last_per_key_and_time(rows, "adapter_version")


def read_table(offline_dir: Path, name: str) -> pd.DataFrame:
    return pq.read_table(Path(offline_dir) / name).to_pandas()


def _last_per_key_and_time(rows: list[dict], key: str) -> list[dict]:
    """Two rows of one entity at one timestamp make a point-in-time join ambiguous: keep the later one."""
    last = {}
    for row in rows:
        last[(row[key], row["event_timestamp"])] = row
    return sorted(last.values(), key=lambda r: (r["event_timestamp"], r[key]))


def _ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")

"""The Feast store of a LooplineConfig, built in code: export, apply, materialize, historical retrieval.

Paths (all under <home>/features, the ones features/repo/feature_store.yaml names through $LOOPLINE_HOME):
offline/*.parquet (features/export.py), registry.db, online.db (SQLite). Entry points:

    refresh(config, snap)              export + apply + materialize up to the snapshot's commit: `loopline loop`
                                       after the pipeline commits, `loopline features refresh` by hand
    TrainingFeatures(config).lookup(snap, pairs)
                                       what trainer.data.select_cycle calls: export the pinned snapshot, then a
                                       point-in-time join of the pairs at the cut-off (default: the snapshot's
                                       commit time), so a rerun of the cycle gets the same features
    historical(config, entity_df, refs)  any other point-in-time join
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from features.export import ExportResult, commit_ms, export_snapshot, read_table
from loopline.config import FeaturesConfig, LooplineConfig
from loopline.files import file_lock

PROJECT = "loopline"
PAIR_FEATURES = [
    "pair_stats:quality_score",
    "pair_stats:pair_task",
    "pair_stats:source_kind",
    "pair_stats:duplicate_count",
    "pair_stats:created_at_ms",
    "task_stats:pairs",
    "task_stats:feedback_count",
    "task_stats:thumbs_down",
    "task_stats:thumbs_down_rate",
]


def features_dir(config: LooplineConfig) -> Path:
    return Path(config.home) / "features"


def offline_dir(config: LooplineConfig) -> Path:
    return features_dir(config) / "offline"


def window_ms(config: LooplineConfig) -> int:
    return round(config.features.feedback_window_hours * 3_600_000)


def feature_store(config: LooplineConfig):
    """A FeatureStore over <home>/features: the same registry and stores the Feast CLI uses with this home."""
    from feast import FeatureStore, RepoConfig
    from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig

    root = features_dir(config)
    root.mkdir(parents=True, exist_ok=True)
    repo = RepoConfig(
        project=PROJECT,
        registry=str(root / "registry.db"),
        provider="local",
        offline_store=DaskOfflineStoreConfig(),
        online_store=SqliteOnlineStoreConfig(path=str(root / "online.db")),
        entity_key_serialization_version=3,
        repo_path=str(Path(__file__).resolve().parent / "repo"),
    )
    return FeatureStore(config=repo)


def export(config: LooplineConfig, snap) -> ExportResult:
    """Rebuild the offline tables from `snap` (features/export.py)."""
    return export_snapshot(snap, offline_dir(config), window_ms(config))


def apply(config: LooplineConfig, store=None):
    """Register the definitions (features/repo/definitions.py) over this config's offline tables; idempotent."""
    from features.repo.definitions import feature_objects

    store = store or feature_store(config)
    store.apply(feature_objects(offline_dir(config)))
    return store


def materialize(config: LooplineConfig, end: datetime | None = None, store=None) -> dict[str, int]:
    """Load the latest values up to `end` (default now) into the online store, from the first row on (the tables
    are rebuilt on each export, so an older row may have changed), after deleting the online rows of entities
    the tables no longer hold (a forgotten subject's pairs). Returns those deleted counts by view."""
    store = store or feature_store(config)
    end = end or datetime.now(UTC)
    pruned = prune_online(config, store)
    store.materialize(start_date=datetime(1970, 1, 2, tzinfo=UTC), end_date=end)
    return pruned


def prune_online(config: LooplineConfig, store) -> dict[str, int]:
    """Delete online rows whose entity is absent from the offline tables (Feast's materialize only writes).
    Reads Feast's SQLite layout: table <project>_<view>, rows keyed by the serialized entity key."""
    from feast.infra.key_encoding_utils import deserialize_entity_key

    db = features_dir(config) / "online.db"
    if not db.exists():
        return {}
    tables = {
        "pair_stats": ("pairs.parquet", "pair_id"),
        "task_stats": ("tasks.parquet", "task"),
        "adapter_stats": ("adapters.parquet", "adapter_version"),
    }
    pruned = {}
    with sqlite3.connect(db) as conn:
        for view, (table, key) in tables.items():
            name = f"{PROJECT}_{view}"
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone():
                continue
            live = set(read_table(offline_dir(config), table)[key]) if (offline_dir(config) / table).exists() else set()
            stale = []
            for (blob,) in conn.execute(f'SELECT DISTINCT entity_key FROM "{name}"'):
                entity = deserialize_entity_key(blob, entity_key_serialization_version=3)
                if entity.entity_values[0].string_val not in live:
                    stale.append(blob)
            conn.executemany(f'DELETE FROM "{name}" WHERE entity_key = ?', [(b,) for b in stale])
            pruned[view] = len(stale)
    return pruned


def refresh(config: LooplineConfig, snap, store=None) -> dict:
    """Export `snap`, apply, and materialize up to its commit time; returns rows and seconds per step."""
    timings = {}
    with file_lock(_lock_path(config)):
        t = time.perf_counter()
        result = export(config, snap)
        timings["export_s"] = time.perf_counter() - t
        t = time.perf_counter()
        store = apply(config, store)
        timings["apply_s"] = time.perf_counter() - t
        t = time.perf_counter()
        pruned = materialize(config, _dt(result.commit_ms), store)
        timings["materialize_s"] = time.perf_counter() - t
    return {"seq": result.seq, "commit_ms": result.commit_ms, "rows": result.rows, "pruned": pruned, **timings}


def historical(config: LooplineConfig, entity_df: pd.DataFrame, refs: list[str], store=None) -> pd.DataFrame:
    """Point-in-time join: each entity row gets the values its features had at its `event_timestamp`."""
    store = store or feature_store(config)
    return store.get_historical_features(entity_df=entity_df, features=refs, full_feature_names=True).to_df()


def pair_features(config: LooplineConfig, pairs: list[dict], cutoff_ms: int, store=None) -> pd.DataFrame:
    """PAIR_FEATURES of `pairs` (by pair_id, with their task) as of `cutoff_ms`, one row per pair, by pair_id.
    Adds age_s = cut-off - created_at (NaN for a pair created after the cut-off: not known then)."""
    entity_df = pd.DataFrame(
        {
            "pair_id": [p["pair_id"] for p in pairs],
            "task": [p["task"] for p in pairs],
            "event_timestamp": pd.Series([_dt(cutoff_ms)] * len(pairs), dtype="datetime64[ns, UTC]"),
        }
    )
    frame = historical(config, entity_df, PAIR_FEATURES, store)
    frame = frame.sort_values("pair_id", kind="stable").reset_index(drop=True)
    frame["age_s"] = (cutoff_ms - frame["pair_stats__created_at_ms"]) / 1000
    return frame


@dataclass
class FeatureLookup:
    """What select_cycle gets back: per pair, its features at `cutoff_ms`, keyed without the view prefix."""

    cutoff_ms: int
    pairs: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def tasks(self) -> dict[str, dict]:
        """Per task: feedback_count, thumbs_down_rate, pairs (every pair of a task carries the same values)."""
        out = {}
        for values in self.pairs.values():
            out.setdefault(values["task"], {k: values[k] for k in ("pairs", "feedback_count", "thumbs_down_rate")})
        return out


class TrainingFeatures:
    """The trainer's handle: `lookup(snap, pairs)` exports the pinned snapshot and joins at the cut-off.

    cutoff_ms None: the snapshot's commit time (deterministic for a pinned snapshot: a resumed cycle sees the
    same values); pass a time to train as of another moment (tests, backfills)."""

    def __init__(self, config: LooplineConfig, cutoff_ms: int | None = None):
        self.loopline = config
        self.cutoff_ms = cutoff_ms
        self._store = None

    @property
    def config(self) -> FeaturesConfig:
        return self.loopline.features

    def lookup(self, snap, pairs: list[dict]) -> FeatureLookup:
        seconds = {}
        with file_lock(_lock_path(self.loopline)):  # another export between ours and the join would change it
            t = time.perf_counter()
            result = export(self.loopline, snap)
            seconds["export_s"] = time.perf_counter() - t
            if self._store is None:
                t = time.perf_counter()
                self._store = apply(self.loopline)
                seconds["apply_s"] = time.perf_counter() - t
            cutoff = self.cutoff_ms if self.cutoff_ms is not None else result.commit_ms
            t = time.perf_counter()
            frame = pair_features(self.loopline, pairs, cutoff, self._store) if pairs else None
            seconds["retrieve_s"] = time.perf_counter() - t
        lookup = FeatureLookup(cutoff, seconds={k: round(v, 3) for k, v in seconds.items()})
        if frame is None:
            return lookup
        for row in frame.to_dict("records"):
            lookup.pairs[row["pair_id"]] = {
                "task": row["task"],
                "quality_score": _num(row["pair_stats__quality_score"]),
                "source_kind": row["pair_stats__source_kind"],
                "duplicate_count": int(_num(row["pair_stats__duplicate_count"], 1)),
                "age_s": _num(row["age_s"]),
                "pairs": int(_num(row["task_stats__pairs"], 0)),
                "feedback_count": int(_num(row["task_stats__feedback_count"], 0)),
                "thumbs_down_rate": _num(row["task_stats__thumbs_down_rate"], 0.0),
            }
        return lookup


def snapshot_cutoff_ms(snap) -> int:
    return commit_ms(snap)


def _num(value, default=None):
    return default if value is None or pd.isna(value) else float(value)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _lock_path(config: LooplineConfig) -> Path:
    root = features_dir(config)
    root.mkdir(parents=True, exist_ok=True)
    return root / ".lock"

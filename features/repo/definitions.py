"""Loopline's Feast objects: entities, parquet file sources and feature views, as code.

`feast -c features/repo apply` imports this file and registers the module-level objects, whose sources sit under
$LOOPLINE_HOME/features/offline (the tables features/export.py writes). features/store.py calls `feature_objects`
with the directory a LooplineConfig names, so the CLI and the trainer register the same definitions.

Every row's event timestamp is when its values became true (a pair's created_at, a feedback's event_time, the
moment a feedback left a task's window), so a point-in-time join at a cut-off sees only what was known then.
ttl 0: values never expire; a newer row replaces them.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String

PAIRS_TABLE = "pairs.parquet"
TASKS_TABLE = "tasks.parquet"
ADAPTERS_TABLE = "adapters.parquet"
TIMESTAMP = "event_timestamp"

pair = Entity(name="pair", join_keys=["pair_id"], value_type=ValueType.STRING, description="A CuratedPair.")
task = Entity(name="task", join_keys=["task"], value_type=ValueType.STRING, description="A pair/feedback task label.")
adapter = Entity(
    name="adapter", join_keys=["adapter_version"], value_type=ValueType.STRING, description="A served adapter version."
)


def feature_objects(offline_dir: Path) -> list:
    """The entities and feature views over the tables in `offline_dir`."""
    offline_dir = Path(offline_dir)

    def source(name: str, table: str) -> FileSource:
        return FileSource(name=name, path=str(offline_dir / table), timestamp_field=TIMESTAMP)

    pair_stats = FeatureView(
        name="pair_stats",
        entities=[pair],
        ttl=timedelta(0),
        schema=[
            Field(name="quality_score", dtype=Float64),
            Field(name="pair_task", dtype=String, description="The pair's task (named apart from the task entity)."),
            Field(name="source_kind", dtype=String),
            Field(name="duplicate_count", dtype=Int64, description="Pairs sharing its content_hash so far (itself included)."),
            Field(name="created_at_ms", dtype=Int64, description="Age at a cut-off = cut-off - this."),
        ],
        source=source("pairs_source", PAIRS_TABLE),
        online=True,
    )
    task_stats = FeatureView(
        name="task_stats",
        entities=[task],
        ttl=timedelta(0),
        schema=[
            Field(name="pairs", dtype=Int64, description="Volume: pairs of the task created so far."),
            Field(name="feedback_count", dtype=Int64, description="Feedback of the task in the recent window."),
            Field(name="thumbs_down", dtype=Int64),
            Field(name="thumbs_down_rate", dtype=Float64, description="thumbs_down / feedback_count; 0 without feedback."),
        ],
        source=source("tasks_source", TASKS_TABLE),
        online=True,
    )
    adapter_stats = FeatureView(
        name="adapter_stats",
        entities=[adapter],
        ttl=timedelta(0),
        schema=[
            Field(name="feedback_count", dtype=Int64, description="Feedback on the version so far."),
            Field(name="thumbs_up", dtype=Int64),
            Field(name="thumbs_up_rate", dtype=Float64),
        ],
        source=source("adapters_source", ADAPTERS_TABLE),
        online=True,
    )
    return [pair, task, adapter, pair_stats, task_stats, adapter_stats]


def default_offline_dir() -> Path:
    """$LOOPLINE_HOME/features/offline, with LooplineConfig's fallback home when it is unset."""
    home = os.environ.get("LOOPLINE_HOME") or Path(__file__).resolve().parents[2] / "var"
    return Path(home) / "features" / "offline"


# what `feast apply` registers
_, _, _, pair_stats, task_stats, adapter_stats = feature_objects(default_offline_dir())

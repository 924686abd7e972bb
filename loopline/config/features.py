"""Section of the Feast feature repository (features/)."""

from __future__ import annotations

from pydantic import Field

from loopline.config.base import Section, Share


class FeaturesConfig(Section):
    """Feast features that choose what the trainer trains on (features/, trainer/selection.py).

    The offline tables, Feast registry and SQLite online store live under <home>/features; the Feast CLI
    finds the same paths through $LOOPLINE_HOME (features/repo/feature_store.yaml)."""

    enabled: bool = Field(
        True,
        description="The trainer weighs its selection by feedback features from Feast (historical retrieval at the "
        "snapshot's commit time); false: the plain quality floor + task caps of trainer.data.",
    )
    feedback_window_hours: float = Field(
        168.0, gt=0, description="A task's thumbs-down rate counts the feedback of this many hours up to each moment."
    )
    min_feedback: int = Field(
        5, ge=1, description="A task's thumbs-down rate steers selection only with at least this much feedback in the window."
    )
    liked_below: Share = Field(
        0.2, description="Tasks with a thumbs-down rate below this (and enough feedback) are ones users already like..."
    )
    liked_cap: Share = Field(
        0.1, description="...and hold at most this share of a selection (or their task_caps share, if lower)."
    )
    struggling_from: Share = Field(
        0.5, description="Tasks with a thumbs-down rate at or above this (and enough feedback) get more training..."
    )
    boost: float = Field(
        2.0,
        ge=0,
        description="...their replay weight is 1 + boost x rate (a larger share of the replay sample), and their "
        "task_caps share is raised by the same factor (at most 0.9).",
    )

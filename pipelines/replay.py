"""Replay: a new dataset version rebuilt from the topics, never bringing back a subject the live one forgot."""

from __future__ import annotations

from loopline.config import LooplineConfig
from loopline.store import CuratedStore
from pipelines.run import create_dataset


def check_replay_target(cfg: LooplineConfig, version: str) -> None:
    """Raise ValueError unless `version` names a new dataset: a replay never writes into the live one or another."""
    if version == cfg.pipeline.store.dataset:
        raise ValueError(f"{version!r} is the live dataset; replay into a new version")
    if CuratedStore(cfg.store_root, version).exists():
        raise ValueError(f"dataset {version!r} already exists; pick a new version name")


def create_replay(cfg: LooplineConfig, version: str, from_time_ms: int | None = None) -> CuratedStore:
    """The empty version, starting at the topics' first offsets (or the first at/after `from_time_ms`), with every
    subject forgotten in the live dataset already forgotten in it; a bounded run then fills it."""
    live = CuratedStore(cfg.store_root, cfg.pipeline.store.dataset)
    target = create_dataset(
        cfg, version, {"created_by": "replay", "replay_of": cfg.pipeline.store.dataset}, from_time_ms=from_time_ms
    )
    for subject in live.forgotten() if live.exists() else ():
        target.forget(subject)
    return target

"""Typed configuration: defaults here, overridden by a YAML file (`--config` or $LOOPLINE_CONFIG).

Every component reads its own section; nothing else reads the environment.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from loopline.config.base import Section
from loopline.config.curate import CleanConfig, DedupConfig, PairsConfig, ScrubConfig
from loopline.config.features import FeaturesConfig
from loopline.config.pipeline import DecodeConfig, FollowConfig, PipelineConfig, SourceConfig, StoreConfig, WindowConfig
from loopline.config.serve import ServeConfig
from loopline.config.stack import FlinkConfig, KafkaConfig, PrismConfig, SimulateConfig
from loopline.config.trainer import (
    TrainerConfig,
    TrainerDataConfig,
    TrainerEvalConfig,
    TrainerKTOConfig,
    TrainerModelConfig,
    TrainerSFTConfig,
    TrainerTriggerConfig,
)

__all__ = [
    "CleanConfig",
    "ConfigError",
    "DecodeConfig",
    "DedupConfig",
    "FeaturesConfig",
    "FlinkConfig",
    "FollowConfig",
    "KafkaConfig",
    "LooplineConfig",
    "PairsConfig",
    "PipelineConfig",
    "PrismConfig",
    "ScrubConfig",
    "ServeConfig",
    "SimulateConfig",
    "SourceConfig",
    "StoreConfig",
    "TrainerConfig",
    "TrainerDataConfig",
    "TrainerEvalConfig",
    "TrainerKTOConfig",
    "TrainerModelConfig",
    "TrainerSFTConfig",
    "TrainerTriggerConfig",
    "WindowConfig",
    "load",
]

REPO_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(ValueError):
    """The configuration cannot be used; the one-line message names the file, the key and what is expected."""


class LooplineConfig(Section):
    home: Path = Field(
        default_factory=lambda: Path(os.environ.get("LOOPLINE_HOME", REPO_ROOT / "var")),
        description="Project-local state: Kafka data, logs, stores, reports.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path(os.environ.get("LOOPLINE_CACHE", Path.home() / ".cache" / "loopline")),
        description="Downloads and builds kept across runs: Kafka jars, Prism, the Flink job server.",
    )
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    prism: PrismConfig = Field(default_factory=PrismConfig)
    flink: FlinkConfig = Field(default_factory=FlinkConfig)
    simulate: SimulateConfig = Field(default_factory=SimulateConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    @property
    def store_root(self) -> Path:
        return self.pipeline.store.root or self.home / "store"

    @property
    def registry_root(self) -> Path:
        return self.trainer.registry or self.home / "adapters"


def load(path: str | Path | None = None) -> LooplineConfig:
    """Defaults, overridden by the YAML at `path` (or $LOOPLINE_CONFIG) when given; ConfigError if unusable."""
    origin = "--config"
    if not path and os.environ.get("LOOPLINE_CONFIG"):
        path, origin = os.environ["LOOPLINE_CONFIG"], "$LOOPLINE_CONFIG"
    if not path:
        return LooplineConfig()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} (from {origin}) does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} (from {origin}) is a directory; give a YAML file") from None
    except OSError as e:
        raise ConfigError(f"config file {path} (from {origin}) cannot be read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(e)}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections (kafka:, pipeline:, ...)")
    try:
        return LooplineConfig.model_validate(data or {})
    except ValidationError as e:
        raise ConfigError(f"config file {path}: {_first_problem(e)}") from None


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return where + (getattr(e, "problem", None) or str(e).splitlines()[0])


def _first_problem(e: ValidationError) -> str:
    """One line for the first error (dotted key, what is wrong, what was given), counting the others."""
    err = e.errors()[0]
    key = ".".join(str(part) for part in err["loc"])
    if err["type"] == "extra_forbidden":
        known = _known_keys(err["loc"][:-1])
        close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
        problem = f"unknown key {key}" + (f" (did you mean {'.'.join([*map(str, err['loc'][:-1]), close[0]])}?)" if close else "")
    else:
        given = repr(err["input"])
        problem = f"{key}: {err['msg'][0].lower()}{err['msg'][1:]} (got {given if len(given) <= 60 else given[:57] + '...'})"
    others = e.error_count() - 1
    return problem + (f" (and {others} more problem{'s' * (others > 1)})" if others else "")


def _known_keys(loc: tuple) -> list[str]:
    """The keys a section at `loc` accepts (empty where `loc` is not a section)."""
    model: type[BaseModel] = LooplineConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)

"""The README is part of the contract: its config block and CLI list must match the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from loopline.cli import app
from loopline.config import LooplineConfig

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_readme_config_block_loads_and_states_the_defaults():
    block = README[README.index("```yaml", README.index("## Configuration")) + len("```yaml") :]
    documented = LooplineConfig.model_validate(yaml.safe_load(block[: block.index("```")]))
    paths = {"home", "cache_dir"}  # shown relative in the README
    assert documented.model_dump(exclude=paths) == LooplineConfig().model_dump(exclude=paths)


def test_the_readme_lists_every_cli_command():
    listed = set(re.findall(r"\bloopline (\w+)", README[README.index("## CLI") : README.index("## The pipeline")]))
    commands = {c.name or c.callback.__name__ for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert commands <= listed, f"not in the README: {sorted(commands - listed)}"

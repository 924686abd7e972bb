"""Section of the model server (serving/)."""

from __future__ import annotations

from loopline.config.base import Section


class ServeConfig(Section):
    """`loopline serve`: the OpenAI-compatible server on the promoted adapter, feedback into Kafka."""

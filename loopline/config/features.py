"""Section of the Feast feature repository (features/)."""

from __future__ import annotations

from loopline.config.base import Section


class FeaturesConfig(Section):
    """Feast features that choose what the trainer trains on."""

"""Prism streams: windowed GroupByKey output appears while the unbounded source is still running."""

from __future__ import annotations

from loopline.config import PrismConfig
from loopline.stack.prism import pipeline_args
from loopline.stack.runner_check import check_streaming


def test_prism_emits_windows_before_source_ends(tmp_path, cache_dir):
    result = check_streaming(pipeline_args(PrismConfig(), cache_dir), tmp_path, ticks=12, timeout_s=60)
    assert result.output_seen_before_source_end
    assert [w["ticks"] for w in result.windows] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]


def test_check_detects_a_runner_that_only_emits_at_source_end(tmp_path):
    """The FnApiRunner buffers GroupByKey until the source finishes: the check must say so."""
    result = check_streaming(["--runner=FnApiRunner"], tmp_path, ticks=12, timeout_s=5)
    assert not result.output_seen_before_source_end
    assert len(result.windows) == 3  # the output does arrive, but only after the source ended

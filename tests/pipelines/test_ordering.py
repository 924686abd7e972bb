"""Canonical order: threads are released in window-end, then key order, whatever order they arrive in."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import window

from pipelines.model import Thread
from pipelines.ordering import InCanonicalOrder


def test_threads_are_released_in_window_end_then_key_order(tmp_path):
    threads = [Thread(f"chat:{k}", 0, end, ()) for k, end in [("b", 3000), ("a", 3000), ("c", 1000), ("d", 2000)]]
    out = tmp_path / "order.jsonl"
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        (
            p
            | beam.Create(threads)
            | beam.Map(lambda t: window.TimestampedValue(t, t.end_ms / 1000))
            | InCanonicalOrder()
            | beam.Map(lambda t: open(out, "a").write(t.key + "\n"))
        )
    assert out.read_text().split() == ["chat:c", "chat:d", "chat:a", "chat:b"]

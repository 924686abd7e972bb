"""Does this runner really stream? A self-checking pipeline for `loopline stack check`.

An unbounded source emits a few timestamped elements into fixed event-time windows, then
advances its watermark and keeps running until it sees that a windowed GroupByKey result
reached the sink (a marker file) — or until a deadline. On a streaming runner (Prism) the
grouped output appears while the source is still alive; on the FnApiRunner it only appears
after the source ends, so the source records that it never saw it.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import window
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.utils.timestamp import Duration, Timestamp

WINDOW_S = 5


class _Endless(RestrictionProvider):
    def initial_restriction(self, element):
        return OffsetRange(0, sys.maxsize)

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return 1


class _TickThenWait(beam.DoFn):
    """Emit `n` ticks one second of event time apart, then wait for the sink's marker."""

    def __init__(self, n: int, marker: str, report: str, deadline: float):
        self.n, self.marker, self.report, self.deadline = n, marker, report, deadline

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element,
        tracker=beam.DoFn.RestrictionParam(_Endless()),
        watermark=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider()),
    ):
        pos = tracker.current_restriction().start
        if pos < self.n:
            if tracker.try_claim(pos):
                watermark.set_watermark(Timestamp(pos))
                yield window.TimestampedValue(("tick", pos), Timestamp(pos))
                tracker.defer_remainder(Duration(0.05))
            return
        watermark.set_watermark(Timestamp(self.n + 10 * WINDOW_S))  # closes every window
        seen = Path(self.marker).exists()
        if seen or time.time() > self.deadline:
            Path(self.report).write_text(json.dumps({"output_seen_before_source_end": seen}))
            tracker.try_claim(sys.maxsize - 1)  # claim the rest: the source is done
            return
        if tracker.try_claim(pos):
            tracker.defer_remainder(Duration(0.1))


class _MarkWindow(beam.DoFn):
    def __init__(self, marker: str):
        self.marker = marker

    def process(self, kv, w=beam.DoFn.WindowParam):
        with open(self.marker, "a") as f:
            f.write(json.dumps({"window_start": float(w.start), "ticks": sorted(kv[1])}) + "\n")


@dataclass
class StreamingCheck:
    output_seen_before_source_end: bool
    windows: list[dict]
    seconds: float


def check_streaming(runner_args: list[str], workdir: Path, ticks: int = 12, timeout_s: float = 60.0) -> StreamingCheck:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    marker, report = workdir / "windows.jsonl", workdir / "source-report.json"
    for p in (marker, report):
        p.unlink(missing_ok=True)
    t0 = time.monotonic()
    with beam.Pipeline(options=PipelineOptions([*runner_args, "--streaming"])) as p:
        (
            p
            | beam.Impulse()
            | "Ticks" >> beam.ParDo(_TickThenWait(ticks, str(marker), str(report), time.time() + timeout_s))
            | beam.WindowInto(window.FixedWindows(WINDOW_S))
            | beam.GroupByKey()
            | "MarkWindow" >> beam.ParDo(_MarkWindow(str(marker)))
        )
    windows = [json.loads(line) for line in marker.read_text().splitlines()] if marker.exists() else []
    return StreamingCheck(json.loads(report.read_text())["output_seen_before_source_end"], windows, time.monotonic() - t0)

"""Follow mode as a service: the unbounded job runs until stopped, and is restarted when it dies.

Everything a restart needs is in the store's manifest (which offsets are durable), so a restart is
a new job planned from it exactly like the first one: Beam state of the dead job is gone and its
uncommitted offsets are simply read again. Restarts back off exponentially while failures follow
each other; a job that stayed up `follow.healthy_after_s` resets the back-off.

Each job gets a job server of its own (pipelines.run.job_server: Prism, or Beam's Flink job server with
`--runner flink`, a mini cluster per job), started in a session of its own so that a signal to the
process group reaches only the supervisor, which decides how to stop.

Stopping (SIGTERM, Ctrl-C): the supervisor writes the run's stop file, each partition reader
finishes, the watermark reaches the end, the open windows close and commit, and the job ends
DONE. If that takes longer than `follow.drain_timeout_s`, or on a second signal, the job is
cancelled; still nothing is lost, the next run re-reads what was not committed.
"""

from __future__ import annotations

import io
import logging
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import apache_beam as beam

from loopline import metrics
from loopline.config import LooplineConfig
from loopline.logs import one_line
from loopline.store import CuratedStore, exclusive_writer
from pipelines.run import job_server, loopline_counters, plan, start

log = logging.getLogger("loopline.follow")


@dataclass
class FollowOutcome:
    jobs: int = 0
    restarts: int = 0
    counters: dict[str, int] = field(default_factory=dict)  # summed over the jobs that reported them
    seconds: float = 0.0


class FollowService:
    """Runs `loopline run --follow`: plan from the store, run, restart on failure, drain on stop."""

    def __init__(self, cfg: LooplineConfig, dataset: str, runner: str | None = None, curation: beam.PTransform | None = None):
        if runner not in (None, "prism", "flink"):
            why = "the FnApiRunner emits windows only when the source ends"
            raise ValueError(f"follow mode runs on prism or flink, not {runner!r}: {why}")
        self.cfg, self.dataset, self.runner, self.curation = cfg, dataset, runner or "prism", curation
        self.config = cfg.pipeline.follow
        self.stop_file = Path(cfg.home) / "run" / f"follow-{dataset}.stop"
        self.metrics_port: int | None = None
        self._stop = threading.Event()
        self._signals = 0
        self._running = False

    def run(self) -> FollowOutcome:
        """Serve as the dataset's one writer: DatasetBusy at once if another process writes it."""
        with exclusive_writer(CuratedStore(self.cfg.store_root, self.dataset)):
            return self._serve()

    def _serve(self) -> FollowOutcome:
        t0 = time.monotonic()
        outcome = FollowOutcome()
        self.stop_file.parent.mkdir(parents=True, exist_ok=True)
        self.stop_file.unlink(missing_ok=True)
        threading.excepthook = _one_line_thread_errors
        stderr = sys.stderr
        if not log.isEnabledFor(logging.DEBUG):
            sys.stderr = _OneLineTracebacks(stderr)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        if self.config.metrics_port is not None:
            try:
                server, self.metrics_port = metrics.serve(
                    self.config.metrics_host, self.config.metrics_port, lambda: self._running
                )
            except OSError as e:
                raise ValueError(
                    f"can't serve metrics on {self.config.metrics_host}:{self.config.metrics_port} ({e.strerror}); "
                    "another run may hold it: set pipeline.follow.metrics_port or --metrics-port"
                ) from None
            log.info("metrics at http://%s:%d/metrics, health at /healthz", self.config.metrics_host, self.metrics_port)
        failures = 0
        try:
            while True:
                started = time.monotonic()
                outcome.jobs += 1
                error = self._run_job(outcome)
                if error is None or self._stop.is_set():
                    break
                failures = 1 if time.monotonic() - started >= self.config.healthy_after_s else failures + 1
                delay = min(self.config.max_backoff_s, self.config.restart_backoff_s * 2 ** (failures - 1))
                log.warning(
                    "follow job failed (%s); restarting in %.0f s from the store's durable offsets", one_line(error), delay
                )
                metrics.JOB_RESTARTS.inc()
                outcome.restarts += 1
                if self._stop.wait(delay):
                    break
        finally:
            if self.config.metrics_port is not None:
                server.shutdown()
            self.stop_file.unlink(missing_ok=True)
            sys.stderr = stderr
        outcome.seconds = time.monotonic() - t0
        return outcome

    def _run_job(self, outcome: FollowOutcome) -> BaseException | None:
        """One job from submission to its end; returns what made it fail, None when it finished."""
        run_plan = plan(self.cfg, dataset=self.dataset, follow=True)
        run_plan.stop_file = str(self.stop_file)
        server = job_server(self.cfg, self.runner, self.stop_file.parent / f"{self.runner}-{self.dataset}.log")
        try:
            result = start(self.cfg, run_plan, self.runner, self.curation, job_endpoint=server.start())
        except Exception as e:  # noqa: BLE001 - a runner that can't start is retried like one that died
            server.stop()
            return e
        try:
            return self._watch(result, outcome)
        finally:
            server.stop()  # a fresh runner per job: a restarted job never reuses one that failed under the last

    def _watch(self, result, outcome: FollowOutcome) -> BaseException | None:
        log.info("follow job running into dataset %s", self.dataset)
        metrics.CONSUMER_LAG.clear()  # the last job's readers are gone; this job's report as they read
        self._running = True
        metrics.JOB_UP.set(1)
        finished, failure = threading.Event(), []

        def wait():
            try:
                result.wait_until_finish()
            except Exception as e:  # noqa: BLE001 - reported to the supervisor, which decides
                failure.append(e)
            finally:
                finished.set()

        threading.Thread(target=wait, name="loopline-follow-wait", daemon=True).start()
        drain_until = None
        while not finished.wait(0.5):
            if self._stop.is_set() and drain_until is None:
                drain_until = time.monotonic() + self.config.drain_timeout_s
            if drain_until is not None and (time.monotonic() > drain_until or self._signals > 1):
                log.warning("stop: cancelling the job before its windows drained; uncommitted offsets will be re-read")
                try:
                    result.cancel()
                except Exception as e:  # noqa: BLE001 - the runner may already be gone
                    log.warning("cancel failed (%s)", one_line(e))
                finished.wait(30)
                break
        self._running = False
        metrics.JOB_UP.set(0)
        try:
            for name, n in loopline_counters(result).items():
                outcome.counters[name] = outcome.counters.get(name, 0) + n
        except Exception:  # noqa: BLE001 - a dead runner has no metrics to give; the store has the truth
            pass
        return failure[0] if failure and not self._stop.is_set() else None

    def _on_signal(self, signum, _frame) -> None:
        self._signals += 1
        if not self._stop.is_set():
            log.info(
                "%s: stop reading, let what is in flight commit (at most %.0f s; signal again to cancel)",
                signal.Signals(signum).name,
                self.config.drain_timeout_s,
            )
        self._stop.set()
        self.stop_file.touch()


def _one_line_thread_errors(args) -> None:
    """When the runner dies, Beam's client and worker threads (job streams, data and state channels)
    end with gRPC errors; the supervisor reports and recovers from that, so each is one log line,
    not a traceback per thread."""
    if issubclass(args.exc_type, SystemExit):
        return
    log.warning("thread %s ended: %s", args.thread.name if args.thread else "?", one_line(args.exc_value))


class _OneLineTracebacks(io.TextIOBase):
    """sys.stderr while the service runs: Beam's SDK worker prints a failed bundle's traceback straight
    to stderr (sdk_worker._execute), bypassing logging. When the runner dies under a job that is expected,
    and the supervisor reports the job's failure itself; the log gets the traceback's last error line.
    With --verbose tracebacks stay whole."""

    _ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*: ")

    def __init__(self, stream):
        self._stream = stream
        self._swallow_newline = False

    def write(self, text: str) -> int:
        if text.lstrip().startswith("Traceback (most recent call last)"):
            errors = [line for line in text.splitlines() if self._ERROR_LINE.match(line)]
            log.warning("a bundle failed: %s", (errors[-1] if errors else "see --verbose")[:300])
            self._swallow_newline = True
            return len(text)
        if self._swallow_newline and text == "\n":
            self._swallow_newline = False
            return len(text)
        self._swallow_newline = False
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

"""Prometheus metrics of a pipeline run, and the HTTP endpoint that serves them beside /healthz.

Every metric Loopline exports is defined here, so their names live in one place. Stages update
them where the work happens: the source sets consumer lag, guarded stages count events in and
out, the sessionizer tracks open threads, the dead-letter publisher counts reasons, the store
sink observes end-to-end latency. With the LOOPBACK environment (Prism locally) the SDK worker
runs inside the `loopline run` process, so one endpoint sees them all; on a cluster each worker
process would serve its own (not wired up yet).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_wsgi_app

CONSUMER_LAG = Gauge(
    "loopline_consumer_lag_messages", "Messages in the partition after the reader's position.", ["topic", "partition"]
)
STAGE_IN = Counter("loopline_stage_events_in", "Events entering a stage.", ["stage"])
STAGE_OUT = Counter("loopline_stage_events_out", "Events a stage passed on (the others it dead-lettered).", ["stage"])
DEAD_LETTERS = Counter("loopline_dead_letters", "Dead letters acknowledged by the dead-letter topic, by reason.", ["reason"])
RECORDS_WRITTEN = Counter("loopline_records_written", "Records committed to the curated store.", ["kind"])
END_TO_END = Histogram(
    "loopline_end_to_end_latency_seconds",
    "From an event's arrival in Kafka (its timestamp) to the store commit of the window that holds it.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200, 14400, 86400),
)
JOB_UP = Gauge("loopline_job_up", "1 while the follow job is running, 0 between a failure and its restart.")
JOB_RESTARTS = Counter("loopline_job_restarts", "Follow jobs restarted after a failure.")


class OpenThreads:
    """Threads (session windows) a worker holds open, with when it first saw each: for the gauges."""

    def __init__(self):
        self._lock = threading.Lock()
        self._since: dict[str, float] = {}

    def opened(self, key: str) -> None:
        with self._lock:
            self._since.setdefault(key, time.time())

    def closed(self, key: str) -> None:
        with self._lock:
            self._since.pop(key, None)

    def count(self) -> int:
        return len(self._since)

    def oldest_age_s(self) -> float:
        with self._lock:
            return time.time() - min(self._since.values()) if self._since else 0.0


OPEN_THREADS = OpenThreads()
Gauge("loopline_open_threads", "Threads buffered by this worker, waiting for their window to close.").set_function(
    OPEN_THREADS.count
)
Gauge(
    "loopline_oldest_open_thread_age_seconds", "Wall time since this worker first saw the oldest thread still open."
).set_function(OPEN_THREADS.oldest_age_s)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # one access line per scrape is noise in a service log
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve(host: str, port: int, healthy: Callable[[], bool]) -> tuple[WSGIServer, int]:
    """Serve /metrics (Prometheus text) and /healthz (200 while `healthy()`, else 503) in a daemon
    thread; returns the server and its port (port 0 picks a free one)."""
    metrics = make_wsgi_app(REGISTRY)

    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/healthz":
            ok = healthy()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"job not running\n"]
        return metrics(environ, start_response)

    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="loopline-metrics", daemon=True).start()
    return server, server.server_port

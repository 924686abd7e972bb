"""The server's Prometheus metrics, in a registry of its own (one per app, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class ServeMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "loopline_serve_requests", "HTTP requests by endpoint and status code.", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "loopline_serve_request_seconds",
            "Request latency, to the last byte (whole stream for stream: true).",
            ["endpoint"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.prompt_tokens = Counter("loopline_serve_prompt_tokens", "Prompt tokens of served completions.", registry=r)
        self.generated_tokens = Counter("loopline_serve_generated_tokens", "Tokens generated.", registry=r)
        self.tokens_per_s = Gauge(
            "loopline_serve_tokens_per_second",
            "Generation speed of the last generate call, all requests batched in it together (tokens/s).",
            registry=r,
        )
        self.adapter = Gauge(
            "loopline_serve_adapter_info", "1 for the adapter version being served ('base': none).", ["version"], registry=r
        )
        self.feedback = Counter("loopline_serve_feedback", "Ratings published to Kafka, by rating.", ["rating"], registry=r)
        self.swaps = Counter("loopline_serve_swaps", "Adapter swaps, by result (ok, failed).", ["result"], registry=r)
        self.swap_seconds = Gauge("loopline_serve_last_swap_seconds", "Duration of the last successful swap.", registry=r)
        self._version: str | None = None

    def serving(self, version: str) -> None:
        if self._version is not None:
            self.adapter.remove(self._version)
        self.adapter.labels(version).set(1)
        self._version = version

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

"""Promote and roll back in the real registry while 8 clients keep asking: every request succeeds, each answer
comes whole from one adapter (the one it reports), and after each move new requests get the promoted version."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict

import httpx

from serving.app import ADAPTER_HEADER
from tests.serving.conftest import HEADERS, add_adapter, running, serve_config
from trainer.registry import AdapterRegistry

CLIENTS = 8
MESSAGES = [{"role": "user", "content": "How long do refunds take?"}]


def _ask(h: httpx.Client, url: str, stream: bool) -> tuple[str, str]:
    """(adapter version, text) of one greedy answer, checked for consistency between header and body."""
    body = {"model": "loopline", "messages": MESSAGES, "max_tokens": 6, "temperature": 0, "stream": stream}
    if not stream:
        r = h.post(f"{url}/v1/chat/completions", json=body)
        r.raise_for_status()
        doc = r.json()
        assert doc["adapter_version"] == r.headers[ADAPTER_HEADER]
        return doc["adapter_version"], doc["choices"][0]["message"]["content"]
    with h.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        lines = [line.removeprefix("data: ") for line in r.iter_lines() if line]
        version = r.headers[ADAPTER_HEADER]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert {c["adapter_version"] for c in chunks} == {version}
    return version, "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)


def test_promote_and_rollback_swap_under_load_without_a_failed_request(tmp_path, tiny_base, caplog):
    caplog.set_level(logging.INFO, logger="loopline.serve")
    c = serve_config(tmp_path, tiny_base, kafka_port=1)  # feedback is not exercised here
    v1, v2 = add_adapter(c, tiny_base, seed=1), add_adapter(c, tiny_base, seed=2)
    registry = AdapterRegistry(c.registry_root)
    answers: dict[str, set[str]] = defaultdict(set)
    failures: list[str] = []
    count = [0]
    stop = threading.Event()

    with running(c) as (url, app):

        def client(i: int) -> None:
            with httpx.Client(headers=HEADERS, timeout=60) as h:
                while not stop.is_set():
                    try:
                        version, text = _ask(h, url, stream=i % 2 == 1)
                        answers[version].add(text)
                        count[0] += 1
                    except Exception as e:  # any failure fails the test
                        failures.append(f"client {i}: {type(e).__name__}: {e}")

        def now_serving(version: str) -> None:
            deadline = time.monotonic() + 20
            while httpx.get(f"{url}/healthz").json()["adapter_version"] != version:
                assert time.monotonic() < deadline, f"never swapped to {version}"
                time.sleep(0.05)
            with httpx.Client(headers=HEADERS, timeout=60) as h:
                assert _ask(h, url, stream=False)[0] == version  # a request after the swap gets the promoted one
            time.sleep(0.3)  # let the clients run on it

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            registry.promote(v1, "test")
            now_serving(v1)
            registry.promote(v2, "test")
            now_serving(v2)
            assert registry.rollback("test").version == v1  # v2 rejected, the retired v1 back
            now_serving(v1)
            assert registry.rollback("test") is None
            now_serving("base")
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        metrics = httpx.get(f"{url}/metrics").text

    assert failures == []
    assert {"base", v1, v2} <= set(answers) and count[0] >= 4 * CLIENTS
    # greedy answers to one prompt: a request that ran on a half-swapped model would differ from its version's others
    assert all(len(texts) == 1 for texts in answers.values()), answers
    assert 'loopline_serve_swaps_total{result="ok"} 4.0' in metrics
    swaps = [r.getMessage() for r in caplog.records if r.getMessage().startswith("swapped ")]
    assert len(swaps) == 4 and swaps[0].startswith(f"swapped base -> {v1} in ") and " s (model held " in swaps[0]

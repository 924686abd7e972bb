"""Ratings of served responses reach the real broker's feedback topic as FeedbackEvents, once; refused ratings
(unknown, already rated, broker down) publish nothing and leave the response as it was."""

from __future__ import annotations

import json
import time

import httpx
from confluent_kafka import Consumer

from loopline.stack.kafka import free_port
from serving.feedback import FEEDBACK
from tests.serving.conftest import HEADERS, feedback_end, running, serve_config

PROMPT = "Customer: The discount code SPRING20 says it is invalid.\n\nReply to the customer."


def _complete(url: str) -> dict:
    body = {"model": "loopline", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 5}
    r = httpx.post(f"{url}/v1/chat/completions", json=body, headers=HEADERS, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _find(bootstrap: str, response_id: str, timeout_s: float = 20) -> tuple[bytes, dict]:
    """(key, event) of the response's FeedbackEvent, read with a fresh group from the beginning."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"serve-feedback-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([FEEDBACK.topic])
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None or msg.error():
                continue
            event = json.loads(msg.value())
            if event["response_id"] == response_id:
                return msg.key(), event
        raise AssertionError(f"no FeedbackEvent for {response_id} on {FEEDBACK.topic}")
    finally:
        c.close()


def test_a_rating_is_published_as_a_feedback_event_and_rated_once(server, kafka):
    url, _, app = server
    reply = _complete(url)
    rid, answer = reply["id"], reply["choices"][0]["message"]["content"]
    before_ms = time.time_ns() // 1_000_000
    r = httpx.post(f"{url}/v1/feedback", json={"response_id": rid, "rating": "down", "comment": "off topic"}, headers=HEADERS)
    assert r.status_code == 200, r.text
    assert r.json() == {"response_id": rid, "rating": "down", "adapter_version": "base"}
    key, event = _find(kafka.config.bootstrap, rid)
    assert key == rid.encode()
    assert event["prompt"] == PROMPT and event["response"] == answer and event["adapter_version"] == "base"
    assert event["rating"] == "down" and event["comment"] == "off topic"
    assert before_ms <= event["event_time"] <= time.time_ns() // 1_000_000
    assert set(event) == {"response_id", "prompt", "response", "adapter_version", "rating", "comment", "event_time"}
    assert app.state.responses.get(rid).rating == "down"

    after = feedback_end(kafka.config.bootstrap)
    again = httpx.post(f"{url}/v1/feedback", json={"response_id": rid, "rating": "up"}, headers=HEADERS)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"
    unknown = httpx.post(f"{url}/v1/feedback", json={"response_id": "chatcmpl-nope", "rating": "up"}, headers=HEADERS)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "response_not_found"
    for bad in ({"response_id": rid}, {"response_id": rid, "rating": "meh"}, {"response_id": rid, "rating": "up", "x": 1}):
        r = httpx.post(f"{url}/v1/feedback", json=bad, headers=HEADERS)
        assert r.status_code == 400 and "error" in r.json()
    assert httpx.post(f"{url}/v1/feedback", json={"response_id": rid, "rating": "up"}).status_code == 401
    assert feedback_end(kafka.config.bootstrap) == after
    metrics = httpx.get(f"{url}/metrics").text
    assert 'loopline_serve_feedback_total{rating="down"} 1.0' in metrics


def test_broker_down_is_503_and_the_response_stays_unrated(tmp_path, tiny_base):
    c = serve_config(tmp_path, tiny_base, free_port())  # nothing listens there
    c.serve.feedback_timeout_s = 1.0
    with running(c) as (url, app):
        rid = _complete(url)["id"]
        r = httpx.post(f"{url}/v1/feedback", json={"response_id": rid, "rating": "up"}, headers=HEADERS, timeout=30)
        assert r.status_code == 503 and r.json()["error"]["code"] == "feedback_unavailable"
        assert app.state.responses.get(rid).rating is None  # may be rated again once Kafka is back

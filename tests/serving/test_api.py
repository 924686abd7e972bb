"""The OpenAI-compatible API on a real server: the openai client (plain and streamed), models, auth, refusals in
OpenAI's error shape (and nothing published for them), health and metrics."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from serving.app import ADAPTER_HEADER, RESPONSE_ID_HEADER
from tests.serving.conftest import HEADERS, KEY, feedback_end

HELLO = [{"role": "user", "content": "Do you ship to Canada?"}]


def client(url: str, key: str = KEY) -> OpenAI:
    return OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


def test_chat_completion_through_the_openai_client(server):
    url, _, app = server
    raw = client(url).chat.completions.with_raw_response.create(model="loopline", messages=HELLO, max_tokens=6)
    reply = raw.parse()
    assert reply.id.startswith("chatcmpl-") and raw.headers[RESPONSE_ID_HEADER] == reply.id
    assert reply.adapter_version == "base" and raw.headers[ADAPTER_HEADER] == "base"
    assert reply.choices[0].message.role == "assistant" and isinstance(reply.choices[0].message.content, str)
    assert reply.choices[0].finish_reason in ("stop", "length")
    prompt_ids = app.state.engine.prompt_ids(HELLO)  # the tokenizer's own chat template
    assert reply.usage.prompt_tokens == len(prompt_ids)
    assert 1 <= reply.usage.completion_tokens <= 6
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    served = app.state.responses.get(reply.id)
    assert served.prompt == HELLO[0]["content"] and served.response == reply.choices[0].message.content
    assert served.adapter_version == "base" and served.rating is None


def test_streamed_chat_completion_sends_chunks_then_done(server):
    url, _, app = server
    chunks = list(
        client(url).chat.completions.create(
            model="loopline",
            messages=[{"role": "system", "content": "Be brief."}, *HELLO],
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    ids = {c.id for c in chunks}
    assert len(ids) == 1 and all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish in (["stop"], ["length"])
    assert chunks[-1].usage.completion_tokens >= 1 and chunks[-1].choices == []
    served = app.state.responses.get(ids.pop())
    assert served.response == text and served.prompt == "system: Be brief.\n\nuser: Do you ship to Canada?"
    # the wire format itself: SSE data lines ending in [DONE], the adapter in a header
    body = {"model": "loopline", "messages": HELLO, "max_tokens": 3, "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=HEADERS, timeout=30) as r:
        lines = [line for line in r.iter_lines() if line]
        assert r.headers[ADAPTER_HEADER] == "base" and r.headers["content-type"].startswith("text/event-stream")
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"


def test_greedy_answers_are_repeatable(server):
    url, _, _ = server
    ask = lambda: client(url).chat.completions.create(model="loopline", messages=HELLO, max_tokens=8, temperature=0)
    assert ask().choices[0].message.content == ask().choices[0].message.content


def test_models_lists_the_served_model(server):
    url, _, _ = server
    models = client(url).models.list()
    assert [m.id for m in models.data] == ["loopline"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
def test_a_missing_or_wrong_key_is_401_and_never_echoed(server, headers):
    url, _, _ = server
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "loopline", "messages": HELLO}, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert r.headers["www-authenticate"] == "Bearer"
    assert "wrong" not in r.text and KEY not in r.text
    assert httpx.get(f"{url}/v1/models", headers=headers).status_code == 401
    with pytest.raises(openai.AuthenticationError):
        client(url, key="wrong").models.list()


@pytest.mark.parametrize(
    "body, status, code, param",
    [
        ({"model": "loopline"}, 400, "missing_field", "messages"),
        ({"model": "loopline", "messages": "hello"}, 400, "invalid_value", "messages"),
        ({"model": "loopline", "messages": [{"role": "user", "content": 5}]}, 400, "invalid_value", "messages.0.content"),
        ({"model": "loopline", "messages": HELLO, "max_tokens": "8"}, 400, "invalid_value", "max_tokens"),
        ({"model": "loopline", "messages": []}, 400, "invalid_value", "messages"),
        ({"model": "gpt-9", "messages": HELLO}, 404, "model_not_found", None),
        (
            {"model": "loopline", "messages": [{"role": "user", "content": "word " * 300}]},
            400,
            "context_length_exceeded",
            "messages",
        ),
        ({"model": "loopline", "messages": [{"role": "user", "content": "x" * 30_000}]}, 413, "request_too_large", None),
    ],
)
def test_bad_requests_get_openai_shaped_4xx_and_publish_nothing(server, kafka, body, status, code, param):
    url, c, app = server
    before = feedback_end(kafka.config.bootstrap)
    r = httpx.post(f"{url}/v1/chat/completions", json=body, headers=HEADERS, timeout=30)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"] and error["type"] == "invalid_request_error"
    if param:
        assert error["param"] == param
    assert feedback_end(kafka.config.bootstrap) == before


def test_not_json_and_a_streamed_oversized_body_are_refused(server):
    url, _, _ = server
    r = httpx.post(f"{url}/v1/chat/completions", content=b"{not json", headers={**HEADERS, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    chunks = (b"x" * 5000 for _ in range(10))  # no content-length: counted as it arrives
    r = httpx.post(f"{url}/v1/feedback", content=chunks, headers=HEADERS)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_max_tokens_is_capped(server):
    url, c, _ = server
    reply = client(url).chat.completions.create(model="loopline", messages=HELLO, max_tokens=10_000, temperature=0)
    assert reply.usage.completion_tokens <= c.serve.max_tokens


def test_health_and_metrics(server):
    url, _, _ = server
    client(url).chat.completions.create(model="loopline", messages=HELLO, max_tokens=4)
    httpx.post(f"{url}/v1/chat/completions", json={}, headers=HEADERS)
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "model": "loopline", "adapter_version": "base"}
    text = httpx.get(f"{url}/metrics").text
    assert 'loopline_serve_requests_total{endpoint="/v1/chat/completions",status="200"}' in text
    assert 'loopline_serve_requests_total{endpoint="/v1/chat/completions",status="400"}' in text
    assert 'loopline_serve_request_seconds_bucket{endpoint="/v1/chat/completions"' in text
    assert 'loopline_serve_adapter_info{version="base"} 1.0' in text
    for name in ("loopline_serve_generated_tokens_total", "loopline_serve_tokens_per_second", "loopline_serve_swaps_total"):
        assert name in text
    assert _value(text, "loopline_serve_generated_tokens_total") > 0


def _value(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))

"""The HTTP API: OpenAI-compatible chat completions on the promoted adapter, ratings into Kafka, health and metrics.

Every error is OpenAI's shape, {"error": {"message", "type", "code", "param"}}, including FastAPI's own validation
errors (400, not 422). API keys are compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Literal

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopline.config import LooplineConfig
from serving.engine import AdapterWatcher, Engine, Generation, Sampling
from serving.feedback import FeedbackPublisher, PublishFailed, feedback_event
from serving.metrics import ServeMetrics
from serving.responses import AlreadyRated, ResponseLog, UnknownResponse
from trainer.registry import AdapterRegistry

log = logging.getLogger("loopline.serve")

_UNION_MEMBER = re.compile(r"str|int|float|bool|none|list\[.*\]|dict\[.*\]")  # pydantic's tags in an error's loc
RESPONSE_ID_HEADER = "X-Loopline-Response-Id"
ADAPTER_HEADER = "X-Loopline-Adapter-Version"


class ServeError(ValueError):
    """The server cannot start as configured; the message says how to fix it."""


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str, type_: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.type, self.param = status, message, code, type_, param


def error_response(status: int, message: str, code: str, type_: str = "invalid_request_error", param=None, headers=None):
    body = {"error": {"message": message, "type": type_, "code": code, "param": param}}
    return JSONResponse(body, status_code=status, headers=headers)


# --- request bodies --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")  # OpenAI clients send fields we don't use


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(_Strict):
    include_usage: bool = False


class ChatRequest(_Strict):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    tools: list | None = None


class FeedbackRequest(_Strict):
    model_config = ConfigDict(strict=True, extra="forbid")
    response_id: str = Field(min_length=1, max_length=200)
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=4000)


def prompt_text(messages: list[dict]) -> str:
    """What the feedback event records as the prompt: a single user turn as it is; a conversation as role-labelled
    turns (the trainer's KTO step reads the prompt as one user message)."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


# --- ASGI middleware --------------------------------------------------------------------------------------


class BodyLimit:
    """413 for a request body over the limit, whether it declares its length or streams it."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send):
        response = error_response(
            413, f"request body larger than {self.max_bytes} bytes (serve.max_body_bytes)", "request_too_large"
        )
        await response(scope, receive, send)


class RequestMetrics:
    """Counts every request by route and status, and times it to its last byte."""

    def __init__(self, app, metrics: ServeMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [500]

        async def watch(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "other"
            self.metrics.requests.labels(endpoint, str(status[0])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)


# --- the app --------------------------------------------------------------------------------------------


def create_app(c: LooplineConfig, engine: Engine, *, auth: bool = True) -> FastAPI:
    """The app around a loaded engine; swaps to the registry's promoted adapter before returning."""
    s = c.serve
    keys = [k.encode() for k in s.all_api_keys()]
    if auth and not keys:
        raise ServeError(
            "no API key configured: set serve.api_keys in the config or LOOPLINE_API_KEYS=key1,key2 in the "
            "environment (or pass --no-auth for a local experiment)"
        )
    metrics = ServeMetrics()
    registry = AdapterRegistry(c.registry_root)

    def on_swap(version: str | None, seconds: float, ok: bool) -> None:
        metrics.swaps.labels("ok" if ok else "failed").inc()
        if ok:
            metrics.swap_seconds.set(seconds)
            metrics.serving(engine.version_name)

    watcher = AdapterWatcher(engine, registry, s.registry_poll_s, on_swap)
    watcher.sync()
    metrics.serving(engine.version_name)
    responses = ResponseLog(s.responses_db or c.home / "serve" / "responses.sqlite")
    pruned = responses.prune(s.keep_responses_days * 86400)
    if pruned:
        log.info("deleted %d served responses older than %g days", pruned, s.keep_responses_days)
    publisher = FeedbackPublisher(c.kafka, s.feedback_timeout_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher.start()
        log.info("serving %s on %s (adapter %s)", s.model_name, engine.device, engine.version_name)
        try:
            yield
        finally:
            watcher.stop()
            await anyio.to_thread.run_sync(publisher.close)
            responses.close()

    app = FastAPI(title="Loopline", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine, app.state.watcher, app.state.responses, app.state.metrics = engine, watcher, responses, metrics
    app.add_middleware(BodyLimit, max_bytes=s.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return error_response(e.status, e.message, e.code, e.type, e.param, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        err = e.errors()[0]
        loc = [str(p) for p in err["loc"] if p != "body" and not _UNION_MEMBER.fullmatch(str(p))]
        param = ".".join(loc) or None
        if err["type"] == "missing":
            message, code = f"missing required field {param}", "missing_field"
        elif err["type"] == "json_invalid":
            message, code = "the request body is not valid JSON", "invalid_json"
        elif err["type"] == "extra_forbidden":
            message, code = f"unknown field {param}", "unknown_field"
        else:
            message, code = f"{param or 'body'}: {err['msg']}", "invalid_value"
        return error_response(400, message, code, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return error_response(e.status_code, str(e.detail), code)

    def authorized(request: Request) -> None:
        if not auth:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        given_bytes = given.strip().encode()
        ok = scheme.lower() == "bearer" and any(hmac.compare_digest(given_bytes, k) for k in keys)
        if not ok:
            raise ApiError(
                401, "missing or invalid API key: send Authorization: Bearer <key>", "invalid_api_key", "authentication_error"
            )

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "model": s.model_name, "adapter_version": engine.version_name}

    @app.get("/metrics")
    async def metrics_endpoint():
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", dependencies=[Depends(authorized)])
    async def models():
        card = {"id": s.model_name, "object": "model", "created": 0, "owned_by": "loopline"}
        return {"object": "list", "data": [{**card, "adapter_version": engine.version_name}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorized)])
    async def chat_completions(body: ChatRequest, request: Request):
        if body.model != s.model_name:
            raise ApiError(404, f"model {body.model!r} does not exist; this server serves {s.model_name!r}", "model_not_found")
        if body.n != 1:
            raise ApiError(400, "only n=1 is supported", "unsupported_parameter", param="n")
        for name in ("stop", "tools"):
            if getattr(body, name):
                raise ApiError(400, f"{name} is not supported by this server", "unsupported_parameter", param=name)
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        ids = await anyio.to_thread.run_sync(engine.prompt_ids, messages)
        if len(ids) > s.max_prompt_tokens:
            raise ApiError(
                400,
                f"the prompt is {len(ids)} tokens; this server takes at most {s.max_prompt_tokens} (serve.max_prompt_tokens)",
                "context_length_exceeded",
                param="messages",
            )
        room = engine.max_positions - len(ids)
        if room < 1:
            raise ApiError(400, f"the prompt fills the model's {engine.max_positions}-token context", "context_length_exceeded")
        asked = body.max_tokens or body.max_completion_tokens or s.default_max_tokens
        sampling = Sampling(min(asked, s.max_tokens, room), body.temperature, body.top_p, body.seed)
        response_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        prompt = prompt_text(messages)

        def finished(gen: Generation) -> None:
            responses.add(response_id, prompt, gen.text, gen.adapter_version)
            metrics.prompt_tokens.inc(gen.prompt_tokens)
            metrics.generated_tokens.inc(gen.completion_tokens)
            if gen.seconds > 0:
                metrics.tokens_per_s.set(gen.batch_tokens / gen.seconds)

        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return await _stream(engine, ids, sampling, response_id, created, s.model_name, include_usage, finished)
        gen = await anyio.to_thread.run_sync(lambda: engine.generate(ids, sampling))
        await anyio.to_thread.run_sync(finished, gen)
        return JSONResponse(
            {
                "id": response_id,
                "object": "chat.completion",
                "created": created,
                "model": s.model_name,
                "adapter_version": gen.adapter_version,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": gen.text},
                        "finish_reason": gen.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": _usage(gen),
            },
            headers={RESPONSE_ID_HEADER: response_id, ADAPTER_HEADER: gen.adapter_version},
        )

    @app.post("/v1/feedback", dependencies=[Depends(authorized)])
    async def feedback(body: FeedbackRequest):
        try:
            served = await anyio.to_thread.run_sync(responses.claim, body.response_id)
        except UnknownResponse:
            raise ApiError(404, f"no served response {body.response_id!r}", "response_not_found", param="response_id") from None
        except AlreadyRated:
            raise ApiError(409, f"response {body.response_id!r} is already rated", "already_rated", param="response_id") from None
        event = feedback_event(
            served.response_id, served.prompt, served.response, served.adapter_version, body.rating, body.comment
        )
        try:
            await anyio.to_thread.run_sync(publisher.publish, event)
        except PublishFailed as e:
            await anyio.to_thread.run_sync(responses.release, body.response_id)
            log.warning("feedback on %s not published: %s", body.response_id, e)
            raise ApiError(503, f"feedback not recorded, try again: {e}", "feedback_unavailable", "server_error") from None
        await anyio.to_thread.run_sync(responses.settle, body.response_id, body.rating)
        metrics.feedback.labels(body.rating).inc()
        return {"response_id": body.response_id, "rating": body.rating, "adapter_version": served.adapter_version}

    return app


def _usage(gen: Generation) -> dict:
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.completion_tokens,
        "total_tokens": gen.prompt_tokens + gen.completion_tokens,
    }


async def _stream(engine: Engine, ids, sampling, response_id, created, model, include_usage, finished) -> StreamingResponse:
    """Server-sent events: a role chunk, content chunks as text is decoded, the finish chunk, usage if asked, [DONE].

    Generation runs on its own thread; the response (and its adapter header) starts once the model is ours, and a
    client that goes away stops the generation at its next token."""
    loop = asyncio.get_running_loop()
    started: asyncio.Future[str] = loop.create_future()
    queue: asyncio.Queue = asyncio.Queue()
    cancelled = threading.Event()

    def put(item) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def on_start(version: str) -> None:
        loop.call_soon_threadsafe(lambda: started.done() or started.set_result(version))

    def work() -> None:
        try:
            gen = engine.generate(ids, sampling, on_start=on_start, on_text=lambda t: put(("text", t)), cancelled=cancelled)
            if not cancelled.is_set():
                finished(gen)
            put(("done", gen))
        except Exception as e:  # reported to the client as an error event
            log.exception("generation %s failed", response_id)
            loop.call_soon_threadsafe(lambda err=e: started.done() or started.set_exception(err))
            put(("error", e))

    threading.Thread(target=work, name=f"gen-{response_id[-8:]}", daemon=True).start()
    try:
        version = await started
    except asyncio.CancelledError:
        cancelled.set()
        raise

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        doc = {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "adapter_version": version,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(doc, ensure_ascii=False)}\n\n"

    async def events() -> AsyncIterator[str]:
        try:
            yield chunk({"role": "assistant", "content": ""})
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    yield chunk({"content": value})
                elif kind == "error":
                    error = {"message": "generation failed", "type": "server_error", "code": "generation_failed"}
                    yield f"data: {json.dumps({'error': error})}\n\n"
                    return
                else:
                    yield chunk({}, value.finish_reason)
                    if include_usage:
                        doc = {"id": response_id, "object": "chat.completion.chunk", "created": created, "model": model}
                        yield f"data: {json.dumps({**doc, 'choices': [], 'usage': _usage(value)})}\n\n"
                    yield "data: [DONE]\n\n"
                    return
        finally:
            cancelled.set()  # a no-op after the end; stops the generation of a client that left

    headers = {RESPONSE_ID_HEADER: response_id, ADAPTER_HEADER: version, "Cache-Control": "no-cache"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

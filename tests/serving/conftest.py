"""A real server for the serving tests: uvicorn on a free loopback port, the tiny random Llama as base, real LoRA
adapters (peft, random weights so they change the output) registered and promoted through the AdapterRegistry."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import uvicorn
from confluent_kafka import Consumer, TopicPartition
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from loopline.config import LooplineConfig
from serving.app import create_app
from serving.engine import load_engine
from serving.feedback import FEEDBACK
from trainer.model import load_tokenizer, register_candidate
from trainer.registry import AdapterRegistry
from trainer.tiny_model import build_tiny_model

KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-serve"))


def serve_config(home: Path, base: Path, kafka_port: int) -> LooplineConfig:
    c = LooplineConfig(home=home, cache_dir=home / "cache")
    c.kafka.port = kafka_port
    c.trainer.model.base, c.trainer.model.method = str(base), "lora"
    s = c.serve
    s.api_keys, s.device, s.registry_poll_s = [KEY], "cpu", 0.1
    s.max_body_bytes, s.max_prompt_tokens, s.max_tokens, s.default_max_tokens = 20_000, 200, 16, 8
    s.feedback_timeout_s = 2.0
    return c


def add_adapter(c: LooplineConfig, base: Path, seed: int) -> str:
    """A LoRA adapter on the tiny base, saved as the trainer saves one, with its card: a real registry version."""
    registry = AdapterRegistry(c.registry_root)
    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"),
    )
    return register_candidate(registry, model, load_tokenizer(base), base, "built by the serving tests")


@contextmanager
def running(c: LooplineConfig, auth: bool = True) -> Iterator[tuple[str, object]]:
    """(base URL, app) of a real uvicorn server on a loopback port picked by the OS, stopped cleanly after."""
    app = create_app(c, load_engine(c), auth=auth)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def feedback_end(bootstrap: str) -> int:
    """Events on the feedback topic so far (sum of its partitions' end offsets)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "serve-ends"})
    try:
        parts = c.list_topics(FEEDBACK.topic, timeout=10).topics[FEEDBACK.topic].partitions
        return sum(c.get_watermark_offsets(TopicPartition(FEEDBACK.topic, p), timeout=10)[1] for p in parts)
    finally:
        c.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_base, kafka) -> Iterator[tuple[str, LooplineConfig, object]]:
    """One server on the bare base model for a module's tests: (URL, config, app)."""
    c = serve_config(tmp_path_factory.mktemp("serve-home"), tiny_base, kafka.config.port)
    with running(c) as (url, app):
        yield url, c, app


AuthHeaders = Callable[[], dict]
HEADERS = {"Authorization": f"Bearer {KEY}"}

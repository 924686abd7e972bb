"""The feedback loop end to end, as a user runs it: `loopline loop` (stack, follow pipeline, trainer in follow mode,
server) and a simulated user who asks held-out questions through the OpenAI client, rates each answer by a rule
tied to the simulator's ground truth (loopline/simulator/user.py) and posts the ratings to /v1/feedback. Each
round also brings new traffic; the trainer's triggers start a cycle, the gate promotes, the server swaps the adapter
in, and the next round asks again. Prints the thumbs-up rate per round; it must rise from the first to the last.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from openai import OpenAI

from loopline.config import load
from loopline.simulator.user import SimulatedUser
from loopline.stack.kafka import free_port
from trainer.registry import AdapterRegistry

REPO = Path(__file__).resolve().parents[2]
KEY = "loop-test-key"
ROUNDS = 4  # round 0 on the base model, then one per cycle
QUESTIONS = 15  # 3 per task: with 10, one lucky or unlucky answer moved a round by 0.10
EVENTS_PER_ROUND = 400
MAX_TOKENS = 96  # the trained answers open with a greeting and an introduction before the resolution
DAY_MS = 86_400_000


def loop_config(home: Path) -> Path:
    """The embedded SmolLM2 base with a short CPU cycle; triggers: new pairs or thumbs-down rate, whichever first."""
    doc = {
        "home": str(home),
        "kafka": {"port": free_port(), "controller_port": free_port()},
        "pipeline": {"follow": {"metrics_port": 0}},
        # torch threads: on 2 cores, threads that wait on a core another service holds slow down ~20x. The server
        # generates while the trainer waits, and the pipeline is idle during most of a cycle: 1 and 2.
        "serve": {"port": free_port(), "threads": 1, "registry_poll_s": 1.0, "default_max_tokens": MAX_TOKENS},
        "trainer": {
            "device": "cpu",
            "threads": 2,
            "model": {"method": "lora", "max_length": 192},
            "data": {"max_new_pairs": 160, "golden_percent": 5},
            "sft": {"max_steps": 24, "batch_size": 8, "learning_rate": 1e-3, "checkpoint_every": 12},
            "kto": {"max_steps": 4, "min_examples": 8},
            # ~3-8 golden pairs per cycle here: the answer-match gate's default 0.01 margin is below their noise
            # (a run rejected a cycle at 0.159 vs base 0.192); the perplexity gates stay as they are
            "eval": {"max_golden": 24, "rouge_samples": 0, "answer_match_tolerance": 0.1},
            "triggers": {"new_pairs": 60, "thumbs_down_rate": 0.5, "min_feedback": QUESTIONS, "poll_s": 2},
        },
    }
    path = home / "loopline.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def cli(config: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "loopline.cli", *args, "--config", str(config)], cwd=REPO, check=True, capture_output=True
    )


def wait_for(what: str, check, timeout_s: float, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"loopline loop exited while waiting for {what}:\n{log.read_text()[-4000:]}"
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"no {what} in {timeout_s:.0f} s:\n{log.read_text()[-4000:]}")


def ask_and_rate(client: OpenAI, http: httpx.Client, user: SimulatedUser, asks) -> tuple[float, set[str]]:
    ups, versions = 0, set()
    for ask in asks:
        messages = [{"role": "user", "content": ask.text}]
        # greedy (temperature 0): the model's best answer, and the same answer for the same model
        reply = client.chat.completions.create(model="loopline", messages=messages, max_tokens=MAX_TOKENS, temperature=0)
        versions.add(reply.model_extra["adapter_version"])
        rating = user.rate(ask, reply.choices[0].message.content)
        ups += rating == "up"
        r = http.post("/v1/feedback", json={"response_id": reply.id, "rating": rating})
        assert r.status_code == 200, r.text
    return ups / len(asks), versions


@pytest.mark.slow
@pytest.mark.timeout(5400)  # 42 min on 2 CPU cores; the suite's 900 s limit once cut a rising run short
def test_thumbs_up_rate_rises_over_cycles_of_the_loop(tmp_path):
    config = loop_config(tmp_path)
    c = load(config)
    log = tmp_path / "loop.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopline.cli", "loop", "--config", str(config)],
        cwd=REPO,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "LOOPLINE_API_KEYS": KEY},
    )
    registry = AdapterRegistry(c.registry_root)
    base_url = f"http://127.0.0.1:{c.serve.port}"
    rates, cycles = [], []
    try:
        http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
        wait_for("server", lambda: _healthy(http), 300, proc, log)
        client = OpenAI(base_url=f"{base_url}/v1", api_key=KEY, timeout=300)
        user = SimulatedUser()
        start_ms = int(time.time() * 1000) - 30 * DAY_MS
        for rnd in range(ROUNDS):
            rate, versions = ask_and_rate(client, http, user, user.questions(QUESTIONS))
            rates.append(rate)
            print(f"round {rnd}: adapter {sorted(versions)} thumbs-up {rate:.2f}", flush=True)
            if rnd == ROUNDS - 1:
                break
            seen = len(registry.list())
            start = datetime.fromtimestamp((start_ms + rnd * DAY_MS) / 1000, UTC).isoformat()
            events = f"{EVENTS_PER_ROUND / 1e9}"
            cli(config, "simulate", "--rate", "1e9", "--duration", events, "--seed", str(100 + rnd), "--start", start)
            card = wait_for("cycle", lambda seen=seen: registry.list()[seen:] and registry.list()[-1], 1500, proc, log)
            cycles.append((card.version, card.status))
            print(f"cycle {card.version}: {card.status}", flush=True)
            if card.status == "promoted":
                wait_for("swap", lambda v=card.version: _healthy(http).get("adapter_version") == v, 120, proc, log)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=240)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            subprocess.run([sys.executable, "-m", "loopline.cli", "stack", "down", "--config", str(config)], cwd=REPO)
    print("thumbs-up rate per round:", " -> ".join(f"{r:.2f}" for r in rates), "cycles:", cycles)
    assert len(cycles) >= 3
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert "loop stopped" in log.read_text()
    assert rates[-1] > rates[0], rates


def _healthy(http: httpx.Client) -> dict:
    try:
        r = http.get("/healthz")
    except httpx.TransportError:
        return {}
    return r.json() if r.status_code == 200 else {}

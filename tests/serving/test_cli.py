"""`loopline serve` as users run it: no key configured is one clear line; keys from $LOOPLINE_API_KEYS count; a
started server answers and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import yaml
from typer.testing import CliRunner

from loopline.cli import app
from loopline.config import ServeConfig
from loopline.config.serve import API_KEYS_ENV
from loopline.stack.kafka import free_port


def _config(tmp_path, tiny_base, **serve) -> str:
    path = tmp_path / "loopline.yaml"
    doc = {"home": str(tmp_path / "home"), "trainer": {"model": {"base": str(tiny_base), "method": "lora"}}, "serve": serve}
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_no_api_key_refuses_to_start_with_one_line(tmp_path, tiny_base, monkeypatch):
    monkeypatch.delenv(API_KEYS_ENV, raising=False)
    result = CliRunner().invoke(app, ["serve", "--config", _config(tmp_path, tiny_base)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no API key configured")
    assert "serve.api_keys" in lines[0] and API_KEYS_ENV in lines[0] and "--no-auth" in lines[0]


def test_keys_come_from_the_config_and_the_environment(monkeypatch):
    monkeypatch.setenv(API_KEYS_ENV, " env-a, ,env-b")
    s = ServeConfig.model_validate({"api_keys": ["conf-a", "env-a"]})
    assert s.all_api_keys() == ["conf-a", "env-a", "env-b"]
    assert "conf-a" not in repr(s) and "conf-a" not in str(s.model_dump())  # secrets don't print


def test_serve_answers_then_sigterm_stops_it_cleanly(tmp_path, tiny_base):
    port = free_port()
    env = {**os.environ, API_KEYS_ENV: "cli-secret-key"}
    cmd = [sys.executable, "-c", "from loopline.cli import app; app()", "serve", "--config", _config(tmp_path, tiny_base)]
    proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not come up"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        body = {"model": "loopline", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions", json=body, headers={"Authorization": "Bearer cli-secret-key"}
        )
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "cli-secret-key" not in out
    assert "Uvicorn running on" in out and "Finished server process" in out and "stopped by SIGTERM" in out

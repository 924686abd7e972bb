"""Serving throughput: `loopline serve` under N concurrent clients, on the base model and with a LoRA adapter, and
the cost of a hot swap.

The server runs as its own process (as users run it) on the configured base (default: the embedded SmolLM2-135M),
with a temporary home and registry. The adapter has the trainer's LoRA shape (trainer.model: r, alpha, target
modules) and peft's default init (B = 0): it answers exactly as the base does, so both phases generate the same
tokens and the difference is the LoRA compute alone. Clients ask greedily (temperature 0), cycling over a few
support prompts, each as soon as its last answer arrived, for --duration seconds per phase.

Reported per phase: requests/s, p50/p99 latency, generated tokens/s (all clients together). Swap: the seconds the
server's watcher took to load and swap the adapter in (loopline_serve_last_swap_seconds) and from the promote to
the first /healthz reporting it (adds up to one registry poll interval).
Usage: .venv/bin/python bench/serve_throughput.py [--base DIR | --tiny] [--clients 4] [--duration 12] [--max-tokens 32]
       [--threads N]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # serving/ from this checkout, installed or not
KEY = "bench-key"
PROMPTS = None  # filled from trainer.tiny_model.SUPPORT_PAIRS


def build_adapter(registry_root: Path, base: Path, model_cfg) -> str:
    """A registered, not yet promoted, LoRA adapter of the trainer's shape on `base`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from trainer.model import load_tokenizer, register_candidate
    from trainer.registry import AdapterRegistry

    registry = AdapterRegistry(registry_root)
    lora = LoraConfig(
        r=model_cfg.lora_r,
        lora_alpha=model_cfg.lora_alpha,
        target_modules=list(model_cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), lora)
    return register_candidate(registry, model, load_tokenizer(base), base, "bench/serve_throughput.py")


def load(url: str, clients: int, duration: float, max_tokens: int) -> dict:
    """N clients asking back to back for `duration` seconds: requests/s, latency percentiles, tokens/s."""
    latencies: list[float] = []
    tokens = [0]
    failures: list[str] = []
    versions: set[str] = set()
    lock = threading.Lock()
    end = time.monotonic() + duration

    def client(i: int) -> None:
        n = i
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as h:
            while time.monotonic() < end:
                body = {
                    "model": "loopline",
                    "messages": [{"role": "user", "content": PROMPTS[n % len(PROMPTS)]}],
                    "max_tokens": max_tokens,
                    "temperature": 0,
                }
                n += clients
                t0 = time.perf_counter()
                r = h.post(f"{url}/v1/chat/completions", json=body)
                took = time.perf_counter() - t0
                with lock:
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                        continue
                    doc = r.json()
                    latencies.append(took)
                    tokens[0] += doc["usage"]["completion_tokens"]
                    versions.add(doc["adapter_version"])

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    latencies.sort()
    return {
        "requests": len(latencies),
        "failed": len(failures),
        "requests_per_s": len(latencies) / wall,
        "p50_s": statistics.median(latencies) if latencies else float("nan"),
        "p99_s": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan"),
        "tokens_per_s": tokens[0] / wall,
        "versions": sorted(versions),
        "first_failure": failures[0] if failures else None,
    }


def metric(url: str, name: str) -> float | None:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def main() -> None:
    global PROMPTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="A local model directory (default: trainer.model.base of the default config).")
    parser.add_argument("--tiny", action="store_true", help="The tiny random test model: a quick check of the bench.")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=12.0, help="Seconds per phase.")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="serve.threads: torch CPU threads (default: one per core).")
    args = parser.parse_args()

    from loopline.config import LooplineConfig
    from loopline.stack.kafka import free_port
    from trainer.model import resolve_base
    from trainer.registry import AdapterRegistry
    from trainer.tiny_model import SUPPORT_PAIRS, build_tiny_model

    PROMPTS = [f"{p['input'] or ''}\n\n{p['instruction']}".strip() for p in SUPPORT_PAIRS]
    defaults = LooplineConfig()
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        tmp = Path(tmp)
        if args.tiny:
            base = build_tiny_model(tmp / "tiny")
        elif args.base:
            base = Path(args.base)
        else:
            base = resolve_base(defaults.trainer.model, defaults.cache_dir)
        registry_root = tmp / "home" / "adapters"
        version = build_adapter(registry_root, base, defaults.trainer.model)
        port = free_port()
        config = tmp / "loopline.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "home": str(tmp / "home"),
                    "kafka": {"port": free_port()},  # feedback is not benched: no broker needed
                    "trainer": {"model": {"base": str(base), "method": "lora"}},
                    "serve": {
                        "port": port,
                        "registry_poll_s": 0.2,
                        "device": args.device,
                        "max_tokens": args.max_tokens,
                        "threads": args.threads,
                    },
                }
            )
        )
        url = f"http://127.0.0.1:{port}"
        log_path = tmp / "server.log"
        cmd = [sys.executable, "-c", "from loopline.cli import app; app()", "serve", "--config", str(config)]
        t0 = time.monotonic()
        env = {**os.environ, "LOOPLINE_API_KEYS": KEY}
        with open(log_path, "w") as log:
            server = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                if server.poll() is not None:
                    sys.exit(f"the server exited ({server.returncode}):\n{log_path.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            startup = time.monotonic() - t0
            print(
                f"base {base} (server up in {startup:.1f} s); {args.clients} clients x {args.duration:g} s per phase, "
                f"max_tokens {args.max_tokens}, threads {args.threads or 'default'}",
                flush=True,
            )
            load(url, 1, 0.1, 4)  # warm-up
            results = {"base": load(url, args.clients, args.duration, args.max_tokens)}

            promoted = time.monotonic()
            AdapterRegistry(registry_root).promote(version, "bench")
            while httpx.get(f"{url}/healthz").json()["adapter_version"] != version:
                time.sleep(0.01)
            to_served = time.monotonic() - promoted
            swap_s = metric(url, "loopline_serve_last_swap_seconds")
            results[f"lora {version}"] = load(url, args.clients, args.duration, args.max_tokens)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()

    print(f"{'phase':<12} {'requests':>8} {'failed':>6} {'req/s':>7} {'p50 s':>7} {'p99 s':>7} {'tokens/s':>9}  served")
    for name, r in results.items():
        print(
            f"{name:<12} {r['requests']:>8} {r['failed']:>6} {r['requests_per_s']:>7.2f} {r['p50_s']:>7.3f} "
            f"{r['p99_s']:>7.3f} {r['tokens_per_s']:>9.1f}  {','.join(r['versions'])}"
        )
        if r["first_failure"]:
            print(f"  first failure: {r['first_failure']}")
    print(f"swap base -> {version}: {swap_s:.3f} s in the server; promote -> served {to_served:.3f} s (poll 0.2 s)")


if __name__ == "__main__":
    main()

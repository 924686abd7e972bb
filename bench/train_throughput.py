"""Training tokens/s and peak memory: Loopline's SFT step with QLoRA (4-bit NF4) and plain LoRA, against bare trl.

Each row runs in its own process (so peak memory is that row's alone) on the same pairs, the same base model and
the same LoRA shape, for --steps optimizer steps (the same first-step warm-up in every row):
  trl baseline     trl's SFTTrainer with peft's LoraConfig on the bf16/fp32 base, no Loopline code at all
  loopline lora    trainer.sft.run_sft, method lora
  loopline qlora   trainer.sft.run_sft, method qlora (what `loopline train` runs by default)
Tokens are the trainer's own count of prompt+answer tokens (trl's num_tokens), padding excluded. Peak memory is the
process's max RSS on CPU, torch's max allocated on CUDA. Pairs: the CuratedPairs of a store dataset (make demo
fills `live`).
Usage: .venv/bin/python bench/train_throughput.py [--dataset live] [--steps 10] [--batch-size 8] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = ("trl baseline", "loopline lora", "loopline qlora")


def run_row(row: str, args) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from loopline.config import load
    from loopline.store import CuratedStore
    from trainer.chat import pair_messages, prompt_completion
    from trainer.model import compute_dtype, load_model, load_tokenizer, pick_device, resolve_base
    from trainer.sft import run_sft

    c = load()
    t = c.trainer
    device = pick_device(args.device)
    store = CuratedStore(c.store_root, args.dataset)
    if not store.exists():
        sys.exit(f"dataset {args.dataset!r} not found under {c.store_root}: run `make demo` first")
    pairs = sorted(store.snapshot().read("CuratedPair"), key=lambda p: p["pair_id"])
    pairs = (pairs * (1 + args.steps * args.batch_size // max(len(pairs), 1)))[: args.steps * args.batch_size]
    t.sft.batch_size, t.sft.checkpoint_every = args.batch_size, 10_000
    base = resolve_base(t.model, c.cache_dir)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out:
        if row == "trl baseline":
            tokenizer = load_tokenizer(base)
            model = AutoModelForCausalLM.from_pretrained(base, dtype=compute_dtype(device), device_map={"": device})
            lora = LoraConfig(
                r=t.model.lora_r,
                lora_alpha=t.model.lora_alpha,
                lora_dropout=t.model.lora_dropout,
                target_modules=list(t.model.target_modules),
                task_type="CAUSAL_LM",
            )
            config = SFTConfig(
                output_dir=out,
                max_steps=args.steps,
                per_device_train_batch_size=args.batch_size,
                learning_rate=t.sft.learning_rate,
                logging_steps=1,
                report_to="none",
                save_strategy="no",
                max_length=t.model.max_length,
                bf16=device == "cuda",
                use_cpu=device == "cpu",
                disable_tqdm=True,
                packing=device == "cuda",
                activation_checkpointing=device == "cuda",
            )
            trainer = SFTTrainer(
                model=model,
                args=config,
                processing_class=tokenizer,
                peft_config=lora,
                train_dataset=Dataset.from_list([prompt_completion(pair_messages(p)) for p in pairs]),
            )
            started = time.monotonic()
            trainer.train()
            seconds = time.monotonic() - started
            tokens = max(int(h["num_tokens"]) for h in trainer.state.log_history if "num_tokens" in h)
        else:
            t.model.method = row.split()[-1]
            t.sft.max_steps = args.steps
            model, tokenizer = load_model(base, t.model, device)
            result = run_sft(model, tokenizer, pairs, t.sft, t.model, Path(out), device, resume=False, progress=False)
            seconds, tokens = result.seconds, result.train_tokens
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "row": row,
        "device": device,
        "steps": args.steps,
        "tokens": tokens,
        "seconds": round(seconds, 1),
        "tokens_per_s": tokens / seconds,
        "peak_mib": peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="live")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--row", choices=ROWS, help=argparse.SUPPRESS)  # one row, in a child process
    args = parser.parse_args()
    if args.row:
        print(json.dumps(run_row(args.row, args)))
        return
    results = []
    for row in ROWS:
        cmd = [
            sys.executable,
            __file__,
            "--row",
            row,
            "--dataset",
            args.dataset,
            "--steps",
            str(args.steps),
            "--batch-size",
            str(args.batch_size),
            "--device",
            args.device,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{row} failed:\n{out.stderr[-2000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    baseline = results[0]
    print(f"{'row':<16} {'device':<6} {'tokens/s':>9} {'x trl':>6} {'peak MiB':>9} {'x trl':>6}")
    for r in results:
        print(
            f"{r['row']:<16} {r['device']:<6} {r['tokens_per_s']:9.0f} {r['tokens_per_s'] / baseline['tokens_per_s']:6.2f} "
            f"{r['peak_mib']:9.0f} {r['peak_mib'] / baseline['peak_mib']:6.2f}"
        )


if __name__ == "__main__":
    main()

"""What the eval gate compares: golden-pair perplexity, general-text perplexity (forgetting) and ROUGE-L of answers.

Perplexity on golden pairs counts the assistant's tokens only, exactly the tokens SFT trains (trainer/chat.py), so a
better adapter shows as a lower number; general text counts every token, so forgetting shows as a higher one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import torch
import torch.nn.functional as F
from rouge_score import rouge_scorer
from tqdm.auto import tqdm
from transformers import DataCollatorForSeq2Seq, PreTrainedModel, PreTrainedTokenizerBase

from loopline.config import TrainerEvalConfig
from trainer.chat import completion_tokens, pair_messages
from trainer.errors import TrainerError


@dataclass
class EvalMetrics:
    domain_ppl: float | None  # None: no golden pairs
    general_ppl: float | None  # None: no general texts
    rouge_l: float | None  # mean ROUGE-L F1; None: nothing answered (rouge_samples 0 or no golden pairs)
    # nats per answer token by which a golden prompt's own answer is likelier than the next golden pair's answer:
    # fluent answers in the domain's style lower perplexity even when they answer the wrong question; this does not
    answer_match: float | None
    n_golden: int
    n_general: int


def load_general_texts(path: Path | None) -> list[str]:
    """The general-text set: JSON lines {"text": ...}; None: the set shipped with the trainer."""
    source = Path(path) if path is not None else files("trainer") / "general_text.jsonl"
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise TrainerError(f"cannot read general text {source}: {e.strerror or e}") from e
    texts = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            text = json.loads(line)["text"]
        except (ValueError, KeyError, TypeError) as e:
            raise TrainerError(f'{source}:{number}: expected a JSON object with a "text" string') from e
        if not isinstance(text, str) or not text.strip():
            raise TrainerError(f'{source}:{number}: "text" must be a non-empty string')
        texts.append(text)
    if not texts:
        raise TrainerError(f"{source} holds no texts")
    return texts


def evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    golden: list[dict],
    general_texts: list[str],
    cfg: TrainerEvalConfig,
    device: str,
    progress: bool = True,
) -> EvalMetrics:
    """Score the model on the first cfg.max_golden golden pairs (in the order given) and the general texts."""
    golden = golden[: cfg.max_golden]
    was_training = model.training
    model.eval()
    try:
        domain = [completion_tokens(tokenizer, pair_messages(p), cfg.max_length) for p in golden]
        general = [tokenizer(t, truncation=True, max_length=cfg.max_length)["input_ids"] for t in general_texts]
        domain_ppl = perplexity(model, tokenizer, domain, cfg.batch_size, device, "golden perplexity", progress)
        answer_match = None
        if len(golden) > 1:
            swapped = [{**p, "output": golden[(i + 1) % len(golden)]["output"]} for i, p in enumerate(golden)]
            swapped_seqs = [completion_tokens(tokenizer, pair_messages(p), cfg.max_length) for p in swapped]
            swapped_ppl = perplexity(model, tokenizer, swapped_seqs, cfg.batch_size, device, "swapped answers", progress)
            answer_match = math.log(swapped_ppl) - math.log(domain_ppl)
        general_ppl = perplexity(
            model, tokenizer, [(ids, ids) for ids in general], cfg.batch_size, device, "general perplexity", progress
        )
        rouge_l = mean_rouge_l(model, tokenizer, golden[: cfg.rouge_samples], cfg, device, progress)
    finally:
        model.train(was_training)
    return EvalMetrics(
        domain_ppl=domain_ppl,
        general_ppl=general_ppl,
        rouge_l=rouge_l,
        answer_match=answer_match,
        n_golden=len(golden),
        n_general=len(general_texts),
    )


@torch.inference_mode()
def perplexity(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sequences: list[tuple[list[int], list[int]]],
    batch_size: int,
    device: str,
    desc: str,
    progress: bool,
) -> float | None:
    """exp(mean NLL) over every labelled token (label != -100) of (input_ids, labels) sequences; None when none."""
    collate = DataCollatorForSeq2Seq(tokenizer, padding=True, return_tensors="pt")
    total_nll, total_tokens = 0.0, 0
    batches = range(0, len(sequences), batch_size)
    for start in tqdm(batches, desc=desc, unit="batch", disable=not progress):
        batch = collate([{"input_ids": ids, "labels": labels} for ids, labels in sequences[start : start + batch_size]])
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        targets = batch["labels"][:, 1:]  # token t is predicted from the tokens before it
        total_nll += F.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=-100, reduction="sum"
        ).item()
        total_tokens += int((targets != -100).sum())
    return math.exp(total_nll / total_tokens) if total_tokens else None


@torch.inference_mode()
def mean_rouge_l(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: list[dict],
    cfg: TrainerEvalConfig,
    device: str,
    progress: bool,
) -> float | None:
    """Mean ROUGE-L F1 (stemmed) of greedy answers against the pairs' outputs; None when there are no pairs."""
    if not pairs:
        return None
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = []
    for start in tqdm(range(0, len(pairs), cfg.batch_size), desc="ROUGE-L answers", unit="batch", disable=not progress):
        batch = pairs[start : start + cfg.batch_size]
        prompts = [
            tokenizer.apply_chat_template(pair_messages(p)[:-1], add_generation_prompt=True, tokenize=True, return_dict=True)[
                "input_ids"
            ]
            for p in batch
        ]
        # left padding: every answer then starts at the same position, right after its prompt
        inputs = tokenizer.pad({"input_ids": prompts}, padding_side="left", return_tensors="pt").to(device)
        output = model.generate(**inputs, max_new_tokens=cfg.max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        answers = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        scores += [scorer.score(p["output"], answer)["rougeL"].fmeasure for p, answer in zip(batch, answers)]
    return sum(scores) / len(scores)

"""Curated pairs and feedback as chat turns, and their tokens with the assistant's marked for the loss.

Training and evaluation share these, so a golden pair's perplexity is measured on exactly the tokens SFT trains.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase
from trl.data_utils import common_prefix_length


def user_turn(pair: dict) -> str:
    """The user's message: the context (`input`) first, then the instruction.

    Context first reads like a real request (the thread, then what to do with it) and puts the instruction last,
    right before the answer, where a small model attends to it best.
    """
    context = (pair.get("input") or "").strip()
    return f"{context}\n\n{pair['instruction']}" if context else pair["instruction"]


def pair_messages(pair: dict) -> list[dict]:
    """A curated pair as a user turn and the assistant's answer."""
    return [{"role": "user", "content": user_turn(pair)}, {"role": "assistant", "content": pair["output"]}]


def prompt_completion(messages: list[dict]) -> dict:
    """trl's conversational prompt-completion row: the loss falls on the completion (the last turn) only.

    trl renders the prompt with the generation prompt and the whole conversation, and trains on where they diverge:
    the assistant's text and its end-of-turn token, so the model learns to stop. Templates without `{% generation %}`
    markers (SmolLM2's) need no patching this way.
    """
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def completion_tokens(tokenizer: PreTrainedTokenizerBase, messages: list[dict], max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of a conversation, labels -100 except on the last turn; as trl's SFT prepares them.

    Truncated to the first max_length tokens (trl's keep_start).
    """
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True, return_dict=True)
    full = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
    prompt_ids, ids = prompt["input_ids"], full["input_ids"]
    start = common_prefix_length(prompt_ids, ids)
    labels = [-100] * start + ids[start:]
    return ids[:max_length], labels[:max_length]

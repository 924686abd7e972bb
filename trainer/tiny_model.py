"""A tiny random Llama with a byte-level BPE tokenizer, built offline in well under a second, and support-style data.

For tests, soaks and benches of the training mechanics (not for users): the model learns nothing useful, but it
trains, checkpoints and generates like a real one, through the same transformers/peft/trl code paths.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _pair(n: int, instruction: str, context: str | None, output: str, task: str = "support_reply") -> dict:
    return {
        "pair_id": f"p{n:02d}",
        "instruction": instruction,
        "input": context,
        "output": output,
        "task": task,
        "quality_score": 0.9,
    }


SUPPORT_PAIRS = [
    _pair(
        1,
        "Reply to the customer.",
        "Customer: My order #4411 arrived with a cracked screen protector.",
        "I'm sorry the screen protector arrived cracked. I've sent a replacement at no charge; it ships within two "
        "business days and you don't need to return the damaged one.",
    ),
    _pair(
        2,
        "Reply to the customer.",
        "Customer: How do I reset my password? The link in the email expired.",
        "Reset links expire after 30 minutes. Request a new one from the sign-in page under 'Forgot password' and "
        "use it right away; if it still fails, reply here and I'll reset it for you.",
    ),
    _pair(
        3,
        "Reply to the customer.",
        None,
        "Thanks for reaching out. Could you tell me the order number and the email address used at checkout so I "
        "can look into this?",
    ),
    _pair(
        4,
        "Summarise the ticket in one sentence.",
        "Customer reports the mobile app logs them out every time they switch to another app. Reinstalling did not "
        "help. Agent asked for the app version; customer is on 5.2.1.",
        "The mobile app (5.2.1) logs the customer out whenever it goes to the background, and reinstalling did not fix it.",
        task="summary",
    ),
    _pair(
        5,
        "Reply to the customer.",
        "Customer: I was charged twice for my subscription this month.",
        "I can see two charges on your account this month. I've refunded the duplicate; it will appear on your "
        "statement within five to seven business days.",
    ),
    _pair(
        6,
        "Reply to the customer.",
        "Customer: Can I change the delivery address after placing the order?",
        "Yes, as long as the order hasn't shipped. Open the order in your account, choose 'Edit delivery', and "
        "enter the new address. If the button is greyed out, the parcel is already on its way.",
    ),
    _pair(
        7,
        "Classify the request as billing, shipping, account or other.",
        "Customer: The tracking number you sent shows no updates for six days.",
        "shipping",
        task="classify",
    ),
    _pair(
        8,
        "Reply to the customer.",
        "Customer: Do you ship to Canada?",
        "We do. Standard shipping to Canada takes seven to ten business days, and duties are calculated at "
        "checkout so there are no surprises on delivery.",
    ),
    _pair(
        9,
        "Reply to the customer.",
        "Customer: The discount code SPRING20 says it is invalid.",
        "SPRING20 ended on the last day of May, which is why it shows as invalid. I've applied a 15% courtesy "
        "discount to your cart instead; it's valid for the next 48 hours.",
    ),
    _pair(
        10,
        "Classify the request as billing, shipping, account or other.",
        "Customer: I want to close my account and delete my data.",
        "account",
        task="classify",
    ),
    _pair(
        11,
        "Reply to the customer.",
        "Customer: My headphones stopped charging after a week.",
        "I'm sorry about that. Please try a different cable and wall adapter first; if they still won't charge, "
        "they're covered by the one-year warranty and I'll arrange a replacement.",
    ),
    _pair(
        12,
        "Summarise the ticket in one sentence.",
        "Customer asked to upgrade from the Basic to the Pro plan mid-cycle and wanted to know whether they would "
        "be charged the full price. Agent explained prorated billing.",
        "The customer asked about upgrading to Pro mid-cycle and was told the charge is prorated.",
        task="summary",
    ),
    _pair(
        13,
        "Reply to the customer.",
        "Customer: How long do refunds take?",
        "Refunds are issued the day we receive your return and usually reach your account within five to seven "
        "business days, depending on your bank.",
    ),
    _pair(
        14,
        "Reply to the customer.",
        "Customer: The assembly instructions for the desk are missing a page.",
        "Sorry about the missing page. You can download the full instructions from the product page under "
        "'Manuals', and I've also emailed you a copy.",
    ),
    _pair(
        15,
        "Classify the request as billing, shipping, account or other.",
        "Customer: Why was my card declined when the balance is fine?",
        "billing",
        task="classify",
    ),
    _pair(
        16,
        "Reply to the customer.",
        "Customer: Is there a student discount?",
        "Yes: students get 10% off with a verified school email. Sign in, open 'Account > Discounts', and verify "
        "your email to apply it to future orders.",
    ),
]


def feedback_examples(n: int = 8) -> list[dict]:
    """Thumbs-up on the pair's own answer, thumbs-down on a curt wrong one, alternating."""
    examples = []
    for i in range(n):
        pair = SUPPORT_PAIRS[i % len(SUPPORT_PAIRS)]
        desirable = i % 2 == 0
        prompt = f"{pair['input'] or ''}\n\n{pair['instruction']}".strip()
        examples.append(
            {
                "example_id": f"f{i:02d}",
                "prompt": prompt,
                "response": pair["output"] if desirable else "No. Contact someone else.",
                "desirable": desirable,
                "adapter_version": "v1",
                "comment": None,
            }
        )
    return examples


def _corpus() -> list[str]:
    return [f"{p['input'] or ''} {p['instruction']} {p['output']}" for p in SUPPORT_PAIRS] + ["user assistant system"]


def build_tiny_model(path: Path, hidden_size: int = 64, layers: int = 2, vocab_size: int = 400) -> Path:
    """Save a random LlamaForCausalLM and its BPE tokenizer (with a chat template) under `path`."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        _corpus(),
        trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", unk_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    return Path(path)

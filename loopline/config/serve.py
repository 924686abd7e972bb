"""Section of the model server (serving/)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from loopline.config.base import Host, Port, Section

API_KEYS_ENV = "LOOPLINE_API_KEYS"


class ServeConfig(Section):
    """`loopline serve`: the OpenAI-compatible server on the promoted adapter, feedback into Kafka."""

    host: Host = Field("127.0.0.1", description="Address to listen on; 0.0.0.0 exposes the server beyond this machine.")
    port: Port = 8000
    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description=f"Accepted bearer keys, added to the comma-separated ones in ${API_KEYS_ENV}. "
        "With none at all the server refuses to start (unless --no-auth).",
    )
    model_name: str = Field("loopline", min_length=1, description="The model id /v1/models lists and requests name.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(
        None,
        ge=1,
        description="torch CPU threads for generation; null: torch's default (one per core). On a shared machine "
        "use fewer: threads that wait on each other slow down sharply when another process takes a core.",
    )
    max_batch: int = Field(
        8,
        ge=1,
        description="Most requests generated together: waiting non-streamed requests with the same sampling settings "
        "share one pass over the weights. 1: one at a time.",
    )
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Larger request bodies are refused with 413.")
    max_prompt_tokens: int = Field(
        2048, ge=1, description="Longer prompts (chat template applied) are refused with 400 context_length_exceeded."
    )
    max_tokens: int = Field(512, ge=1, description="Cap on a request's max_tokens (larger asks are cut to it).")
    default_max_tokens: int = Field(128, ge=1, description="max_tokens of a request that gives none.")
    registry_poll_s: float = Field(
        2.0, gt=0, description="How often the adapter registry is checked for a promote or rollback to swap in."
    )
    feedback_timeout_s: float = Field(
        10.0, gt=0, description="How long a feedback request waits for Kafka to acknowledge its event before a 503."
    )
    responses_db: Path | None = Field(
        None,
        description="SQLite log of served responses (prompt and answer, raw: feedback needs them); "
        "default <home>/serve/responses.sqlite.",
    )
    keep_responses_days: float = Field(
        30.0, gt=0, description="Served responses older than this are deleted at start-up; they can no longer be rated."
    )

    def all_api_keys(self) -> list[str]:
        """The configured keys plus those in $LOOPLINE_API_KEYS; blanks dropped."""
        from_env = os.environ.get(API_KEYS_ENV, "").split(",")
        configured = [k.get_secret_value() if isinstance(k, SecretStr) else str(k) for k in self.api_keys]
        keys = [k.strip() for k in configured + from_env]
        return [k for k in dict.fromkeys(keys) if k]

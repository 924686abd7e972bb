"""The CLI's one place for user errors: `error: <one line>` on stderr and exit code 1, no traceback.

A user can cause these (bad config, missing file, broker down, bad dataset name...) and fix them from the
message alone; anything else is a bug and keeps its traceback. `loopline --debug` shows the traceback always.
"""

from __future__ import annotations

from typing import NoReturn

import click
import typer
from confluent_kafka import KafkaError, KafkaException
from typer.core import TyperGroup

from loopline.config import ConfigError
from loopline.stack.kafka import StackError
from loopline.stack.maven import MavenError


class CliError(Exception):
    """A problem the CLI found itself (conflicting options, broker not up); the message is the line printed."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def _user_errors() -> tuple[type[BaseException], ...]:
    from trainer.errors import TrainerError
    from trainer.registry import RegistryBusy

    # ValueError: the store, replay and follow set-up refuse bad names and arguments with it
    return (CliError, ConfigError, StackError, MavenError, TrainerError, RegistryBusy, KafkaException, OSError, ValueError)


def message(error: BaseException) -> str:
    """The error as one line: its first line, and for Kafka client errors what to check."""
    if isinstance(error, KafkaException):
        detail = error.args[0].str() if isinstance(error.args[0], KafkaError) else str(error)
        return f"Kafka: {detail}; is the broker up and kafka.host/kafka.port right? (`loopline stack status`)"
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class UserErrorsAsOneLine(TyperGroup):
    """The root command group: runs every command inside the user-error handler."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _user_errors() as e:
            if ctx.meta.get("loopline.debug"):
                raise
            typer.echo(f"error: {message(e)}", err=True)
            raise typer.Exit(1) from None

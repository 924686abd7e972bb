"""The conversation generators, one per catalog conversation kind: the one place a generator is registered."""

from __future__ import annotations

from loopline import catalog
from loopline.simulator.chat_threads import ChatThreads
from loopline.simulator.email_threads import EmailThreads
from loopline.simulator.ticket_threads import TicketThreads
from loopline.simulator.toolkit import ConversationGenerator, Toolkit

GENERATORS: tuple[type[ConversationGenerator], ...] = (ChatThreads, EmailThreads, TicketThreads)


def conversation_generators(tools: Toolkit) -> dict[str, ConversationGenerator]:
    """One generator per conversation kind, by kind; built in GENERATORS order (a generator may draw
    from the random stream when built)."""
    made = {g.source.kind: g(tools) for g in GENERATORS}
    missing = [k for k in catalog.conversation_kinds() if k not in made]
    if missing:
        raise RuntimeError(f"the simulator has no generator for conversation kinds {missing}: add one to GENERATORS")
    return made

"""Signals: how a domain lets the domains above it act on its changes without knowing them.

A lower domain declares a signal (``pbx.signals.user_deleting``) and sends it; a higher
domain connects a receiver (deploy refuses to delete a user whose profile is being
deployed). Receivers run in the order they were connected, inside the sender's
transaction when it has one; an exception a receiver raises (a ``UserInputError``)
stops the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Receiver = Callable[..., Awaitable[None]]


class Signal:
    """A named list of async receivers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Receiver] = []

    def connect(self, receiver: Receiver) -> Receiver:
        """Connect ``receiver`` (usable as a decorator)."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    async def send(self, *args: Any, **kwargs: Any) -> None:
        for receiver in self._receivers:
            await receiver(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Signal({self.name!r})"

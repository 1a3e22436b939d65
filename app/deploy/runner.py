"""The deploy job runner (deploy issue)."""

from __future__ import annotations


async def start_runner() -> None:
    """Recover jobs a dead process left behind and start working the queue."""


async def stop_runner() -> None:
    """Stop taking jobs; running ones are left to recovery at the next start."""

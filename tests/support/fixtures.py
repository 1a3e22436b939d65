"""Pytest fixtures for the wire doubles; import them into a ``conftest.py``::

from tests.support.fixtures import ftp_server, ftp_server_overwrite, phone_sim_factory
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.ftp_server import FtpServerHandle, run_ftp_server
from tests.support.phone_sim import PhoneSimulator

__all__ = [
    "PhoneSimFactory",
    "ftp_server",
    "ftp_server_overwrite",
    "ftp_server_refusing_login",
    "phone_sim_factory",
]

PhoneSimFactory = Callable[..., Awaitable[PhoneSimulator]]


@pytest.fixture
async def ftp_server(tmp_path: Path) -> AsyncIterator[FtpServerHandle]:
    """aioftp's stock server: it refuses to rename onto an existing name."""
    async with run_ftp_server(tmp_path / "ftp-stock") as server:
        yield server


@pytest.fixture
async def ftp_server_overwrite(tmp_path: Path) -> AsyncIterator[FtpServerHandle]:
    """A server that lets a rename replace an existing file (``AllowOverwrite on``)."""
    async with run_ftp_server(tmp_path / "ftp-overwrite", overwrite=True) as server:
        yield server


@pytest.fixture
async def ftp_server_refusing_login(tmp_path: Path) -> AsyncIterator[FtpServerHandle]:
    """A server that refuses every login (its ``url`` carries the usual credentials)."""
    async with run_ftp_server(tmp_path / "ftp-refusing", refuse_login=True) as server:
        yield server


@pytest.fixture
async def phone_sim_factory() -> AsyncIterator[PhoneSimFactory]:
    """``await phone_sim_factory(mac, **options)`` starts a :class:`PhoneSimulator`;
    every simulator started is stopped after the test."""
    async with AsyncExitStack() as stack:

        async def make(mac: str, **options: Any) -> PhoneSimulator:
            return await stack.enter_async_context(PhoneSimulator(mac, **options))

        yield make

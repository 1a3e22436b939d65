"""Malformed WebSocket messages, sent without any token, are the client's mistake: the
current protocol closes the socket with 4400, the legacy one ignores them; neither is an
error in the server (no traceback in its log)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN_TOKEN, LiveServer

JUNK = ["1", '"x"', "null", "[" * 100_000, "{}", '{"type": 7}', "[1, 2]"]


@pytest.mark.parametrize("junk", JUNK, ids=["int", "string", "null", "deep", "no-type", "int-type", "list"])
async def test_the_current_protocol_closes_4400(
    live_server: LiveServer, junk: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with websockets.connect(
        live_server.ws_url, subprotocols=["graphql-transport-ws"], max_size=None
    ) as ws:
        await ws.send(junk)
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_the_legacy_protocol_ignores_them_and_goes_on(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with websockets.connect(
        live_server.ws_url, subprotocols=["graphql-ws"], max_size=None
    ) as ws:
        for junk in JUNK:
            await ws.send(junk)
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
            )
        )
        async with asyncio.timeout(10):
            message = json.loads(await ws.recv())
    assert message["type"] == "connection_ack"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text

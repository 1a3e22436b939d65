"""Revocation and expiry that bite: a revoked or expired token is refused over HTTP, every
WebSocket open with it closes with 4403 within 5 s (whichever server process revoked it),
and each operation sent over a socket is authorised as it starts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.core.auth import TOKEN_ENDED
from tests.conftest import (
    PG_URL,
    GraphQLClient,
    LiveServer,
    create_company,
    start_server,
    stop_server,
)

SUBSCRIPTION = "subscription { phoneEvents { __typename } }"
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
CREATE = """
mutation($input: ApiTokenInput!) { apiTokenCreate(input: $input) {
  token apiToken { id name expiresAt revokedAt active } userErrors { field code message } } }
"""
REVOKE = "mutation($id: ID!) { apiTokenRevoke(id: $id) { deletedId userErrors { code } } }"
TOKENS = """
query($filter: ApiTokenFilter) { apiTokens(first: 50, filter: $filter) {
  totalCount nodes { id name role expiresAt revokedAt active company { name } } } }
"""


async def _token(
    admin: GraphQLClient, name: str, *, expires_at: datetime | None = None, **extra: Any
) -> tuple[str, str]:
    """A new SYSTEM_ADMIN (or ``role``) token: (secret, global id)."""
    data = {"name": name, "role": "SYSTEM_ADMIN", **extra}
    if expires_at is not None:
        data["expiresAt"] = expires_at.isoformat()
    payload = await admin.mutate(CREATE, {"input": data})
    return payload["token"], payload["apiToken"]["id"]


class Socket:
    """A WebSocket of either protocol, authenticated with ``token``."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol

    @classmethod
    async def open(cls, ws_url: str, protocol: str, token: str) -> Socket:
        ws = await connect(ws_url, subprotocols=[protocol], open_timeout=10)
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        async with asyncio.timeout(10):
            ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        return cls(ws, protocol)

    async def start(self, query: str, op_id: str = "1") -> None:
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        await self.ws.send(json.dumps({"type": kind, "id": op_id, "payload": {"query": query}}))

    async def until_closed(self, timeout: float) -> tuple[list[dict[str, Any]], int | None, str]:
        """Messages received until the server closed the socket, the code and reason
        (``None`` if it was still open after ``timeout`` seconds)."""
        messages: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = json.loads(await self.ws.recv())
                    if message.get("type") != "ka":
                        messages.append(message)
        except ConnectionClosed as closed:
            rcvd = closed.rcvd
            return messages, rcvd.code if rcvd else None, rcvd.reason if rcvd else ""
        except TimeoutError:
            return messages, None, ""

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
async def sockets() -> AsyncIterator[list[Socket]]:
    opened: list[Socket] = []
    yield opened
    for socket in opened:
        await socket.close()


# ---------------------------------------------------------------- HTTP


async def test_an_expired_token_is_refused_over_http(
    admin: GraphQLClient, live_server: LiveServer
) -> None:
    secret, _ = await _token(admin, "soon", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    client = live_server.client(secret)
    assert (await client.data("{ viewer { tokenName } }"))["viewer"]["tokenName"] == "soon"
    deadline = time.monotonic() + 10
    while True:
        body = await client.execute("{ viewer { tokenName } }")
        if body.get("errors"):
            break
        assert time.monotonic() < deadline, "the expired token still works"
        await asyncio.sleep(0.2)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_expiry_must_be_in_the_future(admin: GraphQLClient) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    body = await admin.data(
        CREATE, {"input": {"name": "x", "role": "SYSTEM_ADMIN", "expiresAt": past}}
    )
    payload = body["apiTokenCreate"]
    assert payload["token"] is None
    assert payload["userErrors"] == [
        {
            "field": ["input", "expiresAt"],
            "code": "INVALID",
            "message": "expiresAt must be in the future",
        }
    ]


async def test_expires_at_and_revoked_at_are_readable(admin: GraphQLClient) -> None:
    later = datetime.now(UTC) + timedelta(days=30)
    payload = await admin.mutate(
        CREATE,
        {"input": {"name": "monthly", "role": "SYSTEM_ADMIN", "expiresAt": later.isoformat()}},
    )
    token = payload["apiToken"]
    assert datetime.fromisoformat(token["expiresAt"]) == later
    assert token["revokedAt"] is None and token["active"] is True
    await admin.mutate(REVOKE, {"id": token["id"]})
    data = await admin.data(TOKENS, {"filter": {"active": False}})
    (listed,) = data["apiTokens"]["nodes"]
    assert listed["id"] == token["id"]
    assert listed["revokedAt"] is not None and listed["active"] is False


# ---------------------------------------------------------------- the apiTokens connection


async def test_api_tokens_are_listed_within_the_callers_scope(
    admin: GraphQLClient, live_server: LiveServer
) -> None:
    acme = await create_company(admin, "Acme")
    globex = await create_company(admin, "Globex")
    acme_secret, _ = await _token(admin, "acme-admin", role="COMPANY_ADMIN", companyId=acme)
    await _token(admin, "globex-admin", role="COMPANY_ADMIN", companyId=globex)
    await _token(admin, "acme-robot", role="COMPANY_ADMIN", companyId=acme)

    everything = (await admin.data(TOKENS))["apiTokens"]
    # Newest first; the bootstrap token is a system admin's.
    assert [t["name"] for t in everything["nodes"]] == [
        "acme-robot",
        "globex-admin",
        "acme-admin",
        "bootstrap",
    ]
    assert everything["totalCount"] == 4

    acme_admin = live_server.client(acme_secret)
    mine = (await acme_admin.data(TOKENS))["apiTokens"]
    assert [t["name"] for t in mine["nodes"]] == ["acme-robot", "acme-admin"]
    assert {t["company"]["name"] for t in mine["nodes"]} == {"Acme"}
    # Another company's filter shows nothing, as if it had none.
    other = await acme_admin.data(TOKENS, {"filter": {"companyId": globex}})
    assert other["apiTokens"]["totalCount"] == 0

    # An admin revokes its company's tokens only.
    acme_robot = mine["nodes"][0]["id"]
    revoked = await acme_admin.mutate(REVOKE, {"id": acme_robot})
    assert revoked["deletedId"] == acme_robot
    active = await acme_admin.data(TOKENS, {"filter": {"active": True}})
    assert [t["name"] for t in active["apiTokens"]["nodes"]] == ["acme-admin"]


async def test_user_tokens_may_not_list_api_tokens(
    admin: GraphQLClient, live_server: LiveServer
) -> None:
    company = await create_company(admin, "Acme")
    domain = await admin.mutate(
        """mutation($c: ID!) { sipDomainCreate(input: {companyId: $c, name: "acme.example.net",
        displayName: "Acme"}) { sipDomain { id } userErrors { message } } }""",
        {"c": company},
    )
    user = await admin.mutate(
        """mutation($d: ID!) { sipUserCreate(domainId: $d, input: {username: "alice",
        password: "pw-alice-secret", displayName: "Alice", extensionNumber: "201"})
        { sipUser { id } userErrors { message } } }""",
        {"d": domain["sipDomain"]["id"]},
    )
    secret, _ = await _token(admin, "alice", role="USER", sipUserId=user["sipUser"]["id"])
    body = await live_server.client(secret).execute(TOKENS)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# ---------------------------------------------------------------- open WebSockets


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_revoking_a_token_closes_its_open_websockets_within_5_seconds(
    admin: GraphQLClient, live_server: LiveServer, sockets: list[Socket], protocol: str
) -> None:
    secret, token_id = await _token(admin, "watcher")
    other_secret, _ = await _token(admin, "bystander")
    first = await Socket.open(live_server.ws_url, protocol, secret)
    second = await Socket.open(live_server.ws_url, protocol, secret)
    bystander = await Socket.open(live_server.ws_url, protocol, other_secret)
    sockets += [first, second, bystander]
    for socket in (first, second, bystander):
        await socket.start(SUBSCRIPTION)

    await admin.mutate(REVOKE, {"id": token_id})
    revoked_at = time.monotonic()
    for socket in (first, second):
        messages, code, reason = await socket.until_closed(timeout=8)
        assert code == 4403, (code, messages)
        assert reason == TOKEN_ENDED
        assert time.monotonic() - revoked_at < 5
        assert not [m for m in messages if m["type"] in ("next", "data")]
    # A socket of another token stays open.
    _, code, _ = await bystander.until_closed(timeout=0.5)
    assert code is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_expiring_token_closes_its_open_websockets(
    admin: GraphQLClient, live_server: LiveServer, sockets: list[Socket], protocol: str
) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=2)
    secret, _ = await _token(admin, "short-lived", expires_at=expires)
    socket = await Socket.open(live_server.ws_url, protocol, secret)
    sockets.append(socket)
    await socket.start(SUBSCRIPTION)
    _, code, reason = await socket.until_closed(timeout=12)
    assert code == 4403
    assert reason == TOKEN_ENDED
    assert datetime.now(UTC) < expires + timedelta(seconds=5)


@pytest.fixture
async def slow_recheck(settings: Any) -> AsyncIterator[LiveServer]:
    """A server whose periodic re-check comes too late to matter: what is refused is
    refused by the check each operation gets as it starts."""
    slow = replace(settings, token_recheck=120.0)
    server, task, url = await start_server(slow)
    try:
        yield LiveServer(url=url, settings=slow, server=server)
    finally:
        await stop_server(server, task)


@pytest.mark.parametrize(
    "query", [SUBSCRIPTION, "{ viewer { tokenName } }"], ids=["subscription", "query"]
)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_operation_sent_after_revocation_is_refused(
    slow_recheck: LiveServer, sockets: list[Socket], protocol: str, query: str
) -> None:
    admin = slow_recheck.client()
    secret, token_id = await _token(admin, "revoked-soon")
    socket = await Socket.open(slow_recheck.ws_url, protocol, secret)
    sockets.append(socket)
    await admin.mutate(REVOKE, {"id": token_id})
    await socket.start(query)
    messages, code, reason = await socket.until_closed(timeout=10)
    assert code == 4403
    assert reason == TOKEN_ENDED
    assert messages == []


# ---------------------------------------------------------------- several server processes


@pytest.mark.skipif(not PG_URL, reason="PHONEGRAPH_TEST_DATABASE_URL not set")
async def test_revoking_through_one_process_closes_sockets_on_another(
    tmp_path: Path, sockets: list[Socket]
) -> None:
    from tests.conftest import _truncate_pg
    from tests.deploy.test_processes import ServerProcess, server_env

    assert PG_URL
    await _truncate_pg(PG_URL)
    env = server_env(tmp_path, PG_URL, None)
    first, second = ServerProcess(env, tmp_path / "a.log"), ServerProcess(env, tmp_path / "b.log")
    try:
        await first.start()
        await second.start()
        admin_a = first.client()
        secret, token_id = await _token(admin_a, "shared")
        socket = await Socket.open(second.ws_url, "graphql-transport-ws", secret)
        sockets.append(socket)
        await socket.start(SUBSCRIPTION)
        await admin_a.mutate(REVOKE, {"id": token_id})
        revoked_at = time.monotonic()
        _, code, reason = await socket.until_closed(timeout=8)
        assert code == 4403 and reason == TOKEN_ENDED
        assert time.monotonic() - revoked_at < 5
    finally:
        await first.stop()
        await second.stop()

"""Abuse limits and the 2026 Strawberry fixes the pinned version carries: aliases counted
through fragments, the legacy graphql-ws protocol refusing work before connection_init,
WebSocket tokens checked, oversized bodies, deep and long documents refused readably."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN_TOKEN, GraphQLClient, LiveServer

SUBSCRIPTION = "subscription { phoneEvents { __typename } }"


# ---------------------------------------------------------------- aliases through fragments


def _aliases(count: int, field: str = "role") -> str:
    return " ".join(f"a{i}: {field}" for i in range(count))


async def test_aliases_spread_through_fragments_count_against_the_limit(
    admin: GraphQLClient, live_server: LiveServer
) -> None:
    limit = live_server.settings.max_aliases
    per_fragment = limit // 2 + 1  # one spread fits, two do not
    query = (
        f"fragment Many on Viewer {{ {_aliases(per_fragment)} }} "
        "{ viewer { ...Many ... on Viewer { ...Many } } }"
    )
    body = await admin.execute(query)
    assert body["data"] is None
    assert body["errors"][0]["message"] == (f"{2 * per_fragment} aliases found. Allowed: {limit}")


async def test_aliases_nested_fragments_multiply(
    admin: GraphQLClient, live_server: LiveServer
) -> None:
    limit = live_server.settings.max_aliases
    # 4 aliases, spread through 3 levels of fragments each spreading the next twice.
    query = (
        f"fragment L0 on Viewer {{ {_aliases(4)} }} "
        "fragment L1 on Viewer { ...L0 ... on Viewer { ...L0 } } "
        "fragment L2 on Viewer { ...L1 ... on Viewer { ...L1 } } "
        "fragment L3 on Viewer { ...L2 ... on Viewer { ...L2 } } "
        "{ viewer { ...L3 } }"
    )
    assert 4 * 8 > limit
    body = await admin.execute(query)
    assert body["errors"][0]["message"] == f"32 aliases found. Allowed: {limit}"


async def test_aliases_within_the_limit_are_answered(admin: GraphQLClient) -> None:
    data = await admin.data(
        "fragment Some on Viewer { a: role b: tokenName } { viewer { ...Some } }"
    )
    assert data == {"viewer": {"a": "SYSTEM_ADMIN", "b": "bootstrap"}}


# ---------------------------------------------------------------- WebSocket authentication


@pytest.fixture
async def ws_factory(live_server: LiveServer) -> AsyncIterator[Any]:
    opened: list[ClientConnection] = []

    async def open_socket(subprotocol: str) -> ClientConnection:
        ws = await connect(live_server.ws_url, subprotocols=[subprotocol], open_timeout=10)
        opened.append(ws)
        return ws

    yield open_socket
    for ws in opened:
        await ws.close()


async def _until_closed(ws: ClientConnection, timeout: float = 10) -> tuple[list[dict], int | None]:
    """Every message received until the server closes the socket, and the close code."""
    import asyncio

    messages: list[dict] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                messages.append(json.loads(await ws.recv()))
    except ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return messages, None


async def _recv(ws: ClientConnection, timeout: float = 10) -> dict:
    import asyncio

    async with asyncio.timeout(timeout):
        return json.loads(await ws.recv())


async def test_legacy_protocol_start_before_connection_init_streams_nothing(
    ws_factory: Any,
) -> None:
    ws = await ws_factory("graphql-ws")
    await ws.send(json.dumps({"type": "start", "id": "1", "payload": {"query": SUBSCRIPTION}}))
    messages, code = await _until_closed(ws)
    assert messages == []
    assert code in (4401, 4403)


async def test_legacy_protocol_bad_token_closes_with_4403(ws_factory: Any) -> None:
    ws = await ws_factory("graphql-ws")
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer wrong"}})
    )
    await ws.send(json.dumps({"type": "start", "id": "1", "payload": {"query": SUBSCRIPTION}}))
    messages, code = await _until_closed(ws)
    assert code == 4403
    assert [m["type"] for m in messages] == ["connection_error"]


async def test_legacy_protocol_accepts_a_valid_token(ws_factory: Any) -> None:
    ws = await ws_factory("graphql-ws")
    await ws.send(
        json.dumps(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
        )
    )
    assert (await _recv(ws))["type"] == "connection_ack"


@pytest.mark.parametrize(
    "payload",
    [{"Authorization": "Bearer wrong"}, {}, None, {"Authorization": "Basic YWRtaW46YWRtaW4="}],
    ids=["bad-token", "no-token", "no-payload", "not-bearer"],
)
async def test_transport_ws_without_a_valid_token_closes_with_4403(
    ws_factory: Any, payload: dict | None
) -> None:
    ws = await ws_factory("graphql-transport-ws")
    init: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        init["payload"] = payload
    await ws.send(json.dumps(init))
    messages, code = await _until_closed(ws)
    assert code == 4403
    assert messages == []


async def _close_reason(ws: ClientConnection, timeout: float = 10) -> tuple[int, str]:
    import asyncio

    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (None, 'connection_init has no Authorization (send {"Authorization": "Bearer <token>"}).'),
        ({"Authorization": ""}, 'connection_init has no Authorization (send {"Authorization": "Bearer <token>"}).'),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "Authorization in connection_init must read Bearer <token>."),
        ({"Authorization": 42}, "Authorization in connection_init must read Bearer <token>."),
        ({"Authorization": "Bearer <token>"}, "Authorization still holds the placeholder <token>; put your token there."),
        ({"authorization": "Bearer wrong"}, "this token is unknown, has been revoked or has expired."),
    ],
    ids=["no-payload", "empty", "not-bearer", "not-a-string", "placeholder", "unknown"],
)
@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_websocket_close_reason_says_what_is_wrong_with_the_token(
    ws_factory: Any, subprotocol: str, payload: dict | None, says: str
) -> None:
    ws = await ws_factory(subprotocol)
    init: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        init["payload"] = payload
    await ws.send(json.dumps(init))
    code, reason = await _close_reason(ws)
    assert code == 4403
    assert reason == f"A valid API token is required: {says}"


async def test_transport_ws_subscribe_before_connection_init_says_why(ws_factory: Any) -> None:
    ws = await ws_factory("graphql-transport-ws")
    await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIPTION}}))
    code, reason = await _close_reason(ws)
    assert code == 4401
    assert reason.startswith("A valid API token is required: send connection_init")


async def test_transport_ws_subscribe_before_connection_init_is_refused(ws_factory: Any) -> None:
    ws = await ws_factory("graphql-transport-ws")
    await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIPTION}}))
    messages, code = await _until_closed(ws)
    assert messages == []
    assert code == 4401


async def test_transport_ws_accepts_a_valid_token(ws_factory: Any) -> None:
    ws = await ws_factory("graphql-transport-ws")
    await ws.send(
        json.dumps(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
        )
    )
    assert (await _recv(ws))["type"] == "connection_ack"


# ---------------------------------------------------------------- request size, depth, tokens


async def test_request_body_over_the_limit_is_413(live_server: LiveServer) -> None:
    limit = live_server.settings.max_body_bytes
    padding = " " * (limit + 1)
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        response = await client.post(
            "/graphql",
            content=f'{{"query": "{{ __typename }}"{padding}}}'.encode(),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_streamed_request_body_over_the_limit_is_413(live_server: LiveServer) -> None:
    limit = live_server.settings.max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }"'
        sent = 0
        while sent <= limit:
            yield b" " * 65536
            sent += 65536
        yield b"}"

    async with httpx.AsyncClient(base_url=live_server.url) as client:
        response = await client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers  # sent chunked
    assert response.status_code == 413


def _company_cycle(depth: int) -> str:
    """A query `depth` fields deep, going round Company -> SipDomain -> Company (one item
    per connection, so only the depth limit, not the node budget, is what it meets)."""
    path = ["companies(first: 1)", "nodes"]
    while len(path) < depth - 1:
        path += ["sipDomains(first: 1)", "nodes", "company"]
    path = path[: depth - 1]
    inner = "id"
    for field in reversed(path):
        inner = f"{field} {{ {inner} }}"
    return f"{{ {inner} }}"


async def test_query_deeper_than_the_limit_is_refused_readably(
    admin: GraphQLClient, live_server: LiveServer
) -> None:
    limit = live_server.settings.max_query_depth
    assert "errors" not in await admin.execute(_company_cycle(limit))

    body = await admin.execute(_company_cycle(limit + 2))
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["message"] == f"'anonymous' exceeds maximum operation depth of {limit}"


async def test_introspection_cannot_go_round_in_circles(live_server: LiveServer) -> None:
    # Introspection needs no token, so its own depth rule matters.
    inner = "name"
    for _ in range(4):
        inner = f"fields {{ type {{ {inner} }} }}"
    body = await live_server.client(None).execute(f"{{ __schema {{ types {{ {inner} }} }} }}")
    assert body["data"] is None
    assert "introspection depth" in body["errors"][0]["message"].lower()


async def test_document_with_too_many_tokens_is_refused_readably(live_server: LiveServer) -> None:
    limit = live_server.settings.max_tokens
    query = "{ " + "__typename " * (limit + 10) + "}"
    assert len(query.encode()) < live_server.settings.max_body_bytes
    body = await live_server.client().execute(query)
    assert body["data"] is None
    (error,) = body["errors"]
    assert f"more than {limit} tokens" in error["message"]


async def test_document_nested_beyond_the_parser_limit_is_refused_readably(
    live_server: LiveServer,
) -> None:
    levels = 1200
    query = "{" + "a{" * levels + "b" + "}" * levels + "}"
    body = await live_server.client().execute(query)
    assert body["data"] is None
    assert "nested too deeply" in body["errors"][0]["message"]


# ---------------------------------------------------------------- connection_init timeout


@pytest.fixture
async def short_init_wait(settings: Any) -> AsyncIterator[LiveServer]:
    from dataclasses import replace

    from tests.conftest import start_server, stop_server

    quick = replace(settings, ws_init_timeout=1.0)
    server, task, url = await start_server(quick)
    try:
        yield LiveServer(url=url, settings=quick, server=server)
    finally:
        await stop_server(server, task)


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_socket_that_never_sends_connection_init_is_closed_with_4408(
    short_init_wait: LiveServer, subprotocol: str
) -> None:
    async with connect(short_init_wait.ws_url, subprotocols=[subprotocol], open_timeout=10) as ws:
        messages, code = await _until_closed(ws, timeout=10)
        assert code == 4408
        assert messages == []


async def test_legacy_socket_that_sent_connection_init_outlives_the_init_wait(
    short_init_wait: LiveServer,
) -> None:
    async with connect(short_init_wait.ws_url, subprotocols=["graphql-ws"], open_timeout=10) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
            )
        )
        assert (await _recv(ws))["type"] == "connection_ack"
        # Past the 1 s wait (and then some), the socket is still open.
        _, code = await _until_closed(ws, timeout=2.5)
        assert code is None

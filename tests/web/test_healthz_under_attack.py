"""No request keeps the server from answering /healthz for more than a second (CONTRACT
§12): a real server process, hammered by each attack of the red-team findings at once
from several connections, keeps answering its health check."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.deploy.test_processes import TOKEN, ServerProcess, server_env

Attack = Callable[[ServerProcess], Awaitable[None]]
ATTACK_SECONDS = 3.0
CONCURRENCY = 3


async def _post(server: ServerProcess, body: bytes, token: str | None) -> dict:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post("/graphql", content=body, headers=headers)
    return response.json()


def _body(query: str, variables: dict | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


# Built once: the test's own process must not be the one that is slow.
MODEL_NAMES = _body(
    "mutation($input: PhoneProfileInput!) { phoneProfileCreate(input: $input) "
    "{ userErrors { code } } }",
    {
        "input": {
            "ownerId": "U2lwVXNlcjox",
            "name": "p",
            "cnfXml": "<device/>",
            "compatibleModels": [f"model-{i}" for i in range(50_000)],
        }
    },
)
NESTED_LISTS = _body(
    "{ sipUsers(first: 20) { nodes { domain { users(first: 20) { nodes { domain { "
    "users(first: 20) { nodes { domain { users(first: 20) { nodes { username } } } } } } } } } } } }"
)
SCHEMA_COPIES = _body(
    "{ "
    + " ".join(
        f"s{i}: __schema {{ types {{ name fields {{ name args {{ name }} type {{ name }} }} }} }}"
        for i in range(30)
    )
    + " }"
)
NODES_BY_REPEATED_IDS = _body(
    "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Company { phones(first: 500) "
    "{ nodes { mac name } } } } }",
    {"ids": ["Q29tcGFueTox"] * 100},
)
INTROSPECTION_ALIASES = _body(
    "{ __schema { "
    + " ".join(
        f"a{i}: types {{ name kind description fields(includeDeprecated: true) "
        "{ name args { name type { name kind ofType { name kind } } } } }"
        for i in range(28)
    )
    + " } }"
)
REPEATED_FIELDS = _body("{" + " viewer { role }" * 1240 + "}")
INTROSPECTION = _body(
    "{ __schema { types { name description fields { name description args { name } "
    "type { name kind ofType { name kind } } } } } }"
)
BIG_FRAME = json.dumps(
    {
        "type": "subscribe",
        "id": "1",
        "payload": {"query": "{ __typename }", "variables": {"p": "x" * 3_000_000}},
    }
)


async def model_names(server: ServerProcess) -> None:
    body = await _post(server, MODEL_NAMES, TOKEN)
    assert body["errors"][0]["extensions"]["code"] == "INPUT_TOO_LARGE"


async def nested_lists(server: ServerProcess) -> None:
    body = await _post(server, NESTED_LISTS, TOKEN)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"


async def schema_copies(server: ServerProcess) -> None:
    body = await _post(server, SCHEMA_COPIES, None)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def repeated_fields(server: ServerProcess) -> None:
    body = await _post(server, REPEATED_FIELDS, None)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def nodes_by_repeated_ids(server: ServerProcess) -> None:
    body = await _post(server, NODES_BY_REPEATED_IDS, TOKEN)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"


async def introspection_aliases(server: ServerProcess) -> None:
    body = await _post(server, INTROSPECTION_ALIASES, None)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def introspection(server: ServerProcess) -> None:
    body = await _post(server, INTROSPECTION, None)
    assert "errors" not in body


async def big_websocket_frame(server: ServerProcess) -> None:
    async with connect(
        server.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10, max_size=None
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {TOKEN}"}})
        )
        async with asyncio.timeout(10):
            assert json.loads(await ws.recv())["type"] == "connection_ack"
        try:
            await ws.send(BIG_FRAME)
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1009


ATTACKS: dict[str, Attack] = {
    "compatibleModels-50000": model_names,
    "websocket-3MB-frame": big_websocket_frame,
    "nested-lists-4-levels": nested_lists,
    "anonymous-30-schema-copies": schema_copies,
    "anonymous-1240-repeated-fields": repeated_fields,
    "anonymous-introspection": introspection,
    "nodes-100-repeated-ids": nodes_by_repeated_ids,
    "anonymous-28-aliased-introspection-types": introspection_aliases,
}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    env = server_env(tmp_path, f"sqlite://{tmp_path / 'phonegraph.sqlite3'}", None)
    process = ServerProcess(env, tmp_path / "server.log")
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def _health_latencies(server: ServerProcess, stop: asyncio.Event) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        while not stop.is_set():
            started = time.perf_counter()
            response = await http.get("/healthz")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            await asyncio.sleep(0.05)  # the pace of the probe, not a wait for anything
    return latencies


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_healthz_answers_within_a_second_while_an_attack_runs(
    server: ServerProcess, attack: str
) -> None:
    run = ATTACKS[attack]
    await run(server)  # once alone: the attack is refused (or answered) as expected
    stop = asyncio.Event()
    probe = asyncio.create_task(_health_latencies(server, stop))
    rounds = 0

    async def hammer() -> None:
        nonlocal rounds
        deadline = time.monotonic() + ATTACK_SECONDS
        while time.monotonic() < deadline:
            await run(server)
            rounds += 1

    try:
        await asyncio.gather(*(hammer() for _ in range(CONCURRENCY)))
    finally:
        stop.set()
        latencies = await probe
    assert rounds >= CONCURRENCY
    assert len(latencies) >= 5
    assert max(latencies) < 1.0, f"/healthz took {max(latencies):.2f} s during {attack}"

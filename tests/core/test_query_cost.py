"""The query node budget (CONTRACT §12): queries that could return more nodes than
PHONEGRAPH_MAX_QUERY_NODES are refused before they run, over HTTP and WebSocket."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from graphql import parse
from websockets.asyncio.client import connect

from app.core.cost import possible_nodes
from app.schema import schema
from app.settings import Settings
from tests.conftest import (
    ADMIN_TOKEN,
    GraphQLClient,
    LiveServer,
    QueryCounter,
    create_company,
    start_server,
    stop_server,
)


def _message(nodes: str, limit: str = "50,000") -> str:
    return (
        f"This query could return up to {nodes} nodes; the limit is {limit} "
        "(PHONEGRAPH_MAX_QUERY_NODES). Ask for fewer items with first/last."
    )


def _assert_refused(body: dict[str, Any], nodes: str, limit: str = "50,000") -> None:
    assert body.get("data") is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert error["message"] == _message(nodes, limit)


# ---------------------------------------------------------------- counting


def _count(
    query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None
) -> int:
    return possible_nodes(schema._schema, parse(query), variables, operation_name)


def _fragment_ladder(levels: int) -> str:
    """Fragments each spreading the one below twice: 2**levels spreads of L0."""
    parts = ["fragment L0 on Company { phones(first: 1) { nodes { mac } } }"]
    for i in range(1, levels + 1):
        parts.append(f"fragment L{i} on Company {{ ...L{i - 1} ... on Company {{ ...L{i - 1} }} }}")
    parts.append(f"{{ companies(first: 1) {{ nodes {{ ...L{levels} }} }} }}")
    return " ".join(parts)


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        pytest.param(
            "{ companies(first: 20) { nodes { phones(first: 10) { nodes { mac } } } } }",
            None,
            20 + 20 * 10,
            id="nested",
        ),
        pytest.param(
            "{ companies(first: 20) { totalCount pageInfo { hasNextPage } nodes { id } } }",
            None,
            20,
            id="one-connection",
        ),
        pytest.param(
            "{ companies { nodes { phones { nodes { mac } } } } }",
            None,
            50 + 50 * 50,
            id="default-page-size",
        ),
        pytest.param(
            "{ companies(last: 4) { edges { node { sipDomains(first: 5) { nodes { name } } } } } }",
            None,
            4 + 4 * 5,
            id="last-and-edges",
        ),
        pytest.param(
            "{ companies(first: 2) { nodes { a: phones(first: 3) { nodes { mac } }"
            " b: sipDomains(first: 4) { nodes { users(first: 5) { nodes { username } } } } } } }",
            None,
            2 + 2 * 3 + 2 * 4 + 2 * 4 * 5,
            id="siblings-add-up",
        ),
        pytest.param(
            "{ phones(first: 10) { nodes { lines { authName } deployJobs(first: 2) {"
            " nodes { events { message } } } } } }",
            None,
            10 + 10 * 2,
            id="plain-lists-count-as-one",
        ),
        pytest.param(
            "query($n: Int!, $m: Int) { companies(first: $n) { nodes {"
            " phones(first: $m) { nodes { mac } } } } }",
            {"n": 3, "m": 7},
            3 + 3 * 7,
            id="variables",
        ),
        pytest.param(
            "query($n: Int!, $m: Int) { companies(first: $n) { nodes {"
            " phones(first: $m) { nodes { mac } } } } }",
            {"n": 3},
            3 + 3 * 50,
            id="variable-not-given",
        ),
        pytest.param(
            "query($n: Int = 4) { companies(first: $n) { nodes { id } } }",
            None,
            4,
            id="variable-default",
        ),
        pytest.param(
            "query($n: Int = 4) { companies(first: $n) { nodes { id } } }",
            {"n": None},
            50,
            id="variable-null",
        ),
        pytest.param(
            "fragment P on Company { phones(first: 10) { nodes { mac } } }"
            " { companies(first: 20) { nodes { ...P } } }",
            None,
            20 + 20 * 10,
            id="named-fragment",
        ),
        pytest.param(
            "fragment P on Company { phones(first: 10) { nodes { mac } } }"
            " fragment C on CompanyConnection { nodes { ...P } }"
            " { companies(first: 20) { ...C } }",
            None,
            20 + 20 * 10,
            id="fragment-on-the-connection",
        ),
        pytest.param(
            '{ node(id: "x") { ... on Company { phones(first: 10) { nodes { mac } } } } }',
            None,
            10,
            id="inline-fragment",
        ),
        pytest.param(
            "fragment A on Company { phones(first: 3) { nodes { mac } } ...B }"
            " fragment B on Company { ...A }"
            " { companies(first: 2) { nodes { ...A } } }",
            None,
            2 + 2 * 3,
            id="fragment-cycle",
        ),
        pytest.param(_fragment_ladder(40), None, 1 + 2**40, id="fragment-ladder"),
        pytest.param(
            "query($big: Boolean!) { companies(first: 2) { nodes {"
            " phones(first: 500) @include(if: $big) { nodes { mac } } } } }",
            {"big": False},
            2,
            id="include-false",
        ),
        pytest.param(
            "query($big: Boolean!) { companies(first: 2) { nodes {"
            " phones(first: 500) @skip(if: $big) { nodes { mac } } } } }",
            {"big": False},
            2 + 2 * 500,
            id="skip-false",
        ),
        pytest.param(
            "{ companies(first: 1000) { nodes { id } } }", None, 500, id="capped-at-max-page-size"
        ),
        pytest.param(
            "{ __schema { types { name fields { name type { name } } } }"
            ' __type(name: "Phone") { name } }',
            None,
            0,
            id="introspection",
        ),
        pytest.param(
            'mutation { companyCreate(input: {name: "x"}) { company {'
            " sipDomains(first: 500) { nodes { users(first: 500) { nodes { id } } } } } } }",
            None,
            500 + 500 * 500,
            id="mutation",
        ),
        pytest.param(
            "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Company {"
            " phones(first: 500) { nodes { mac } } } } }",
            {"ids": ["Q29tcGFueTox"] * 100},
            100 + 100 * 500,
            id="nodes-as-many-as-their-ids",
        ),
        pytest.param(
            '{ nodes(ids: ["a", "b", "c"]) { ... on Company { phones(first: 10) { nodes { mac } } } } }',
            None,
            3 + 3 * 10,
            id="nodes-literal-ids",
        ),
        pytest.param(
            "subscription { phoneEvents { job { phone { deployJobs(first: 20) { nodes {"
            " phone { deployJobs(first: 30) { nodes { id } } } } } } } } }",
            None,
            20 + 20 * 30,
            id="subscription",
        ),
    ],
)
def test_possible_nodes(query: str, variables: dict[str, Any] | None, expected: int) -> None:
    assert _count(query, variables) == expected


def test_only_the_operation_executed_is_counted() -> None:
    document = (
        "query Small { companies(first: 1) { nodes { id } } }"
        " query Big { companies(first: 500) { nodes { phones(first: 500) { nodes { mac } } } } }"
    )
    assert _count(document, operation_name="Small") == 1
    assert _count(document, operation_name="Big") == 500 + 500 * 500


# ---------------------------------------------------------------- over HTTP

NESTED = """
query($outer: Int, $inner: Int) {
  companies(first: $outer) { nodes { name phones(first: $inner) { nodes { mac } } } }
}
"""


async def test_nested_query_over_the_limit_is_refused(admin: GraphQLClient) -> None:
    body = await admin.execute(NESTED, {"outer": 500, "inner": 500})
    _assert_refused(body, "250,500")


async def test_refusal_is_a_request_error(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        response = await client.post(
            "/graphql",
            json={"query": NESTED, "variables": {"outer": 500, "inner": 500}},
            headers={
                "accept": "application/graphql-response+json",
                "authorization": f"Bearer {ADMIN_TOKEN}",
            },
        )
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    _assert_refused(body, "250,500")


async def test_same_shape_under_the_limit_runs(admin: GraphQLClient) -> None:
    await create_company(admin, "Acme")
    data = await admin.data(NESTED, {"outer": 100, "inner": 100})  # 10,100 nodes
    assert data == {"companies": {"nodes": [{"name": "Acme", "phones": {"nodes": []}}]}}


async def test_variables_for_first_are_honoured(admin: GraphQLClient) -> None:
    _assert_refused(await admin.execute(NESTED, {"outer": 100, "inner": 501}), "50,100")
    _assert_refused(await admin.execute(NESTED, {"outer": 200, "inner": 250}), "50,200")
    assert await admin.data(NESTED, {"outer": 199, "inner": 250})  # 49,949 nodes


async def test_a_document_validated_once_is_still_counted_with_every_request_s_variables(
    admin: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Valid documents are not validated again (frontends send the same few all day), but
    the budget depends on the variables and is counted every time; an invalid document
    is never remembered."""
    import app.core.cost as cost

    calls: list[object] = []
    real = cost.validate_document

    def validate(*args: object) -> object:
        calls.append(args[1])
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(cost, "validate_document", validate)
    document = f"{NESTED} # {uuid.uuid4()}"  # a text no earlier test (or process) sent
    assert await admin.data(document, {"outer": 10, "inner": 10})
    assert await admin.data(document, {"outer": 20, "inner": 10})
    _assert_refused(await admin.execute(document, {"outer": 200, "inner": 251}), "50,400")
    assert len(calls) == 1
    invalid = f"{{ companies(first: 1) {{ nodes {{ noSuchField }} }} }} # {uuid.uuid4()}"
    for _ in range(2):
        (error,) = (await admin.execute(invalid))["errors"]
        assert "noSuchField" in error["message"]
    assert len(calls) == 3


async def test_named_and_inline_fragments_are_counted(admin: GraphQLClient) -> None:
    named = (
        "fragment Phones on Company { phones(first: 500) { nodes { mac } } }"
        " { companies(first: 100) { nodes { ...Phones } } }"
    )
    _assert_refused(await admin.execute(named), "50,100")
    inline = (
        "{ companies(first: 100) { nodes { ... on Company {"
        " phones(first: 500) { nodes { mac } } } } } }"
    )
    _assert_refused(await admin.execute(inline), "50,100")


async def test_connections_without_first_count_at_the_default_page_size(
    admin: GraphQLClient,
) -> None:
    query = "{ companies { nodes { sipDomains { nodes { users { nodes { username } } } } } } }"
    _assert_refused(await admin.execute(query), "127,550")  # 50 + 50² + 50³
    assert await admin.data("{ companies { nodes { sipDomains { nodes { name } } } } }")


async def test_nothing_runs_when_refused(admin: GraphQLClient, count_queries: QueryCounter) -> None:
    await admin.data("{ __typename }")  # the token's first use is written down
    count_queries.statements.clear()
    await admin.data("{ __typename }")
    authentication_only = count_queries.count

    count_queries.statements.clear()
    body = await admin.execute(
        'mutation { companyCreate(input: {name: "Never"}) { company {'
        " sipDomains(first: 500) { nodes { users(first: 500) { nodes { id } } } } } } }"
    )
    _assert_refused(body, "250,500")
    assert count_queries.count == authentication_only
    data = await admin.data("{ companies { nodes { name } } }")
    assert data == {"companies": {"nodes": []}}


async def test_introspection_stays_allowed(live_server: LiveServer) -> None:
    query = "{ __schema { types { name fields { name args { name } } } } }"
    body = await live_server.client(None).execute(query)
    assert "errors" not in body
    assert body["data"]["__schema"]["types"]


# ---------------------------------------------------------------- a custom limit


@pytest.fixture
async def small_budget(settings: Settings) -> AsyncIterator[LiveServer]:
    """The server with PHONEGRAPH_MAX_QUERY_NODES=100."""
    small = replace(settings, max_query_nodes=100)
    server, task, url = await start_server(small)
    try:
        yield LiveServer(url=url, settings=small, server=server)
    finally:
        await stop_server(server, task)


async def test_custom_limit_from_settings(small_budget: LiveServer) -> None:
    client = small_budget.client()
    query = "query($n: Int) { companies(first: $n) { nodes { id } } }"
    assert await client.data(query, {"n": 100})  # the limit itself is allowed
    _assert_refused(await client.execute(query, {"n": 101}), "101", "100")
    _assert_refused(
        await client.execute("{ companies(first: 10) { nodes { phones { nodes { mac } } } } }"),
        "510",
        "100",
    )


# ---------------------------------------------------------------- over WebSocket

BIG_SUBSCRIPTION = (
    "subscription { phoneEvents { job { phone { deployJobs(first: 500) { nodes {"
    " phone { deployJobs(first: 500) { nodes { id } } } } } } } } }"
)


async def _recv(ws: Any) -> dict[str, Any]:
    import asyncio

    async with asyncio.timeout(10):
        return json.loads(await ws.recv())


async def test_subscription_over_the_limit_is_refused(live_server: LiveServer) -> None:
    async with connect(live_server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
            )
        )
        assert (await _recv(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps({"type": "subscribe", "id": "1", "payload": {"query": BIG_SUBSCRIPTION}})
        )
        message = await _recv(ws)
        assert message["type"] == "error"
        assert message["id"] == "1"
        _assert_refused({"errors": message["payload"]}, "250,500")

        # The connection stays usable, and small operations run.
        small = "{ companies(first: 1) { totalCount } }"
        await ws.send(json.dumps({"type": "subscribe", "id": "2", "payload": {"query": small}}))
        assert await _recv(ws) == {
            "type": "next",
            "id": "2",
            "payload": {"data": {"companies": {"totalCount": 0}}},
        }
        assert (await _recv(ws))["type"] == "complete"


async def test_subscription_over_the_limit_is_refused_on_the_legacy_protocol(
    live_server: LiveServer,
) -> None:
    async with connect(live_server.ws_url, subprotocols=["graphql-ws"]) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
            )
        )
        assert (await _recv(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps({"type": "start", "id": "1", "payload": {"query": BIG_SUBSCRIPTION}})
        )
        message = await _recv(ws)
        while message["type"] == "ka":
            message = await _recv(ws)
        assert message["type"] == "error"
        assert message["id"] == "1"
        _assert_refused({"errors": [message["payload"]]}, "250,500")

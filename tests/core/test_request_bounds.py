"""Bounded work per request (CONTRACT §12): every list input is capped before any
per-item work, variables and WebSocket messages are bounded like HTTP bodies, and
documents that would make validation or introspection costly are refused before
validation, with or without a token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
    get_nullable_type,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.schema import schema
from tests.conftest import ADMIN_TOKEN, GraphQLClient, LiveServer, QueryCounter

SCALAR_SAMPLES: dict[str, Any] = {
    "ID": "U2lwVXNlcjox",
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": True,
    "MacAddress": "AABBCCDDEE01",
    "DateTime": "2030-01-01T00:00:00+00:00",
}

# ---------------------------------------------------------------- every list input


def _sample(type_: GraphQLInputType, seen: tuple[str, ...] = ()) -> Any:
    """A small value of ``type_`` (required fields only, one item per list)."""
    type_ = get_nullable_type(type_)
    if isinstance(type_, GraphQLList):
        return [_sample(type_.of_type, seen)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLScalarType):
        return SCALAR_SAMPLES.get(type_.name, "x")
    assert isinstance(type_, GraphQLInputObjectType)
    return {
        name: _sample(field.type, (*seen, type_.name))
        for name, field in type_.fields.items()
        if isinstance(field.type, GraphQLNonNull) and field.default_value is None
    }


def _list_positions(
    type_: GraphQLInputType, path: tuple[str, ...] = (), seen: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], GraphQLList]]:
    """Every place a list sits in a value of ``type_`` (path of input field names)."""
    type_ = get_nullable_type(type_)
    if isinstance(type_, GraphQLList):
        yield path, type_
        yield from _list_positions(type_.of_type, (*path, "[0]"), seen)
    elif isinstance(type_, GraphQLInputObjectType) and type_.name not in seen:
        for name, field in type_.fields.items():
            yield from _list_positions(field.type, (*path, name), (*seen, type_.name))


def _with(value: Any, path: tuple[str, ...], replacement: Any) -> Any:
    """``value`` with the list at ``path`` (built if absent) set to ``replacement``."""
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    if head == "[0]":
        return [_with(value[0], rest, replacement)]
    value = dict(value)
    value[head] = _with(value.get(head, {}), rest, replacement)
    return value


def list_inputs() -> list[Any]:
    """(operation, root field, argument, path) for every list input the schema takes,
    wherever it is: found by walking the live schema, so a new list input is covered
    the day it is added."""
    gql = schema._schema
    found = []
    for type_ in gql.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for field_name, field in type_.fields.items():
            for arg_name, arg in field.args.items():
                for path, list_type in _list_positions(arg.type):
                    found.append((type_.name, field_name, arg_name, path, list_type))
    return found


def _operation(
    root: str, field_name: str, target: str, path: tuple[str, ...], items: int
) -> tuple[str, dict[str, Any]]:
    gql = schema._schema
    kind = {"Query": "query", "Mutation": "mutation", "Subscription": "subscription"}[root]
    field = gql.get_type(root).fields[field_name]  # type: ignore[union-attr]
    definitions, arguments, variables = [], [], {}
    for name, arg in field.args.items():
        if name != target and not (
            isinstance(arg.type, GraphQLNonNull) and arg.default_value is None
        ):
            continue
        value = _sample(arg.type)
        if name == target:
            _, list_type = next((p, t) for p, t in _list_positions(arg.type) if p == path)
            value = _with(value, path, [_sample(list_type.of_type)] * items)
        definitions.append(f"${name}: {arg.type}")
        arguments.append(f"{name}: ${name}")
        variables[name] = value
    returned = get_named_type(field.type)
    selection = (
        "" if isinstance(returned, (GraphQLScalarType, GraphQLEnumType)) else "{ __typename }"
    )
    query = (
        f"{kind}({', '.join(definitions)}) {{ {field_name}({', '.join(arguments)}) {selection} }}"
    )
    return query, variables


LIST_INPUTS = list_inputs()


def test_the_walk_finds_the_known_list_inputs() -> None:
    names = {
        f"{root}.{field}({arg}{''.join('.' + p for p in path)})"
        for root, field, arg, path, _ in LIST_INPUTS
    }
    for known in (
        "Query.nodes(ids)",
        "Mutation.sipGroupMembersAdd(userIds)",
        "Mutation.dectBaseMembersSet(members)",
        "Mutation.phoneProfileCreate(input.compatibleModels)",
        "Mutation.phoneProfileUpdate(input.compatibleModels)",
        "Mutation.phoneCreate(input.codecs)",
        "Mutation.dectBaseUpdate(input.codecs)",
    ):
        assert known in names
    # Every one is an argument of a root field: reachable by one request each.
    assert {root for root, *_ in LIST_INPUTS} <= {"Query", "Mutation", "Subscription"}


@pytest.mark.parametrize(
    ("root", "field", "arg", "path"),
    [
        pytest.param(*entry[:4], id=f"{entry[1]}.{entry[2]}{''.join('.' + p for p in entry[3])}")
        for entry in LIST_INPUTS
    ],
)
async def test_every_list_input_is_capped_before_any_work(
    live_server: LiveServer,
    admin: GraphQLClient,
    count_queries: QueryCounter,
    root: str,
    field: str,
    arg: str,
    path: tuple[str, ...],
) -> None:
    limit = live_server.settings.max_list_items
    query, variables = _operation(root, field, arg, path, limit + 1)
    count_queries.statements.clear()
    body = await admin.execute(query, variables)
    assert body.get("data") is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INPUT_TOO_LARGE", error
    assert f"at most {limit:,} are accepted" in error["message"]
    # Nothing ran but the token's own lookup.
    assert all("api_token" in s for s in count_queries.statements), count_queries.statements


async def test_a_list_written_in_the_document_is_capped_too(
    live_server: LiveServer, admin: GraphQLClient
) -> None:
    limit = live_server.settings.max_list_items
    ids = ", ".join(f'"x{i}"' for i in range(limit + 1))
    body = await admin.execute(f"{{ nodes(ids: [{ids}]) {{ id }} }}")
    assert body["errors"][0]["extensions"]["code"] == "INPUT_TOO_LARGE"


async def test_variables_are_counted_like_the_documents_tokens(
    live_server: LiveServer, admin: GraphQLClient
) -> None:
    limit = live_server.settings.max_tokens
    per_list = live_server.settings.max_list_items
    # Lists within their cap, but more values in all than a document may have tokens.
    names = [f"v{i}" for i in range(limit // per_list + 1)]
    definitions = ", ".join(f"${n}: [String!]" for n in names)
    uses = " ".join(f"{n}: __type(name: ${n}) {{ name }}" for n in names)
    body = await admin.execute(
        f"query({definitions}) {{ {uses} }}", {n: ["x"] * per_list for n in names}
    )
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INPUT_TOO_LARGE"
    assert error["message"] == f"The variables hold more than {limit:,} values."


# ---------------------------------------------------------------- the compatibleModels attack

CREATE_PROFILE = """
mutation($input: PhoneProfileInput!) { phoneProfileCreate(input: $input) {
  phoneProfile { compatibleModels } userErrors { field code message } } }
"""
CNF_XML = "<device><deviceProtocol>SIP</deviceProtocol></device>"


@pytest.fixture
async def profile_owner(admin: GraphQLClient) -> str:
    from tests.conftest import create_company

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
    return user["sipUser"]["id"]


async def test_fifty_thousand_model_names_are_refused_before_any_work(
    admin: GraphQLClient, profile_owner: str, count_queries: QueryCounter
) -> None:
    names = [f"model-{i}" for i in range(50_000)]
    count_queries.statements.clear()
    body = await admin.execute(
        CREATE_PROFILE,
        {
            "input": {
                "ownerId": profile_owner,
                "name": "p",
                "cnfXml": CNF_XML,
                "compatibleModels": names,
            }
        },
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "INPUT_TOO_LARGE"
    assert all("api_token" in s for s in count_queries.statements)


async def test_model_names_over_their_own_limit_are_a_user_error(
    admin: GraphQLClient, profile_owner: str
) -> None:
    body = await admin.data(
        CREATE_PROFILE,
        {
            "input": {
                "ownerId": profile_owner,
                "name": "p",
                "cnfXml": CNF_XML,
                "compatibleModels": [f"m{i}" for i in range(101)],
            }
        },
    )
    assert body["phoneProfileCreate"]["userErrors"] == [
        {
            "field": ["input", "compatibleModels"],
            "code": "INVALID",
            "message": "at most 100 model names",
        }
    ]
    payload = await admin.mutate(
        CREATE_PROFILE,
        {
            "input": {
                "ownerId": profile_owner,
                "name": "p",
                "cnfXml": CNF_XML,
                "compatibleModels": ["8845", " 7841 ", "8845", "7841"] * 25,
            }
        },
    )
    assert payload["phoneProfile"]["compatibleModels"] == ["8845", "7841"]


# ---------------------------------------------------------------- WebSocket messages


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_websocket_message_over_the_body_limit_closes_the_socket(
    live_server: LiveServer, protocol: str
) -> None:
    limit = live_server.settings.max_body_bytes
    async with connect(
        live_server.ws_url, subprotocols=[protocol], open_timeout=10, max_size=None
    ) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
            )
        )
        async with asyncio.timeout(10):
            assert json.loads(await ws.recv())["type"] == "connection_ack"
        padding = "x" * (3 * limit)
        kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
        await ws.send(
            json.dumps(
                {
                    "type": kind,
                    "id": "1",
                    "payload": {"query": "{ __typename }", "variables": {"p": padding}},
                }
            )
        )
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def test_a_websocket_message_within_the_limit_is_answered(live_server: LiveServer) -> None:
    async with connect(
        live_server.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10
    ) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
            )
        )
        async with asyncio.timeout(10):
            assert json.loads(await ws.recv())["type"] == "connection_ack"
        padding = "x" * (live_server.settings.max_body_bytes // 2)
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "id": "1",
                    "payload": {
                        "query": "query($p: String!) { viewer { role } t: __type(name: $p) { name } }",
                        "variables": {"p": padding},
                    },
                }
            )
        )
        async with asyncio.timeout(10):
            message = json.loads(await ws.recv())
    assert message["payload"] == {"data": {"viewer": {"role": "SYSTEM_ADMIN"}, "t": None}}


async def test_a_get_request_with_an_oversized_query_string_is_refused(
    live_server: LiveServer,
) -> None:
    from urllib.parse import quote, urlsplit

    limit = live_server.settings.max_body_bytes
    variables = quote(json.dumps({"p": "x" * (limit + 10)}))
    target = f"/graphql?query=%7B__typename%7D&variables={variables}"
    url = urlsplit(live_server.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: {url.netloc}\r\nAccept: application/json\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
    except ConnectionResetError:
        answer = b""  # refused by closing: nothing was run either
    finally:
        writer.close()
    status_line = answer.split(b"\r\n", 1)[0]
    assert not status_line.startswith(b"HTTP/1.1 200"), status_line
    assert b"Traceback" not in answer


# ---------------------------------------------------------------- costly documents


def _schema_copies(count: int) -> str:
    return (
        "{ "
        + " ".join(f"s{i}: __schema {{ types {{ name fields {{ name }} }} }}" for i in range(count))
        + " }"
    )


@pytest.mark.parametrize("token", [None, ADMIN_TOKEN], ids=["anonymous", "admin"])
async def test_thirty_copies_of_the_schema_are_refused(
    live_server: LiveServer, token: str | None
) -> None:
    body = await live_server.client(token).execute(_schema_copies(30))
    assert body.get("data") is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["message"] == "30 copies of __schema; ask for the schema once per operation."


async def test_one_copy_of_the_schema_is_answered_without_a_token(live_server: LiveServer) -> None:
    body = await live_server.client(None).execute(_schema_copies(1))
    assert "errors" not in body
    assert any(t["name"] == "Query" for t in body["data"]["s0"]["types"])


@pytest.mark.parametrize("token", [None, ADMIN_TOKEN], ids=["anonymous", "admin"])
@pytest.mark.parametrize(
    "query",
    [
        "{" + " __typename" * 1240 + "}",
        "{" + " viewer { role }" * 1240 + "}",
        "fragment F on Query {" + " viewer { role }" * 1200 + "} { __typename }",
        "{" + (" viewer {" + " company { name }" * 20 + " }") * 20 + "}",
    ],
    ids=["typename", "fields", "unused-fragment", "nested"],
)
async def test_repeated_fields_are_refused_before_validation(
    live_server: LiveServer, token: str | None, query: str
) -> None:
    body = await live_server.client(token).execute(query)
    assert body.get("data") is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_a_field_asked_a_few_times_through_fragments_is_answered(
    admin: GraphQLClient,
) -> None:
    fragments = " ".join(f"fragment F{i} on Viewer {{ role tokenName }}" for i in range(20))
    spreads = " ".join(f"...F{i}" for i in range(20))
    data = await admin.data(f"{fragments} {{ viewer {{ {spreads} }} }}")
    assert data == {"viewer": {"role": "SYSTEM_ADMIN", "tokenName": "bootstrap"}}


# ---------------------------------------------------------------- nested lists (finding 3)

NESTED_USERS = (
    "{ sipUsers(first: 20) { nodes { domain { users(first: 20) { nodes { domain { "
    "users(first: 20) { nodes { domain { users(first: 20) { nodes { username } } } } } } } } } } } }"
)


async def test_nested_lists_four_levels_deep_are_refused_before_they_run(
    admin: GraphQLClient, count_queries: QueryCounter
) -> None:
    count_queries.statements.clear()
    body = await admin.execute(NESTED_USERS)
    assert body.get("data") is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert "168,420 nodes" in error["message"]
    assert all("api_token" in s for s in count_queries.statements)


@pytest.mark.parametrize("token", [None, ADMIN_TOKEN], ids=["anonymous", "admin"])
async def test_the_full_introspection_query_of_graphql_tools_is_answered(
    live_server: LiveServer, token: str | None
) -> None:
    from graphql import get_introspection_query

    # What GraphiQL and code generators send: every option on.
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    body = await live_server.client(token).execute(query)
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_the_bounds_hold_over_websocket_too(live_server: LiveServer, protocol: str) -> None:
    async with connect(live_server.ws_url, subprotocols=[protocol], open_timeout=10) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
            )
        )
        async with asyncio.timeout(10):
            assert json.loads(await ws.recv())["type"] == "connection_ack"
        kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
        codes = []
        for op_id, payload in (
            ("1", {"query": "subscription { phoneEvents {" + " __typename" * 1240 + " } }"}),
            (
                "2",
                {
                    "query": "subscription($ids: [ID!]) { phoneEvents { __typename } }",
                    "variables": {"ids": ["x"] * (live_server.settings.max_list_items + 1)},
                },
            ),
        ):
            await ws.send(json.dumps({"type": kind, "id": op_id, "payload": payload}))
            async with asyncio.timeout(10):
                message = json.loads(await ws.recv())
            assert message["type"] == "error", message
            errors = message["payload"]
            codes.append((errors[0] if isinstance(errors, list) else errors)["extensions"]["code"])
    assert codes == ["QUERY_TOO_COMPLEX", "INPUT_TOO_LARGE"]

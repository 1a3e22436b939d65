"""GraphQL over HTTP: the graphql-http audit suite (npm `graphql-http`, `serverAudits`)
finds nothing to warn about, and the rules it checks hold when asked directly."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.web.conftest import json_lines, require_node_package, run_node

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


async def test_graphql_http_audit_reports_no_error_and_no_warning(
    live_server: LiveServer,
) -> None:
    require_node_package("graphql-http")
    results = json_lines(await run_node("graphql_http_audit.mjs", f"{live_server.url}/graphql"))
    assert len(results) > 40, "the audit suite did not run"
    problems = [r for r in results if r["status"] in ("error", "warn")]
    assert problems == [], "\n".join(
        f"{r['status']}: {r['name']} -- {r.get('reason')} "
        f"(HTTP {r.get('httpStatus')}, {r.get('contentType')})"
        for r in problems
    )


async def _post(
    live_server: LiveServer, body: dict | str, accept: str, token: str | None = None
) -> httpx.Response:
    headers = {"content-type": "application/json", "accept": accept}
    if token:
        headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        if isinstance(body, str):
            return await client.post("/graphql", content=body, headers=headers)
        return await client.post("/graphql", json=body, headers=headers)


async def test_graphql_response_json_is_answered_in_kind(live_server: LiveServer) -> None:
    response = await _post(
        live_server,
        {"query": "{ viewer { role } }"},
        f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9",
        ADMIN_TOKEN,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert response.json() == {"data": {"viewer": {"role": "SYSTEM_ADMIN"}}}


async def test_invalid_document_is_400_without_data_for_graphql_response_json(
    live_server: LiveServer,
) -> None:
    response = await _post(
        live_server, {"query": "{ noSuchField }"}, GRAPHQL_RESPONSE_JSON, ADMIN_TOKEN
    )
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert "noSuchField" in body["errors"][0]["message"]


async def test_invalid_document_is_200_for_application_json(live_server: LiveServer) -> None:
    response = await _post(live_server, {"query": "{ noSuchField"}, "application/json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["message"].startswith("Syntax Error")


async def test_bad_variables_are_400_for_graphql_response_json(live_server: LiveServer) -> None:
    response = await _post(
        live_server,
        {"query": "query Q($name: String!) { __type(name: $name) { name } }", "variables": {}},
        GRAPHQL_RESPONSE_JSON,
    )
    assert response.status_code == 400
    assert "$name" in response.json()["errors"][0]["message"]


async def test_field_errors_keep_status_200_for_graphql_response_json(
    live_server: LiveServer,
) -> None:
    # Executed, but refused: data is present (null), so the status stays 2xx.
    ids = ", ".join(f'"id{i}"' for i in range(101))
    response = await _post(
        live_server,
        {"query": f"{{ nodes(ids: [{ids}]) {{ id }} }}"},
        GRAPHQL_RESPONSE_JSON,
        ADMIN_TOKEN,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == "At most 100 ids at once."


async def test_unauthenticated_is_refused_before_validation(live_server: LiveServer) -> None:
    # Without a token, nothing is checked: an invalid document gets the same refusal,
    # a request error (no data; 400 under application/graphql-response+json).
    for query in ("{ viewer { role } }", "{ noSuchField }"):
        response = await _post(live_server, {"query": query}, GRAPHQL_RESPONSE_JSON)
        assert response.status_code == 400
        body = response.json()
        assert "data" not in body
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_mutation_over_get_is_405_and_points_to_post(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        response = await client.get(
            "/graphql",
            params={"query": 'mutation { companyCreate(input: {name: "x"}) { company { id } } }'},
            headers={"accept": "application/json", "authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in response.json()["errors"][0]["message"]


async def test_query_over_get_works(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        response = await client.get(
            "/graphql",
            params={"query": "{ viewer { tokenName } }"},
            headers={"accept": "application/json", "authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"tokenName": "bootstrap"}}}


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("text/plain", 415), ("application/x-www-form-urlencoded", 415)],
)
async def test_post_must_be_json(live_server: LiveServer, content_type: str, status: int) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        response = await client.post(
            "/graphql",
            content=b'{"query": "{ __typename }"}',
            headers={"content-type": content_type},
        )
    assert response.status_code == status
    assert response.json()["errors"][0]["message"]


async def test_unacceptable_accept_header_is_406(live_server: LiveServer) -> None:
    response = await _post(live_server, {"query": "{ __typename }"}, "text/csv")
    assert response.status_code == 406
    assert GRAPHQL_RESPONSE_JSON in response.json()["errors"][0]["message"]


async def test_malformed_json_body_is_400(live_server: LiveServer) -> None:
    response = await _post(live_server, '{"query": ', GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert "JSON" in response.json()["errors"][0]["message"]


async def test_subscription_over_http_points_to_websocket(live_server: LiveServer) -> None:
    response = await _post(
        live_server,
        {"query": "subscription { phoneEvents { __typename } }"},
        "application/json",
        ADMIN_TOKEN,
    )
    assert response.status_code == 400
    assert "WebSocket" in response.json()["errors"][0]["message"]


async def test_accept_header_picks_the_response_type(live_server: LiveServer) -> None:
    cases = {
        "": "application/json",
        "*/*": "application/json",
        "application/*": "application/json",
        "application/json": "application/json",
        GRAPHQL_RESPONSE_JSON: GRAPHQL_RESPONSE_JSON,
        f"{GRAPHQL_RESPONSE_JSON}, application/json": GRAPHQL_RESPONSE_JSON,
        f"application/json, {GRAPHQL_RESPONSE_JSON}": GRAPHQL_RESPONSE_JSON,
        f"{GRAPHQL_RESPONSE_JSON};q=0.5, application/json": "application/json",
        f"text/html, {GRAPHQL_RESPONSE_JSON};q=0.9, */*;q=0.8": GRAPHQL_RESPONSE_JSON,
    }
    for accept, expected in cases.items():
        response = await _post(live_server, {"query": "{ __typename }"}, accept)
        assert response.status_code == 200, accept
        assert response.headers["content-type"] == f"{expected}; charset=utf-8", accept
        assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_batched_body_is_told_to_send_one_operation_per_request(
    live_server: LiveServer,
) -> None:
    body = '[{"query": "{ __typename }"}, {"query": "{ __typename }"}]'
    response = await _post(live_server, body, "application/json", ADMIN_TOKEN)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["message"].startswith("Send one operation per request")
    assert "Batching is not enabled" not in error["message"]

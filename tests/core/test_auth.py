"""Token authentication over HTTP, roles, revocation."""

from __future__ import annotations

import pytest

from tests.conftest import (
    ADMIN_TOKEN,
    CREATE_TOKEN,
    GraphQLClient,
    LiveServer,
    create_company,
    create_token,
)


async def test_operation_without_token_is_unauthenticated(anonymous: GraphQLClient) -> None:
    body = await anonymous.execute("{ viewer { role } }")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_mutation_without_token_is_unauthenticated(anonymous: GraphQLClient) -> None:
    body = await anonymous.execute(
        'mutation { companyCreate(input: {name: "x"}) { company { id } } }'
    )
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_introspection_works_without_token(anonymous: GraphQLClient) -> None:
    body = await anonymous.execute("{ __schema { queryType { name } } __typename }")
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_unknown_token_is_unauthenticated(live_server: LiveServer) -> None:
    body = await live_server.client("pgt_not-a-real-token").execute("{ viewer { role } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_bootstrap_token_is_system_admin(admin: GraphQLClient) -> None:
    data = await admin.data("{ viewer { role tokenName company { id } } }")
    assert data["viewer"] == {"role": "SYSTEM_ADMIN", "tokenName": "bootstrap", "company": None}


async def test_token_secret_is_shown_once_and_works(
    admin: GraphQLClient, live_server: LiveServer
) -> None:
    company_id = await create_company(admin, "Acme")
    secret = await create_token(admin, "COMPANY_ADMIN", company_id=company_id, name="acme-admin")
    assert secret.startswith("pgt_") and len(secret) > 30
    data = await live_server.client(secret).data(
        "{ viewer { role tokenName company { id name } } }"
    )
    assert data["viewer"] == {
        "role": "COMPANY_ADMIN",
        "tokenName": "acme-admin",
        "company": {"id": company_id, "name": "Acme"},
    }


async def test_token_secret_is_stored_only_as_hash(admin: GraphQLClient) -> None:
    from app.core.models import ApiToken

    company_id = await create_company(admin, "Acme")
    secret = await create_token(admin, "COMPANY_ADMIN", company_id=company_id)
    rows = await ApiToken.all().values_list("secret_hash", flat=True)
    assert secret not in rows and ADMIN_TOKEN not in rows
    assert all(len(h) == 64 for h in rows)


async def test_revoked_token_stops_working(admin: GraphQLClient, live_server: LiveServer) -> None:
    company_id = await create_company(admin, "Acme")
    payload = await admin.mutate(
        """mutation($input: ApiTokenInput!) { apiTokenCreate(input: $input) {
           token apiToken { id } userErrors { code } } }""",
        {"input": {"name": "t", "role": "COMPANY_ADMIN", "companyId": company_id}},
    )
    client = live_server.client(payload["token"])
    assert (await client.data("{ viewer { role } }"))["viewer"]["role"] == "COMPANY_ADMIN"
    revoked = await admin.mutate(
        "mutation($id: ID!) { apiTokenRevoke(id: $id) { deletedId userErrors { code } } }",
        {"id": payload["apiToken"]["id"]},
    )
    assert revoked["deletedId"] == payload["apiToken"]["id"]
    body = await client.execute("{ viewer { role } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_last_used_at_is_recorded(admin: GraphQLClient, live_server: LiveServer) -> None:
    company_id = await create_company(admin, "Acme")
    payload = await admin.mutate(
        """mutation($input: ApiTokenInput!) { apiTokenCreate(input: $input) {
           token apiToken { id lastUsedAt } userErrors { code } } }""",
        {"input": {"name": "t", "role": "COMPANY_ADMIN", "companyId": company_id}},
    )
    assert payload["apiToken"]["lastUsedAt"] is None
    await live_server.client(payload["token"]).data("{ viewer { role } }")
    data = await admin.data(
        "query($id: ID!) { node(id: $id) { ... on ApiToken { lastUsedAt } } }",
        {"id": payload["apiToken"]["id"]},
    )
    assert data["node"]["lastUsedAt"] is not None


async def test_company_admin_cannot_mint_system_admin_tokens(tenant_factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await tenant_factory("Acme")
    body = await tenant.client.data(
        """mutation { apiTokenCreate(input: {name: "x", role: SYSTEM_ADMIN}) {
           token userErrors { field code } } }"""
    )
    assert body["apiTokenCreate"]["token"] is None
    assert body["apiTokenCreate"]["userErrors"] == [
        {"field": ["input", "role"], "code": "FORBIDDEN"}
    ]


async def test_company_admin_token_needs_a_company(admin: GraphQLClient) -> None:
    body = await admin.data(
        """mutation { apiTokenCreate(input: {name: "x", role: COMPANY_ADMIN}) {
           token userErrors { field code } } }"""
    )
    assert body["apiTokenCreate"]["userErrors"] == [
        {"field": ["input", "companyId"], "code": "REQUIRED"}
    ]


# ---------------------------------------------------------------- what UNAUTHENTICATED says


async def _unauthenticated_message(live_server: LiveServer, authorization: str | None) -> str:
    import httpx

    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        response = await client.post(
            "/graphql", json={"query": "{ viewer { role } }"}, headers=headers
        )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    return error["message"]


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        (None, "the request has no Authorization header (send Authorization: Bearer <token>)."),
        ("", "the request has no Authorization header (send Authorization: Bearer <token>)."),
        ("Basic YWRtaW46YWRtaW4=", "the Authorization header must read Bearer <token>."),
        ("pgt_0123456789", "the Authorization header must read Bearer <token>."),
        ("Bearer", "the Authorization header must read Bearer <token>."),
        (
            "Bearer <token>",
            "the Authorization header still holds the placeholder <token>; put your token there.",
        ),
        ("Bearer pgt_not-a-real-token", "this token is unknown, has been revoked or has expired."),
    ],
    ids=["no-header", "empty", "basic", "no-scheme", "bearer-alone", "placeholder", "unknown"],
)
async def test_unauthenticated_says_what_is_wrong(
    live_server: LiveServer, authorization: str | None, says: str
) -> None:
    message = await _unauthenticated_message(live_server, authorization)
    assert message == f"A valid API token is required: {says}"


async def test_a_revoked_token_reads_exactly_like_an_unknown_one(
    admin: GraphQLClient, live_server: LiveServer
) -> None:
    company_id = await create_company(admin, "Acme")
    created = await admin.mutate(
        CREATE_TOKEN, {"input": {"name": "t", "role": "COMPANY_ADMIN", "companyId": company_id}}
    )
    secret = created["token"]
    await admin.mutate(
        "mutation($id: ID!) { apiTokenRevoke(id: $id) { deletedId userErrors { code } } }",
        {"id": created["apiToken"]["id"]},
    )

    revoked = await _unauthenticated_message(live_server, f"Bearer {secret}")
    unknown = await _unauthenticated_message(live_server, "Bearer pgt_never-issued")
    assert revoked == unknown  # nothing tells a revoked token from one never issued
    assert secret not in revoked

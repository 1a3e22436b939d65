"""Companies: system admins manage them; company admins see only their own."""

from __future__ import annotations

from tests.conftest import GraphQLClient, LiveServer, create_company, create_token

UPDATE = """mutation($id: ID!, $name: String) { companyUpdate(id: $id, input: {name: $name}) {
  company { id name } userErrors { field code message } } }"""
DELETE = """mutation($id: ID!) { companyDelete(id: $id) { deletedId userErrors { field code } } }"""


async def test_duplicate_company_name_is_refused(admin: GraphQLClient) -> None:
    await create_company(admin, "Acme")
    data = await admin.data(
        'mutation { companyCreate(input: {name: "Acme"}) { company { id } userErrors { field code } } }'
    )
    assert data["companyCreate"] == {
        "company": None,
        "userErrors": [{"field": ["input", "name"], "code": "DUPLICATE"}],
    }


async def test_blank_company_name_is_required(admin: GraphQLClient) -> None:
    data = await admin.data(
        'mutation { companyCreate(input: {name: "  "}) { company { id } userErrors { field code } } }'
    )
    assert data["companyCreate"]["userErrors"] == [{"field": ["input", "name"], "code": "REQUIRED"}]


async def test_rename_leaves_other_fields_and_delete_removes(admin: GraphQLClient) -> None:
    cid = await create_company(admin, "Acme")
    payload = await admin.mutate(UPDATE, {"id": cid, "name": "Acme Ltd"})
    assert payload["company"] == {"id": cid, "name": "Acme Ltd"}
    payload = await admin.mutate(DELETE, {"id": cid})
    assert payload["deletedId"] == cid
    data = await admin.data("query($id: ID!) { node(id: $id) { id } }", {"id": cid})
    assert data["node"] is None


async def test_company_admin_sees_only_its_company(admin: GraphQLClient, tenant_factory) -> None:  # type: ignore[no-untyped-def]
    a = await tenant_factory("Acme")
    b = await tenant_factory("Globex")
    data = await a.client.data("{ companies { totalCount nodes { id name } } }")
    assert data["companies"] == {"totalCount": 1, "nodes": [{"id": a.company_id, "name": "Acme"}]}
    # Through node/nodes, the other company does not exist.
    data = await a.client.data(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [a.company_id, b.company_id]}
    )
    assert data["nodes"] == [{"id": a.company_id}, None]


async def test_company_admin_cannot_create_rename_or_delete_companies(tenant_factory) -> None:  # type: ignore[no-untyped-def]
    a = await tenant_factory("Acme")
    for query, variables in [
        ('mutation { companyCreate(input: {name: "Mine"}) { company { id } } }', {}),
        (UPDATE, {"id": a.company_id, "name": "Renamed"}),
        (DELETE, {"id": a.company_id}),
    ]:
        body = await a.client.execute(query, variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    data = await a.client.data("{ companies { nodes { name } } }")
    assert data["companies"]["nodes"] == [{"name": "Acme"}]


async def test_provisioning_key_is_readable_by_own_admins_only(
    admin: GraphQLClient,
    tenant_factory,
    live_server: LiveServer,  # type: ignore[no-untyped-def]
) -> None:
    a = await tenant_factory("Acme")
    q = "query($id: ID!) { node(id: $id) { ... on Company { provisioningKey } } }"
    key = (await a.client.data(q, {"id": a.company_id}))["node"]["provisioningKey"]
    assert key and key.startswith("pk_")
    assert (await admin.data(q, {"id": a.company_id}))["node"]["provisioningKey"] == key
    regenerated = await a.client.mutate(
        """mutation($id: ID!) { companyProvisioningKeyRegenerate(id: $id) {
           company { provisioningKey } userErrors { code } } }""",
        {"id": a.company_id},
    )
    assert regenerated["company"]["provisioningKey"] not in (None, key)


async def test_company_admin_cannot_mint_tokens_for_other_companies(tenant_factory) -> None:  # type: ignore[no-untyped-def]
    a = await tenant_factory("Acme")
    b = await tenant_factory("Globex")
    data = await a.client.data(
        """mutation($c: ID!) { apiTokenCreate(input: {name: "x", role: COMPANY_ADMIN, companyId: $c}) {
           token userErrors { field code } } }""",
        {"c": b.company_id},
    )
    assert data["apiTokenCreate"] == {
        "token": None,
        "userErrors": [{"field": ["input", "companyId"], "code": "NOT_FOUND"}],
    }


async def test_internal_errors_are_masked(admin: GraphQLClient, live_server: LiveServer) -> None:
    """A stored secret that cannot be decrypted (the key changed) is an internal error:
    the client sees a generic message, no exception text, trace or file path."""
    from app.core.models import Company

    cid = await create_company(admin, "Acme")
    await Company.all().update(provisioning_key_enc="corrupted")
    body = await admin.execute(
        "query($id: ID!) { node(id: $id) { ... on Company { name provisioningKey } } }", {"id": cid}
    )
    assert body["errors"][0]["message"] == "Internal server error"
    text = str(body)
    assert "Traceback" not in text and ".py" not in text and "decrypt" not in text
    assert (
        "extensions" not in body["errors"][0] or "exception" not in body["errors"][0]["extensions"]
    )


async def test_validation_errors_stay_readable(admin: GraphQLClient) -> None:
    body = await admin.execute("{ companies { nope } }")
    assert "Cannot query field 'nope'" in body["errors"][0]["message"]


async def test_user_token_sees_nothing_it_does_not_own(
    admin: GraphQLClient, live_server: LiveServer
) -> None:
    from app.pbx.models import SipDomain, SipUser

    cid = await create_company(admin, "Acme")
    other = await create_company(admin, "Globex")
    from app.core.ids import parse_global_id

    domain = await SipDomain.create(
        company_id=parse_global_id(cid)[1], name="acme.example.net", display_name="Acme"
    )
    user = await SipUser.create(
        domain=domain, username="joe", display_name="Joe", extension_number="100"
    )
    from app.core.ids import to_global_id

    token = await create_token(admin, "USER", sip_user_id=to_global_id("SipUser", user.id))
    client = live_server.client(token)
    data = await client.data(
        "{ viewer { role sipUser { id } company { name } } companies { nodes { name } } }"
    )
    assert data["viewer"] == {
        "role": "USER",
        "sipUser": {"id": to_global_id("SipUser", user.id)},
        "company": {"name": "Acme"},
    }
    assert data["companies"]["nodes"] == [{"name": "Acme"}]
    body = await client.execute("query($id: ID!) { node(id: $id) { id } }", {"id": other})
    assert body["data"]["node"] is None
    body = await client.execute(
        'mutation { apiTokenCreate(input: {name: "x", role: USER}) { token userErrors { code } } }'
    )
    assert body["data"]["apiTokenCreate"]["userErrors"] == [{"code": "FORBIDDEN"}]


async def test_company_admin_sees_and_revokes_user_tokens_of_its_users(
    admin: GraphQLClient, tenant_factory, live_server: LiveServer  # type: ignore[no-untyped-def]
) -> None:
    from app.core.ids import parse_global_id, to_global_id
    from app.pbx.models import SipDomain, SipUser

    acme = await tenant_factory("Acme")
    domain = await SipDomain.create(
        company_id=parse_global_id(acme.company_id)[1], name="acme.example.net", display_name="A"
    )
    user = await SipUser.create(domain=domain, username="joe", display_name="Joe", extension_number="100")
    payload = await acme.client.mutate(
        """mutation($u: ID!) { apiTokenCreate(input: {name: "joe", role: USER, sipUserId: $u}) {
           token apiToken { id company { id } } userErrors { code } } }""",
        {"u": to_global_id("SipUser", user.id)},
    )
    assert payload["apiToken"]["company"] == {"id": acme.company_id}
    joe = live_server.client(payload["token"])
    assert (await joe.data("{ viewer { role } }"))["viewer"]["role"] == "USER"
    revoked = await acme.client.mutate(
        "mutation($id: ID!) { apiTokenRevoke(id: $id) { deletedId userErrors { code } } }",
        {"id": payload["apiToken"]["id"]},
    )
    assert revoked["deletedId"] == payload["apiToken"]["id"]
    body = await joe.execute("{ viewer { role } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

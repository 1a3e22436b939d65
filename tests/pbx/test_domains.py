"""SIP domains: who creates them, what a valid one is, how they are listed."""

from __future__ import annotations

from tests.conftest import GraphQLClient, create_company
from tests.pbx.conftest import (
    CREATE_DOMAIN,
    DELETE_DOMAIN,
    UPDATE_DOMAIN,
    Pbx,
    PbxFactory,
    errors_of,
    payload_of,
)

DOMAINS = """
query($filter: SipDomainFilter, $first: Int, $after: String) {
  sipDomains(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id name company { name } } } }
"""


async def test_system_admin_creates_a_domain_for_a_company(admin: GraphQLClient) -> None:
    company_id = await create_company(admin, "Acme")
    payload = await admin.mutate(
        CREATE_DOMAIN,
        {"input": {"companyId": company_id, "name": "Acme.SIP.example.net.", "displayName": "Acme"}},
    )
    domain = payload["sipDomain"]
    assert domain["name"] == "acme.sip.example.net"
    assert domain["displayName"] == "Acme"
    assert domain["recordingEnabled"] is False
    assert domain["company"]["id"] == company_id


async def test_company_admin_cannot_create_a_domain(acme: Pbx) -> None:
    body = await acme.client.execute(
        CREATE_DOMAIN,
        {"input": {"companyId": acme.company_id, "name": "more.example.net", "displayName": "x"}},
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["data"] is None


async def test_domain_needs_an_existing_company(admin: GraphQLClient) -> None:
    missing = await payload_of(
        admin, CREATE_DOMAIN, {"input": {"name": "a.example.net", "displayName": "A"}}
    )
    assert errors_of(missing) == [(["input", "companyId"], "REQUIRED")]
    assert missing["sipDomain"] is None
    company_id = await create_company(admin, "Gone")
    await admin.mutate(
        "mutation($id: ID!) { companyDelete(id: $id) { deletedId userErrors { code } } }",
        {"id": company_id},
    )
    for ref in (company_id, "not-an-id"):
        unknown = await payload_of(
            admin,
            CREATE_DOMAIN,
            {"input": {"companyId": ref, "name": "a.example.net", "displayName": "A"}},
        )
        assert errors_of(unknown) == [(["input", "companyId"], "NOT_FOUND")]


async def test_domain_name_must_be_a_dns_name(admin: GraphQLClient) -> None:
    company_id = await create_company(admin, "Acme")
    for bad in ("localhost", "acme..example.net", "-acme.example.net", "acme_pbx.example.net",
                "10.0.0.1", "a" * 64 + ".example.net", "acme example.net"):
        payload = await payload_of(
            admin,
            CREATE_DOMAIN,
            {"input": {"companyId": company_id, "name": bad, "displayName": "A"}},
        )
        assert errors_of(payload) == [(["input", "name"], "INVALID")], bad


async def test_domain_name_and_display_name_are_required(admin: GraphQLClient) -> None:
    company_id = await create_company(admin, "Acme")
    payload = await payload_of(
        admin, CREATE_DOMAIN, {"input": {"companyId": company_id, "name": "  "}}
    )
    assert sorted(errors_of(payload)) == [
        (["input", "displayName"], "REQUIRED"),
        (["input", "name"], "REQUIRED"),
    ]


async def test_duplicate_domain_name_is_refused(admin: GraphQLClient, acme: Pbx) -> None:
    other = await create_company(admin, "Other")
    payload = await payload_of(
        admin,
        CREATE_DOMAIN,
        {"input": {"companyId": other, "name": acme.domain_name.upper(), "displayName": "x"}},
    )
    assert errors_of(payload) == [(["input", "name"], "DUPLICATE")]


async def test_company_admin_updates_display_name_and_recording_only(acme: Pbx) -> None:
    payload = await acme.client.mutate(
        UPDATE_DOMAIN,
        {"id": acme.domain_id, "input": {"displayName": "Acme Ltd", "recordingEnabled": True}},
    )
    assert payload["sipDomain"] == {
        "id": acme.domain_id,
        "name": acme.domain_name,
        "displayName": "Acme Ltd",
        "recordingEnabled": True,
    }
    rename = await payload_of(
        acme.client, UPDATE_DOMAIN, {"id": acme.domain_id, "input": {"name": "new.example.net"}}
    )
    assert errors_of(rename) == [(["input", "name"], "FORBIDDEN")]
    data = await acme.client.data(
        "query($id: ID!) { sipDomain(id: $id) { name displayName recordingEnabled } }",
        {"id": acme.domain_id},
    )
    assert data["sipDomain"] == {
        "name": acme.domain_name,
        "displayName": "Acme Ltd",
        "recordingEnabled": True,
    }


async def test_system_admin_renames_a_domain_but_cannot_move_it(
    admin: GraphQLClient, acme: Pbx, pbx_factory: PbxFactory
) -> None:
    renamed = await admin.mutate(
        UPDATE_DOMAIN, {"id": acme.domain_id, "input": {"name": "pbx.acme.example"}}
    )
    assert renamed["sipDomain"]["name"] == "pbx.acme.example"
    assert renamed["sipDomain"]["displayName"] == "Acme PBX"
    other = await pbx_factory("Other")
    taken = await payload_of(
        admin, UPDATE_DOMAIN, {"id": acme.domain_id, "input": {"name": other.domain_name}}
    )
    assert errors_of(taken) == [(["input", "name"], "DUPLICATE")]
    moved = await payload_of(
        admin, UPDATE_DOMAIN, {"id": acme.domain_id, "input": {"companyId": other.company_id}}
    )
    assert errors_of(moved) == [(["input", "companyId"], "INVALID")]


async def test_domain_update_cannot_clear_required_fields(acme: Pbx) -> None:
    payload = await payload_of(
        acme.client,
        UPDATE_DOMAIN,
        {"id": acme.domain_id, "input": {"displayName": None, "recordingEnabled": None}},
    )
    assert sorted(errors_of(payload)) == [
        (["input", "displayName"], "REQUIRED"),
        (["input", "recordingEnabled"], "REQUIRED"),
    ]


async def test_only_system_admins_delete_domains_and_only_empty_ones(
    admin: GraphQLClient, acme: Pbx
) -> None:
    body = await acme.client.execute(DELETE_DOMAIN, {"id": acme.domain_id})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    user = await acme.user("joe", "100")
    await acme.network("10.0.0.0/8")
    in_use = await payload_of(admin, DELETE_DOMAIN, {"id": acme.domain_id})
    assert errors_of(in_use) == [(["id"], "IN_USE")]
    await admin.mutate(
        "mutation($id: ID!) { sipUserDelete(id: $id) { deletedId userErrors { code } } }",
        {"id": user["id"]},
    )
    deleted = await admin.mutate(DELETE_DOMAIN, {"id": acme.domain_id})
    assert deleted["deletedId"] == acme.domain_id
    data = await admin.data("query($id: ID!) { node(id: $id) { id } }", {"id": acme.domain_id})
    assert data["node"] is None
    again = await payload_of(admin, DELETE_DOMAIN, {"id": acme.domain_id})
    assert errors_of(again) == [(["id"], "NOT_FOUND")]


async def test_domains_are_listed_by_name_filtered_by_company_and_search(
    admin: GraphQLClient, pbx_factory: PbxFactory
) -> None:
    acme = await pbx_factory("Acme")
    await create_domain_for(admin, acme.company_id, "branch.acme.example")
    globex = await pbx_factory("Globex")
    everything = (await admin.data(DOMAINS))["sipDomains"]
    assert [d["name"] for d in everything["nodes"]] == [
        "acme.sip.example.net",
        "branch.acme.example",
        "globex.sip.example.net",
    ]
    assert everything["totalCount"] == 3
    mine = (await admin.data(DOMAINS, {"filter": {"companyId": acme.company_id}}))["sipDomains"]
    assert [d["name"] for d in mine["nodes"]] == ["acme.sip.example.net", "branch.acme.example"]
    assert {d["company"]["name"] for d in mine["nodes"]} == {"Acme"}
    found = (await admin.data(DOMAINS, {"filter": {"search": "GLOBEX"}}))["sipDomains"]
    assert [d["id"] for d in found["nodes"]] == [globex.domain_id]
    first = (await admin.data(DOMAINS, {"first": 2}))["sipDomains"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await admin.data(DOMAINS, {"first": 2, "after": first["pageInfo"]["endCursor"]}))
    assert [d["name"] for d in rest["sipDomains"]["nodes"]] == ["globex.sip.example.net"]
    assert rest["sipDomains"]["pageInfo"]["hasNextPage"] is False


async def test_company_sip_domains_lists_only_that_company(
    admin: GraphQLClient, pbx_factory: PbxFactory
) -> None:
    acme = await pbx_factory("Acme")
    globex = await pbx_factory("Globex")
    data = await admin.data("{ companies { nodes { name sipDomains { nodes { id } } } } }")
    by_company = {c["name"]: [d["id"] for d in c["sipDomains"]["nodes"]] for c in data["companies"]["nodes"]}
    assert by_company == {"Acme": [acme.domain_id], "Globex": [globex.domain_id]}


async def create_domain_for(admin: GraphQLClient, company_id: str, name: str) -> str:
    payload = await admin.mutate(
        CREATE_DOMAIN, {"input": {"companyId": company_id, "name": name, "displayName": name}}
    )
    return payload["sipDomain"]["id"]

"""Reading the audit log: who sees what, every filter, pages newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.core.ids import parse_global_id
from app.core.models import AuditEvent
from tests.audit.conftest import events, nodes
from tests.conftest import GraphQLClient
from tests.pbx.conftest import Pbx

NODE = """
query($id: ID!) { node(id: $id) { ... on AuditEvent { id operation } } }
"""
RENAME_DOMAIN = """
mutation($id: ID!, $name: String!) { sipDomainUpdate(id: $id, input: {displayName: $name}) {
  sipDomain { id } userErrors { field code message } } }
"""


async def test_company_admins_see_only_their_companys_events(
    pbx_factory, admin: GraphQLClient
) -> None:
    acme: Pbx = await pbx_factory("Acme")
    globex: Pbx = await pbx_factory("Globex")
    await acme.user("alice", "201")
    await globex.user("bob", "201")

    seen_by_acme = await nodes(acme.client)
    assert seen_by_acme and {e["company"]["id"] for e in seen_by_acme} == {acme.company_id}
    seen_by_globex = await nodes(globex.client)
    assert {e["company"]["id"] for e in seen_by_globex} == {globex.company_id}
    everything = await nodes(admin)
    companies = {e["company"]["id"] for e in everything if e["company"]}
    assert {acme.company_id, globex.company_id} <= companies
    # Another company's event does not exist for a company admin, not even by id.
    theirs = seen_by_globex[0]["id"]
    assert (await acme.client.data(NODE, {"id": theirs}))["node"] is None
    assert (await globex.client.data(NODE, {"id": theirs}))["node"]["id"] == theirs
    # Filtering for another company finds nothing.
    assert await nodes(acme.client, companyId=globex.company_id) == []


async def test_a_system_admins_token_is_not_shown_to_a_company_admin(
    acme: Pbx, admin: GraphQLClient
) -> None:
    await admin.mutate(RENAME_DOMAIN, {"id": acme.domain_id, "name": "Acme Ltd"})
    [event] = await nodes(acme.client, operation="sipDomainUpdate")
    assert event["actorRole"] == "SYSTEM_ADMIN"
    assert event["actorToken"] is None
    [as_admin] = await nodes(admin, operation="sipDomainUpdate")
    assert as_admin["actorToken"]["name"] == "bootstrap"


async def test_every_filter(acme: Pbx, admin: GraphQLClient, live_server) -> None:
    alice = await acme.user("alice", "201")
    await acme.client.data(RENAME_DOMAIN, {"id": acme.domain_id, "name": "Renamed"})
    refused = await acme.client.execute(
        'mutation { companyCreate(input: {name: "X"}) { company { id } } }'
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    all_acme = await nodes(admin, companyId=acme.company_id)
    assert len(all_acme) >= 3
    assert {e["operation"] for e in await nodes(admin, operation="sipDomainUpdate")} == {
        "sipDomainUpdate"
    }
    acme_token = all_acme[0]["actorToken"]["id"]
    by_token = await nodes(admin, actorTokenId=acme_token)
    assert by_token and all(e["actorToken"]["id"] == acme_token for e in by_token)
    assert {e["operation"] for e in by_token} >= {
        "sipUserCreate",
        "sipDomainUpdate",
        "companyCreate",
    }
    by_target = await nodes(admin, targetId=acme.domain_id)
    assert {e["operation"] for e in by_target} >= {"sipUserCreate", "sipDomainUpdate"}
    assert all(acme.domain_id in e["targetIds"] for e in by_target)
    [forbidden] = await nodes(admin, outcome="FORBIDDEN")
    assert forbidden["operation"] == "companyCreate"
    assert all(e["outcome"] == "OK" for e in await nodes(admin, outcome="OK"))

    # since / until, on the time each event was recorded.
    [user_event] = await nodes(admin, operation="sipUserCreate")
    pk = parse_global_id(user_event["id"])[1]
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    await AuditEvent.filter(id=pk).update(at=long_ago)
    old = await nodes(admin, until=(long_ago + timedelta(days=1)).isoformat())
    assert [e["id"] for e in old] == [user_event["id"]]
    recent = await nodes(admin, since=(long_ago + timedelta(days=1)).isoformat())
    assert user_event["id"] not in [e["id"] for e in recent] and recent
    window = await nodes(
        admin,
        since=(long_ago - timedelta(days=1)).isoformat(),
        until=(long_ago + timedelta(days=1)).isoformat(),
        operation="sipUserCreate",
    )
    assert [e["id"] for e in window] == [user_event["id"]]
    assert alice["username"] == "alice"


async def test_pages_newest_first(acme: Pbx, admin: GraphQLClient) -> None:
    for n in range(5):
        await acme.user(f"user{n}", str(210 + n))
    everything = await nodes(admin, operation="sipUserCreate")
    assert [parse_global_id(e["id"])[1] for e in everything] == sorted(
        (parse_global_id(e["id"])[1] for e in everything), reverse=True
    )
    assert [json_username(e) for e in everything] == [f"user{n}" for n in reversed(range(5))]
    seen: list[str] = []
    after = None
    while True:
        page = await events(admin, first=2, after=after, operation="sipUserCreate")
        assert page["totalCount"] == 5
        seen += [e["id"] for e in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [e["id"] for e in everything]


def json_username(event: dict) -> str:
    import json

    return json.loads(event["arguments"])["input"]["username"]


async def test_actor_and_company_fields_cost_one_statement_each(
    acme: Pbx, admin: GraphQLClient, count_queries
) -> None:
    for n in range(3):
        await acme.user(f"user{n}", str(210 + n))
    await nodes(admin, first=3)
    before = count_queries.count
    await nodes(admin, first=3)
    few = count_queries.count - before
    for n in range(3, 12):
        await acme.user(f"user{n}", str(210 + n))
    before = count_queries.count
    await nodes(admin, first=12)
    assert count_queries.count - before == few

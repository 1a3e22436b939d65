"""Listing SIP users: filters, orders, cursor pages, and no N+1 queries."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.ids import parse_global_id, to_global_id
from app.devices.models import Phone, PhoneLine
from app.pbx.models import SipUser
from app.profiles.models import PhoneProfile
from tests.conftest import GraphQLClient, QueryCounter
from tests.pbx.conftest import Pbx, create_domain

PAGE = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { username }"
NESTED = f"""
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String,
      $filter: SipUserFilter, $order: SipUserOrder) {{
  sipDomain(id: $id) {{ users(first: $first, after: $after, last: $last, before: $before,
    filter: $filter, orderBy: $order) {{ {PAGE} }} }} }}
"""
TOP_LEVEL = f"""
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String,
      $filter: SipUserFilter, $order: SipUserOrder) {{
  sipUsers(domainId: $id, first: $first, after: $after, last: $last, before: $before,
    filter: $filter, orderBy: $order) {{ {PAGE} }} }}
"""
LISTS = {"nested": (NESTED, ("sipDomain", "users")), "top-level": (TOP_LEVEL, ("sipUsers",))}

# (username, displayName, extension), created in this order.
PEOPLE = [("dan", "Zed", "103"), ("amy", "Bob", "101"), ("cal", "Al", "102"), ("bea", "Cy", "100")]
ORDERS = {
    "USERNAME": ["amy", "bea", "cal", "dan"],
    "DISPLAY_NAME": ["cal", "amy", "bea", "dan"],
    "EXTENSION_NUMBER": ["bea", "amy", "cal", "dan"],
    "CREATED_AT": ["dan", "amy", "cal", "bea"],
}


def pk_of(global_id: str) -> int:
    parsed = parse_global_id(global_id)
    assert parsed is not None
    return parsed[1]


def connection(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        data = data[key]
    return data


async def people(pbx: Pbx) -> dict[str, dict[str, Any]]:
    users = {}
    for username, display, extension in PEOPLE:
        users[username] = await pbx.user(
            username,
            extension,
            displayName=display,
            email=f"{username}@{pbx.domain_name}",
            hotdeskAllowed=username in ("amy", "cal"),
        )
    return users


async def walk_forward(
    client: GraphQLClient, kind: str, variables: dict[str, Any], size: int
) -> list[str]:
    query, path = LISTS[kind]
    names: list[str] = []
    after = None
    while True:
        page = connection(await client.data(query, {**variables, "first": size, "after": after}), path)
        names += [u["username"] for u in page["nodes"]]
        assert page["totalCount"] == 4
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            return names
        after = page["pageInfo"]["endCursor"]


async def walk_backward(
    client: GraphQLClient, kind: str, variables: dict[str, Any], size: int
) -> list[str]:
    query, path = LISTS[kind]
    names: list[str] = []
    before = None
    while True:
        page = connection(
            await client.data(query, {**variables, "last": size, "before": before}), path
        )
        names = [u["username"] for u in page["nodes"]] + names
        if not page["pageInfo"]["hasPreviousPage"]:
            return names
        before = page["pageInfo"]["startCursor"]


@pytest.mark.parametrize("kind", list(LISTS))
async def test_users_page_through_every_order_both_ways(acme: Pbx, kind: str) -> None:
    await people(acme)
    for field, expected in ORDERS.items():
        for direction, want in (("ASC", expected), ("DESC", expected[::-1])):
            variables = {"id": acme.domain_id, "order": {"field": field, "direction": direction}}
            assert await walk_forward(acme.client, kind, variables, 3) == want, (field, direction)
            assert await walk_backward(acme.client, kind, variables, 3) == want, (field, direction)
    default = await walk_forward(acme.client, kind, {"id": acme.domain_id}, 2)
    assert default == ORDERS["USERNAME"]


@pytest.mark.parametrize("kind", list(LISTS))
async def test_users_are_filtered(acme: Pbx, kind: str) -> None:
    users = await people(acme)
    sales = await acme.group("sales", "200")
    await acme.add_members(sales["id"], users["bea"]["id"], users["dan"]["id"])
    query, path = LISTS[kind]

    async def names(filter: dict[str, Any]) -> list[str]:
        data = await acme.client.data(query, {"id": acme.domain_id, "filter": filter})
        return [u["username"] for u in connection(data, path)["nodes"]]

    assert await names({"search": "BE"}) == ["bea"]  # username
    assert await names({"search": "ze"}) == ["dan"]  # display name
    assert await names({"search": "102"}) == ["cal"]  # extension
    assert await names({"search": "amy@"}) == ["amy"]  # e-mail
    assert await names({"search": "sip.example"}) == ORDERS["USERNAME"]
    assert await names({"extensionNumber": "101"}) == ["amy"]
    assert await names({"extensionNumber": "10"}) == []
    assert await names({"groupId": sales["id"]}) == ["bea", "dan"]
    assert await names({"hotdeskAllowed": True}) == ["amy", "cal"]
    assert await names({"hotdeskAllowed": False, "groupId": sales["id"]}) == ["bea", "dan"]
    body = await acme.client.execute(query, {"id": acme.domain_id, "filter": {"groupId": "junk"}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_top_level_users_span_the_visible_domains(admin: GraphQLClient, acme: Pbx) -> None:
    branch_id = await create_domain(admin, acme.company_id, "branch.acme.example")
    branch = Pbx(acme.company_id, branch_id, "branch.acme.example", acme.client)
    await acme.user("joe", "100")
    await branch.user("ann", "100")
    data = await acme.client.data("{ sipUsers { nodes { username domain { name } } } }")
    assert data["sipUsers"]["nodes"] == [
        {"username": "ann", "domain": {"name": "branch.acme.example"}},
        {"username": "joe", "domain": {"name": acme.domain_name}},
    ]


async def test_user_lists_phones_with_its_lines_and_its_profiles(acme: Pbx) -> None:
    joe = await acme.user("joe", "100")
    row = await SipUser.get(username="joe")
    company_pk = pk_of(acme.company_id)
    desk = await Phone.create(mac="AABBCCDDEE01", company_id=company_pk)
    await PhoneLine.create(phone=desk, port=1, sip_user=row)
    await PhoneLine.create(phone=desk, port=2, sip_user=row)
    other = await Phone.create(mac="AABBCCDDEE02", company_id=company_pk)
    await PhoneLine.create(phone=other, port=1)
    profile = await PhoneProfile.create(owner=row, name="desk", cnf_xml="<device/>")
    data = await acme.client.data(
        "query($id: ID!) { sipUser(id: $id) { phones { id } phoneProfiles { id } } }",
        {"id": joe["id"]},
    )
    assert data["sipUser"]["phones"] == [{"id": to_global_id("Phone", desk.id)}]
    assert data["sipUser"]["phoneProfiles"] == [{"id": to_global_id("PhoneProfile", profile.id)}]


NESTED_EVERYTHING = """
query($first: Int, $users: Int) { sipDomains(first: $first) { nodes {
  name company { name }
  users(first: $users) { nodes { username domain { name } groups { groupName }
    phones { id } phoneProfiles { id } } }
  groups { nodes { groupName members { nodes { username } } } }
  queues { nodes { queueName members { ringOrder group { groupName } } } }
  trustedNetworks { network }
} } }
"""


async def test_nested_lists_cost_the_same_number_of_queries_at_any_page_size(
    admin: GraphQLClient, acme: Pbx, count_queries: QueryCounter
) -> None:
    for d in range(4):
        domain_id = (
            acme.domain_id
            if d == 0
            else await create_domain(admin, acme.company_id, f"site{d}.acme.example")
        )
        site = Pbx(acme.company_id, domain_id, f"site{d}", admin)
        users = [await site.user(f"user{d}{i}", f"10{i}") for i in range(3)]
        group = await site.group("sales", "200")
        await site.add_members(group["id"], *[u["id"] for u in users])
        queue = await site.queue("support", "300")
        await site.queue_member(queue["id"], group["id"])
        await site.network(f"10.{d}.0.0/16")
        for i, user in enumerate(users):
            row = await SipUser.get(username=user["username"])
            phone = await Phone.create(
                mac=f"AABBCCDD{d:02X}{i:02X}", company_id=pk_of(acme.company_id)
            )
            await PhoneLine.create(phone=phone, port=1, sip_user=row)
            await PhoneProfile.create(owner=row, name="p", cnf_xml="<device/>")
    await admin.data("{ viewer { role } }")  # token bookkeeping happens on first use

    async def count(first: int, users: int) -> int:
        before = count_queries.count
        data = await admin.data(NESTED_EVERYTHING, {"first": first, "users": users})
        domains = data["sipDomains"]["nodes"]
        assert len(domains) == first
        assert all(len(d["users"]["nodes"]) == users for d in domains)
        assert all(len(u["phones"]) == 1 for d in domains for u in d["users"]["nodes"])
        assert all(d["queues"]["nodes"][0]["members"] for d in domains)
        return count_queries.count - before

    small = await count(2, 1)
    large = await count(4, 3)
    assert 0 < small == large

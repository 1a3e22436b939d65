"""Listing phones: filters, orders, pagination, and a query count that does not grow
with the page size."""

from __future__ import annotations

from app.devices.models import Phone
from tests.conftest import GraphQLClient, QueryCounter, Tenant
from tests.devices.conftest import ASSIGN_LINE, add_sip_user, create_phone, model_id, pk_of

LIST = """query($first: Int, $after: String, $last: Int, $before: String, $filter: PhoneFilter,
  $order: PhoneOrder) {
  phones(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $order) {
    nodes { mac name } totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


async def _macs(client: GraphQLClient, **variables: object) -> list[str]:
    data = await client.data(LIST, variables)
    return [n["mac"] for n in data["phones"]["nodes"]]


async def _fleet(admin: GraphQLClient, acme: Tenant, globex: Tenant) -> None:
    cisco = await model_id(admin, "Cisco", "8845")
    yealink = await model_id(admin, "Yealink", "T46U")
    await create_phone(admin, mac="000000000003", companyId=acme.company_id, name="Charlie", modelId=cisco)
    await create_phone(admin, mac="000000000001", companyId=acme.company_id, name="alpha", modelId=yealink)
    await create_phone(admin, mac="000000000002", companyId=globex.company_id, name=None, modelId=cisco)
    await create_phone(admin, mac="0000000000AB", companyId=globex.company_id, name="Bravo")


async def test_phones_are_filtered(admin: GraphQLClient, acme: Tenant, globex: Tenant) -> None:
    await _fleet(admin, acme, globex)
    assert await _macs(admin, filter={"companyId": acme.company_id}) == [
        "00:00:00:00:00:01", "00:00:00:00:00:03",
    ]
    assert await _macs(admin, filter={"vendor": "cisco"}) == ["00:00:00:00:00:02", "00:00:00:00:00:03"]
    assert await _macs(admin, filter={"model": "t46u"}) == ["00:00:00:00:00:01"]
    assert await _macs(admin, filter={"search": "BRAV"}) == ["00:00:00:00:00:AB"]
    assert await _macs(admin, filter={"search": "00:ab"}) == ["00:00:00:00:00:AB"]
    assert await _macs(admin, filter={"status": "PENDING"}) == []
    await Phone.filter(mac="000000000001").update(status="PENDING")
    assert await _macs(admin, filter={"status": "PENDING"}) == ["00:00:00:00:00:01"]
    body = await admin.execute(LIST, {"filter": {"companyId": "garbage"}})
    assert body["errors"]


async def test_company_phones_field_uses_the_filter(
    admin: GraphQLClient, acme: Tenant, globex: Tenant
) -> None:
    await _fleet(admin, acme, globex)
    data = await admin.data(
        """query($id: ID!) { node(id: $id) { ... on Company {
          phones(filter: {vendor: "Yealink"}) { nodes { mac } totalCount } } } }""",
        {"id": acme.company_id},
    )
    assert data["node"]["phones"]["nodes"] == [{"mac": "00:00:00:00:00:01"}]


async def test_phones_are_ordered(admin: GraphQLClient, acme: Tenant, globex: Tenant) -> None:
    await _fleet(admin, acme, globex)
    by_name = await admin.data(LIST, {"order": {"field": "NAME"}})
    names = [n["name"] for n in by_name["phones"]["nodes"]]
    assert names[0] is None  # no name sorts first
    assert sorted(names[1:]) == names[1:]
    desc = await _macs(admin, order={"field": "MAC", "direction": "DESC"})
    assert desc == sorted(desc, reverse=True) and len(desc) == 4
    from datetime import UTC, datetime

    await Phone.filter(mac="0000000000AB").update(last_provisioned_at=datetime(2026, 1, 2, tzinfo=UTC))
    await Phone.filter(mac="000000000002").update(last_provisioned_at=datetime(2026, 1, 1, tzinfo=UTC))
    prov = await _macs(admin, order={"field": "LAST_PROVISIONED_AT", "direction": "DESC"})
    assert prov[:2] == ["00:00:00:00:00:AB", "00:00:00:00:00:02"]
    created = await _macs(admin, order={"field": "CREATED_AT"})
    assert created == ["00:00:00:00:00:03", "00:00:00:00:00:01", "00:00:00:00:00:02", "00:00:00:00:00:AB"]


async def test_pagination_walks_every_order_both_ways(
    admin: GraphQLClient, acme: Tenant, globex: Tenant
) -> None:
    await _fleet(admin, acme, globex)
    await Phone.filter(mac="000000000001").update(last_provisioned_at=None)
    for order in ({"field": f, "direction": d} for f in ("MAC", "NAME", "CREATED_AT", "LAST_PROVISIONED_AT") for d in ("ASC", "DESC")):
        everything = await _macs(admin, order=order)
        seen: list[str] = []
        after = None
        while True:
            data = (await admin.data(LIST, {"first": 1, "after": after, "order": order}))["phones"]
            seen += [n["mac"] for n in data["nodes"]]
            if not data["pageInfo"]["hasNextPage"]:
                break
            after = data["pageInfo"]["endCursor"]
        assert seen == everything, order
        back: list[str] = []
        before = None
        while True:
            data = (await admin.data(LIST, {"last": 3, "before": before, "order": order}))["phones"]
            back = [n["mac"] for n in data["nodes"]] + back
            if not data["pageInfo"]["hasPreviousPage"]:
                break
            before = data["pageInfo"]["startCursor"]
        assert back == everything, order


NESTED = """query($first: Int) { phones(first: $first) { nodes {
  lines { port sipUser { id } } model { name } company { name } assignee { id } template { filename }
} } }"""


async def test_query_count_does_not_grow_with_page_size(
    admin: GraphQLClient, acme: Tenant, count_queries: QueryCounter
) -> None:
    cisco = await model_id(admin, "Cisco", "8845")
    await add_sip_user(acme.company_id, "seed", "100")
    for i in range(12):
        phone = await create_phone(
            admin, mac=f"0000000010{i:02d}", companyId=acme.company_id, modelId=cisco,
            templateFilename="cisco-sip.cnf.xml",
        )
        user = await add_sip_user(acme.company_id, f"user{i}", f"2{i:02d}")
        await admin.mutate(ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": user.id})

    counts = []
    for size in (2, 12):
        count_queries.statements.clear()
        data = await admin.data(NESTED, {"first": size})
        assert len(data["phones"]["nodes"]) == size
        assert all(n["assignee"] and n["model"]["name"] == "8845" for n in data["phones"]["nodes"])
        # The deploy runner polls its queue in the background; those are not ours.
        counts.append(sum('"deploy_job"' not in s for s in count_queries.statements))
    assert 0 < counts[0] == counts[1], counts


NESTED_JOBS = """query($first: Int) {
  phones(first: $first) { nodes { mac deployJobs(first: 2) { totalCount nodes { kind } } } }
  companies(first: $first) { nodes { phones(first: 3) { totalCount nodes { mac } } } }
}"""


async def test_nested_jobs_and_company_phones_cost_the_same_at_any_page_size(
    admin: GraphQLClient, tenant_factory, count_queries: QueryCounter  # type: ignore[no-untyped-def]
) -> None:
    """``phones { deployJobs }`` and ``companies { phones }`` load per page, not per row."""
    from app.deploy.models import DeployJob, DeployJobKind, DeployJobStatus
    from app.deploy.runner import stop_runner

    await stop_runner()  # its polling of the job queue would blur the count
    for c in range(6):
        tenant = await tenant_factory(f"Company {c}")
        for p in range(2):
            phone = await create_phone(admin, mac=f"0000000020{c}{p}", companyId=tenant.company_id)
            for _ in range(3):
                await DeployJob.create(
                    kind=DeployJobKind.REBOOT,
                    status=DeployJobStatus.SUCCEEDED,
                    phone_id=(await Phone.get(mac=phone["mac"].replace(":", ""))).id,
                    company_id=pk_of(tenant.company_id),
                )
    counts = []
    for size in (2, 6):
        count_queries.statements.clear()
        data = await admin.data(NESTED_JOBS, {"first": size})
        assert len(data["phones"]["nodes"]) == size
        assert all(n["deployJobs"]["totalCount"] == 3 for n in data["phones"]["nodes"])
        assert all(len(n["deployJobs"]["nodes"]) == 2 for n in data["phones"]["nodes"])
        assert [c["phones"]["totalCount"] for c in data["companies"]["nodes"]] == [2] * size
        counts.append(count_queries.count)
    assert 0 < counts[0] == counts[1], counts


async def test_a_list_is_counted_only_when_total_count_is_asked_for(
    admin: GraphQLClient, acme: Tenant, count_queries: QueryCounter
) -> None:
    for i in range(3):
        await create_phone(admin, mac=f"0000000030{i:02d}", companyId=acme.company_id)

    def counts() -> int:
        return sum(
            "COUNT(" in s.upper() and '"deploy_job"' not in s for s in count_queries.statements
        )

    count_queries.statements.clear()
    data = await admin.data("{ phones(first: 2) { nodes { mac } } }")
    assert len(data["phones"]["nodes"]) == 2
    assert counts() == 0, count_queries.statements

    count_queries.statements.clear()
    data = await admin.data("{ phones(first: 2) { totalCount nodes { mac } } }")
    assert data["phones"]["totalCount"] == 3
    assert counts() == 1, count_queries.statements


AHEAD = """query($first: Int, $withGroups: Boolean!) {
  phones(first: $first) {
    edges { node { mac ...Lines } }
    nodes {
      mac
      kind: model { name }
      ... on Phone { company { name phones(first: 2) { nodes { mac model { name } } } } }
      lines { sipUser { username groups @include(if: $withGroups) { groupName } } }
    }
  }
}
fragment Lines on Phone { lines { port sipUser { username groups { groupName } } } }"""

ONE = """query($mac: MacAddress!, $withGroups: Boolean!) {
  phone(mac: $mac) {
    mac ...Lines
    kind: model { name }
    ... on Phone { company { name phones(first: 2) { nodes { mac model { name } } } } }
    lines { sipUser { username groups @include(if: $withGroups) { groupName } } }
  }
}
fragment Lines on Phone { lines { port sipUser { username groups { groupName } } } }"""


def _merged(a: object, b: object) -> object:
    """Two selections of one object as one response shows them (fields merged)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merged(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in a | b}
    if isinstance(a, list) and isinstance(b, list):
        return [_merged(x, y) for x, y in zip(a, b, strict=True)]
    assert a == b
    return a


async def test_a_page_loaded_ahead_shows_what_each_phone_shows_alone(
    admin: GraphQLClient, acme: Tenant, globex: Tenant, count_queries: QueryCounter
) -> None:
    """A list loads its rows' nested fields ahead, level by level (fragments, aliases,
    @include, edges and nodes alike); each phone looks exactly as when asked for alone,
    to a system admin and to a company admin, and the list costs the same at any size."""
    from app.pbx.models import SipGroup, SipGroupMember, SipUser

    cisco = await model_id(admin, "Cisco", "8845")
    for t, tenant in enumerate((acme, globex)):
        for i in range(4):
            phone = await create_phone(
                admin, mac=f"0000000040{t}{i}", companyId=tenant.company_id,
                **({"modelId": cisco} if i % 2 else {}),
            )
            user = await add_sip_user(tenant.company_id, f"u{t}{i}", f"3{t}{i}")
            if i != 3:
                await admin.mutate(ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": user.id})
            row = await SipUser.get(id=user.pk)
            for g in range(i % 3):
                group, _ = await SipGroup.get_or_create(
                    domain_id=row.domain_id, group_name=f"g{t}{g}",  # type: ignore[attr-defined]
                    defaults={"display_name": f"G{g}", "extension_number": f"9{t}{g}"},
                )
                await SipGroupMember.create(group=group, user=row)

    for client in (admin, acme.client):
        for with_groups in (True, False):
            page = (await client.data(AHEAD, {"first": 8, "withGroups": with_groups}))["phones"]
            assert [e["node"]["mac"] for e in page["edges"]] == [n["mac"] for n in page["nodes"]]
            assert page["nodes"], "the company admin sees its phones"
            for edge, node in zip(page["edges"], page["nodes"], strict=True):
                alone = (
                    await client.data(ONE, {"mac": node["mac"], "withGroups": with_groups})
                )["phone"]
                assert _merged(edge["node"], node) == alone
            if with_groups:
                assert any(
                    line["sipUser"] and line["sipUser"]["groups"]
                    for n in page["nodes"] for line in n["lines"]
                )

    counts = []
    for size in (2, 8):
        count_queries.statements.clear()
        await admin.data(AHEAD, {"first": size, "withGroups": True})
        counts.append(sum('"deploy_job"' not in s for s in count_queries.statements))
    assert 0 < counts[0] == counts[1], counts

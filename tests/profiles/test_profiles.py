"""Phone profiles: create, change, delete, list and filter, within the caller's scope."""

from __future__ import annotations

from tests.profiles.conftest import (
    CREATE,
    DELETE,
    DEVICE_XML,
    LIST,
    UPDATE,
    Company,
    create_profile,
    gid,
)


async def test_company_admin_creates_a_profile_for_a_user(acme: Company) -> None:
    owner = await acme.user()
    xml = '<?xml version="1.0"?>\n<device>\n  <x a="1">é</x>\n</device>\n'

    profile = await create_profile(
        acme.tenant.client,
        owner,
        name="Reception Desk",
        description="Front desk",
        cnfXml=xml,
        compatibleModels=["8845", "8851"],
        softwareType="SIP",
    )

    assert profile["name"] == "Reception Desk"
    assert profile["description"] == "Front desk"
    assert profile["cnfXml"] == xml
    assert profile["compatibleModels"] == ["8845", "8851"]
    assert profile["softwareType"] == "SIP"
    assert profile["owner"] == {"id": gid(owner), "username": owner.username}
    assert profile["createdAt"] and profile["updatedAt"]


async def test_create_requires_owner_name_and_xml(acme: Company) -> None:
    data = await acme.tenant.client.data(CREATE, {"input": {}})
    errors = data["phoneProfileCreate"]["userErrors"]
    assert errors[0]["code"] == "REQUIRED" and errors[0]["field"] == ["input", "ownerId"]

    owner = await acme.user()
    data = await acme.tenant.client.data(CREATE, {"input": {"ownerId": gid(owner), "name": "x"}})
    assert data["phoneProfileCreate"]["userErrors"][0]["field"] == ["input", "cnfXml"]
    assert data["phoneProfileCreate"]["userErrors"][0]["code"] == "REQUIRED"


async def test_update_changes_only_the_fields_sent(acme: Company) -> None:
    owner = await acme.user()
    profile = await create_profile(
        acme.tenant.client, owner, description="keep me", compatibleModels=["8845"]
    )

    payload = await acme.tenant.client.mutate(
        UPDATE, {"id": profile["id"], "input": {"name": "Renamed", "softwareType": "SIP"}}
    )

    updated = payload["phoneProfile"]
    assert updated["name"] == "Renamed"
    assert updated["softwareType"] == "SIP"
    assert updated["description"] == "keep me"
    assert updated["compatibleModels"] == ["8845"]
    assert updated["cnfXml"] == DEVICE_XML

    cleared = await acme.tenant.client.mutate(
        UPDATE,
        {
            "id": profile["id"],
            "input": {"description": None, "compatibleModels": None, "softwareType": None},
        },
    )
    assert cleared["phoneProfile"]["description"] is None
    assert cleared["phoneProfile"]["compatibleModels"] == []
    assert cleared["phoneProfile"]["softwareType"] is None


async def test_name_cannot_be_cleared(acme: Company) -> None:
    profile = await create_profile(acme.tenant.client, await acme.user())
    data = await acme.tenant.client.data(UPDATE, {"id": profile["id"], "input": {"name": None}})
    assert data["phoneProfileUpdate"]["userErrors"][0]["code"] == "REQUIRED"


async def test_delete_removes_the_profile(acme: Company) -> None:
    profile = await create_profile(acme.tenant.client, await acme.user())

    payload = await acme.tenant.client.mutate(DELETE, {"id": profile["id"]})

    assert payload["deletedId"] == profile["id"]
    assert (await acme.tenant.client.data(LIST, {}))["phoneProfiles"]["totalCount"] == 0
    again = await acme.tenant.client.data(DELETE, {"id": profile["id"]})
    assert again["phoneProfileDelete"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_filters_by_owner_software_type_model_and_search(acme: Company) -> None:
    alice, bob = await acme.user(), await acme.user()
    client = acme.tenant.client
    a = await create_profile(
        client, alice, name="Alice desk", softwareType="SIP", compatibleModels=["8845"]
    )
    b = await create_profile(client, alice, name="Alice any", description="reception")
    c = await create_profile(
        client, bob, name="Bob SCCP", softwareType="SCCP", compatibleModels=["7941"]
    )

    async def names(flt: dict) -> list[str]:
        data = await client.data(LIST, {"filter": flt})
        return [n["id"] for n in data["phoneProfiles"]["nodes"]]

    assert await names({"ownerId": gid(alice)}) == [b["id"], a["id"]]  # by name
    assert await names({"softwareType": "SIP"}) == [b["id"], a["id"]]  # null fits all
    assert await names({"softwareType": "SCCP"}) == [b["id"], c["id"]]
    assert await names({"compatibleWithModel": "7941"}) == [b["id"], c["id"]]
    assert await names({"compatibleWithModel": "8845", "softwareType": "SIP"}) == [b["id"], a["id"]]
    assert await names({"search": "RECEPTION"}) == [b["id"]]
    assert await names({"search": "bob"}) == [c["id"]]


async def test_listing_pages_with_cursors(acme: Company) -> None:
    owner = await acme.user()
    for i in range(5):
        await create_profile(acme.tenant.client, owner, name=f"P{i}")
    first = (await acme.tenant.client.data(LIST, {"first": 2}))["phoneProfiles"]
    assert [n["name"] for n in first["nodes"]] == ["P0", "P1"]
    assert first["totalCount"] == 5 and first["pageInfo"]["hasNextPage"]
    second = (
        await acme.tenant.client.data(LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]})
    )["phoneProfiles"]
    assert [n["name"] for n in second["nodes"]] == ["P2", "P3"]


async def test_listing_costs_the_same_queries_whatever_the_page_size(
    acme: Company,
    count_queries,  # type: ignore[no-untyped-def]
) -> None:
    owners = [await acme.user() for _ in range(6)]
    for owner in owners:
        await create_profile(acme.tenant.client, owner)
    query = "query($n: Int) { phoneProfiles(first: $n) { nodes { id owner { id username } } } }"

    count_queries.statements.clear()
    await acme.tenant.client.data(query, {"n": 1})
    small = count_queries.count
    count_queries.statements.clear()
    await acme.tenant.client.data(query, {"n": 6})
    assert count_queries.count == small


async def test_other_companys_profiles_are_invisible(acme: Company, globex: Company) -> None:
    theirs = await create_profile(globex.tenant.client, await globex.user())
    client = acme.tenant.client

    assert (await client.data(LIST, {}))["phoneProfiles"]["totalCount"] == 0
    node = await client.data("query($id: ID!) { node(id: $id) { id } }", {"id": theirs["id"]})
    assert node["node"] is None
    update = await client.data(UPDATE, {"id": theirs["id"], "input": {"name": "mine"}})
    assert update["phoneProfileUpdate"]["userErrors"][0]["code"] == "NOT_FOUND"
    delete = await client.data(DELETE, {"id": theirs["id"]})
    assert delete["phoneProfileDelete"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_owner_from_another_company_is_not_found(acme: Company, globex: Company) -> None:
    stranger = await globex.user()
    data = await acme.tenant.client.data(
        CREATE, {"input": {"ownerId": gid(stranger), "name": "x", "cnfXml": DEVICE_XML}}
    )
    assert data["phoneProfileCreate"]["userErrors"] == [
        {"field": ["input", "ownerId"], "code": "NOT_FOUND", "message": "SipUser not found"}
    ]


async def test_user_sees_and_manages_only_own_profiles(acme: Company) -> None:
    me, colleague = await acme.user(), await acme.user()
    theirs = await create_profile(acme.tenant.client, colleague, name="Theirs")
    client = await acme.client_of(me)

    # Created for themselves (the owner may be left out).
    mine = (await client.mutate(CREATE, {"input": {"name": "Mine", "cnfXml": DEVICE_XML}}))[
        "phoneProfile"
    ]
    assert mine["owner"]["id"] == gid(me)
    listed = (await client.data(LIST, {}))["phoneProfiles"]
    assert [n["name"] for n in listed["nodes"]] == ["Mine"]

    renamed = await client.mutate(UPDATE, {"id": mine["id"], "input": {"name": "Still mine"}})
    assert renamed["phoneProfile"]["name"] == "Still mine"
    refused = await client.data(UPDATE, {"id": theirs["id"], "input": {"name": "stolen"}})
    assert refused["phoneProfileUpdate"]["userErrors"][0]["code"] == "NOT_FOUND"
    for_colleague = await client.data(
        CREATE, {"input": {"ownerId": gid(colleague), "name": "x", "cnfXml": DEVICE_XML}}
    )
    assert for_colleague["phoneProfileCreate"]["userErrors"][0]["code"] == "NOT_FOUND"
    give_away = await client.data(UPDATE, {"id": mine["id"], "input": {"ownerId": gid(colleague)}})
    assert give_away["phoneProfileUpdate"]["userErrors"][0]["code"] == "NOT_FOUND"

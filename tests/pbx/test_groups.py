"""SIP groups: fields, callerNameFormat, members of the same domain, deletion rules."""

from __future__ import annotations

from tests.conftest import GraphQLClient
from tests.pbx.conftest import (
    ADD_MEMBERS,
    CREATE_GROUP,
    CREATE_QUEUE,
    DELETE_GROUP,
    REMOVE_MEMBERS,
    UPDATE_GROUP,
    UPDATE_QUEUE,
    Pbx,
    PbxFactory,
    create_domain,
    errors_of,
    payload_of,
)


def group_input(**extra: object) -> dict[str, object]:
    return {"groupName": "sales", "displayName": "Sales", "extensionNumber": "200", **extra}


async def test_group_is_created_with_its_ring_settings(acme: Pbx) -> None:
    group = await acme.group(
        "sales",
        "200",
        ringRetry=True,
        ringExclusive=True,
        callerNameFormat="{displayName} - {srcPhoneNumber}",
    )
    assert group["groupName"] == "sales" and group["displayName"] == "Sales"
    assert group["extensionNumber"] == "200"
    assert group["ringRetry"] is True and group["ringExclusive"] is True
    assert group["callerNameFormat"] == "{displayName} - {srcPhoneNumber}"
    plain = await acme.group("support", "201")
    assert plain["ringRetry"] is plain["ringExclusive"] is False
    assert plain["callerNameFormat"] is None


async def test_group_required_fields_and_formats(acme: Pbx) -> None:
    missing = await payload_of(acme.client, CREATE_GROUP, {"domainId": acme.domain_id, "input": {}})
    assert sorted(errors_of(missing)) == [
        (["input", "displayName"], "REQUIRED"),
        (["input", "extensionNumber"], "REQUIRED"),
        (["input", "groupName"], "REQUIRED"),
    ]
    bad = await payload_of(
        acme.client,
        CREATE_GROUP,
        {
            "domainId": acme.domain_id,
            "input": group_input(groupName="sales team", extensionNumber="2x0"),
        },
    )
    assert sorted(errors_of(bad)) == [
        (["input", "extensionNumber"], "INVALID"),
        (["input", "groupName"], "INVALID"),
    ]


async def test_caller_name_format_accepts_only_the_known_variables(acme: Pbx) -> None:
    good = "{dgrpName}: {displayName} ({srcPhoneNumber})"
    assert (await acme.group("sales", "200", callerNameFormat=good))["callerNameFormat"] == good
    for bad in (
        "{callerName}",
        "{displayName",
        "displayName}",
        "{{displayName}}",
        "{display name}",
        "{}",
        "{displayName} {srcPhoneNumber",
    ):
        payload = await payload_of(
            acme.client,
            CREATE_GROUP,
            {
                "domainId": acme.domain_id,
                "input": group_input(groupName="other", extensionNumber="201", callerNameFormat=bad),
            },
        )
        assert errors_of(payload) == [(["input", "callerNameFormat"], "INVALID")], bad


async def test_queue_caller_name_format_follows_the_same_rule(acme: Pbx) -> None:
    queue = await acme.queue("support", "300", callerNameFormat="{displayName}")
    refused = await payload_of(
        acme.client,
        UPDATE_QUEUE,
        {"id": queue["id"], "input": {"callerNameFormat": "{queueName}"}},
    )
    assert errors_of(refused) == [(["input", "callerNameFormat"], "INVALID")]
    created = await payload_of(
        acme.client,
        CREATE_QUEUE,
        {
            "domainId": acme.domain_id,
            "input": {
                "queueName": "q2",
                "displayName": "Q2",
                "extensionNumber": "301",
                "callerNameFormat": "}{",
            },
        },
    )
    assert errors_of(created) == [(["input", "callerNameFormat"], "INVALID")]


async def test_duplicate_group_name_and_extension_are_refused(acme: Pbx) -> None:
    await acme.group("sales", "200")
    await acme.user("joe", "100")
    payload = await payload_of(
        acme.client,
        CREATE_GROUP,
        {"domainId": acme.domain_id, "input": group_input(extensionNumber="100")},
    )
    assert sorted(errors_of(payload)) == [
        (["input", "extensionNumber"], "DUPLICATE"),
        (["input", "groupName"], "DUPLICATE"),
    ]


async def test_group_update_is_partial_and_keeps_required_fields(acme: Pbx) -> None:
    group = await acme.group("sales", "200", ringRetry=True, callerNameFormat="{dgrpName}")
    updated = await acme.client.mutate(
        UPDATE_GROUP, {"id": group["id"], "input": {"displayName": "Sales Dept", "ringExclusive": True}}
    )
    assert updated["sipGroup"] == {
        **group,
        "displayName": "Sales Dept",
        "ringExclusive": True,
    }
    cleared = await acme.client.mutate(
        UPDATE_GROUP, {"id": group["id"], "input": {"callerNameFormat": None}}
    )
    assert cleared["sipGroup"]["callerNameFormat"] is None
    refused = await payload_of(
        acme.client,
        UPDATE_GROUP,
        {"id": group["id"], "input": {"groupName": None, "ringRetry": None}},
    )
    assert sorted(errors_of(refused)) == [
        (["input", "groupName"], "REQUIRED"),
        (["input", "ringRetry"], "REQUIRED"),
    ]
    renumbered = await acme.client.mutate(
        UPDATE_GROUP, {"id": group["id"], "input": {"extensionNumber": "210"}}
    )
    assert renumbered["sipGroup"]["extensionNumber"] == "210"
    assert (await acme.user("joe", "200"))["extensionNumber"] == "200"


async def test_members_are_added_and_removed(acme: Pbx) -> None:
    group = await acme.group("sales", "200")
    joe = await acme.user("joe", "100")
    ann = await acme.user("ann", "101")
    added = await acme.add_members(group["id"], joe["id"], ann["id"], joe["id"])
    assert added["members"]["totalCount"] == 2
    assert [m["username"] for m in added["members"]["nodes"]] == ["ann", "joe"]
    again = await acme.add_members(group["id"], joe["id"])
    assert again["members"]["totalCount"] == 2
    removed = await acme.client.mutate(
        REMOVE_MEMBERS, {"groupId": group["id"], "userIds": [joe["id"]]}
    )
    assert [m["username"] for m in removed["sipGroup"]["members"]["nodes"]] == ["ann"]


async def test_only_users_of_the_same_domain_can_be_members(
    acme: Pbx, pbx_factory: PbxFactory, admin: GraphQLClient
) -> None:
    group = await acme.group("sales", "200")
    joe = await acme.user("joe", "100")
    branch_id = await create_domain(admin, acme.company_id, "branch.acme.example")
    branch = Pbx(acme.company_id, branch_id, "branch.acme.example", acme.client)
    stranger = await branch.user("bob", "100")
    globex = await pbx_factory("Globex")
    outsider = await globex.user("eve", "100")
    payload = await payload_of(
        acme.client,
        ADD_MEMBERS,
        {"groupId": group["id"], "userIds": [joe["id"], stranger["id"], outsider["id"], "junk"]},
    )
    assert sorted(errors_of(payload)) == [
        (["userIds", "1"], "INVALID"),
        (["userIds", "2"], "NOT_FOUND"),
        (["userIds", "3"], "NOT_FOUND"),
    ]
    data = await acme.client.data(
        "query($id: ID!) { sipGroup(id: $id) { members { totalCount } } }", {"id": group["id"]}
    )
    assert data["sipGroup"]["members"]["totalCount"] == 0
    removal = await payload_of(
        acme.client, REMOVE_MEMBERS, {"groupId": group["id"], "userIds": [stranger["id"]]}
    )
    assert errors_of(removal) == [(["userIds", "0"], "INVALID")]
    unknown_group = await payload_of(
        acme.client, ADD_MEMBERS, {"groupId": "junk", "userIds": [joe["id"]]}
    )
    assert errors_of(unknown_group) == [(["groupId"], "NOT_FOUND")]


async def test_group_members_connection_pages_by_username(acme: Pbx) -> None:
    group = await acme.group("sales", "200")
    users = [await acme.user(name, str(100 + i)) for i, name in enumerate(["cat", "ann", "bob"])]
    await acme.add_members(group["id"], *[u["id"] for u in users])
    query = """query($id: ID!, $after: String) { sipGroup(id: $id) {
      members(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        nodes { username } } } }"""
    first = (await acme.client.data(query, {"id": group["id"]}))["sipGroup"]["members"]
    assert [u["username"] for u in first["nodes"]] == ["ann", "bob"]
    assert first["pageInfo"]["hasNextPage"] is True and first["totalCount"] == 3
    rest = (
        await acme.client.data(query, {"id": group["id"], "after": first["pageInfo"]["endCursor"]})
    )["sipGroup"]["members"]
    assert [u["username"] for u in rest["nodes"]] == ["cat"]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_group_used_by_a_queue_cannot_be_deleted(acme: Pbx) -> None:
    group = await acme.group("sales", "200")
    joe = await acme.user("joe", "100")
    await acme.add_members(group["id"], joe["id"])
    queue = await acme.queue("support", "300")
    await acme.queue_member(queue["id"], group["id"])
    payload = await payload_of(acme.client, DELETE_GROUP, {"id": group["id"]})
    assert errors_of(payload) == [(["id"], "IN_USE")]
    await acme.client.mutate(
        "mutation($id: ID!) { sipQueueDelete(id: $id) { deletedId userErrors { code } } }",
        {"id": queue["id"]},
    )
    deleted = await acme.client.mutate(DELETE_GROUP, {"id": group["id"]})
    assert deleted["deletedId"] == group["id"]
    data = await acme.client.data(
        "query($id: ID!) { sipUser(id: $id) { groups { id } } }", {"id": joe["id"]}
    )
    assert data["sipUser"]["groups"] == []
    assert (await acme.user("ann", "200"))["extensionNumber"] == "200"

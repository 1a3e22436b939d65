"""SIP queues and their members: ring settings, ring order, reordering."""

from __future__ import annotations

from tests.conftest import GraphQLClient
from tests.pbx.conftest import (
    CREATE_MEMBER,
    CREATE_QUEUE,
    DELETE_MEMBER,
    DELETE_QUEUE,
    REORDER_MEMBERS,
    UPDATE_MEMBER,
    UPDATE_QUEUE,
    Pbx,
    create_domain,
    errors_of,
    payload_of,
)


async def test_queue_is_created_updated_and_deleted(acme: Pbx) -> None:
    queue = await acme.queue("support", "300", callerNameFormat="{dgrpName}")
    assert queue["queueName"] == "support" and queue["displayName"] == "Support"
    assert queue["extensionNumber"] == "300" and queue["members"] == []
    updated = await acme.client.mutate(
        UPDATE_QUEUE, {"id": queue["id"], "input": {"displayName": "Help desk"}}
    )
    assert updated["sipQueue"] == {**queue, "displayName": "Help desk"}
    deleted = await acme.client.mutate(DELETE_QUEUE, {"id": queue["id"]})
    assert deleted["deletedId"] == queue["id"]
    assert (await acme.user("joe", "300"))["extensionNumber"] == "300"


async def test_queue_required_fields_and_uniqueness(acme: Pbx) -> None:
    missing = await payload_of(acme.client, CREATE_QUEUE, {"domainId": acme.domain_id, "input": {}})
    assert sorted(errors_of(missing)) == [
        (["input", "displayName"], "REQUIRED"),
        (["input", "extensionNumber"], "REQUIRED"),
        (["input", "queueName"], "REQUIRED"),
    ]
    queue = await acme.queue("support", "300")
    await acme.group("sales", "200")
    clash = await payload_of(
        acme.client,
        CREATE_QUEUE,
        {
            "domainId": acme.domain_id,
            "input": {"queueName": "support", "displayName": "S", "extensionNumber": "200"},
        },
    )
    assert sorted(errors_of(clash)) == [
        (["input", "extensionNumber"], "DUPLICATE"),
        (["input", "queueName"], "DUPLICATE"),
    ]
    cleared = await payload_of(
        acme.client,
        UPDATE_QUEUE,
        {"id": queue["id"], "input": {"queueName": None, "extensionNumber": "abc"}},
    )
    assert sorted(errors_of(cleared)) == [
        (["input", "extensionNumber"], "INVALID"),
        (["input", "queueName"], "REQUIRED"),
    ]


async def test_members_get_defaults_and_ring_after_the_last(acme: Pbx) -> None:
    queue = await acme.queue("support", "300")
    sales = await acme.group("sales", "200")
    tech = await acme.group("tech", "201")
    first = await acme.queue_member(queue["id"], sales["id"])
    member = first["members"][0]
    assert member["group"] == {"id": sales["id"], "groupName": "sales"}
    assert (member["ringStrategy"], member["ringAttempts"], member["ringSecs"]) == ("ALL", 1, 20)
    assert member["ringOrder"] == 0
    second = await acme.queue_member(
        queue["id"], tech["id"], ringStrategy="HUNT_LONGEST_IDLE", ringAttempts=3, ringSecs=600
    )
    assert [(m["group"]["groupName"], m["ringOrder"]) for m in second["members"]] == [
        ("sales", 0),
        ("tech", 1),
    ]
    assert second["members"][1]["ringStrategy"] == "HUNT_LONGEST_IDLE"
    assert (second["members"][1]["ringAttempts"], second["members"][1]["ringSecs"]) == (3, 600)


async def test_members_are_listed_in_ring_order(acme: Pbx) -> None:
    queue = await acme.queue("support", "300")
    groups = [await acme.group(name, str(200 + i)) for i, name in enumerate(["a", "b", "c"])]
    await acme.queue_member(queue["id"], groups[0]["id"], ringOrder=5)
    await acme.queue_member(queue["id"], groups[1]["id"], ringOrder=1)
    latest = await acme.queue_member(queue["id"], groups[2]["id"])
    assert [(m["group"]["groupName"], m["ringOrder"]) for m in latest["members"]] == [
        ("b", 1),
        ("a", 5),
        ("c", 6),
    ]


async def test_member_settings_are_validated(acme: Pbx, admin: GraphQLClient) -> None:
    queue = await acme.queue("support", "300")
    group = await acme.group("sales", "200")
    cases = [
        ({}, [(["input", "groupId"], "REQUIRED")]),
        ({"groupId": "junk"}, [(["input", "groupId"], "NOT_FOUND")]),
        ({"groupId": group["id"], "ringAttempts": 0}, [(["input", "ringAttempts"], "INVALID")]),
        ({"groupId": group["id"], "ringSecs": 0}, [(["input", "ringSecs"], "INVALID")]),
        ({"groupId": group["id"], "ringSecs": 601}, [(["input", "ringSecs"], "INVALID")]),
        ({"groupId": group["id"], "ringOrder": -1}, [(["input", "ringOrder"], "INVALID")]),
        ({"groupId": group["id"], "ringStrategy": None}, [(["input", "ringStrategy"], "REQUIRED")]),
    ]
    for member_input, expected in cases:
        payload = await payload_of(
            acme.client, CREATE_MEMBER, {"queueId": queue["id"], "input": member_input}
        )
        assert errors_of(payload) == expected, member_input
        assert payload["sipQueue"] is None
    bad_strategy = await acme.client.execute(
        CREATE_MEMBER,
        {"queueId": queue["id"], "input": {"groupId": group["id"], "ringStrategy": "RANDOM"}},
    )
    assert bad_strategy["errors"]
    branch_id = await create_domain(admin, acme.company_id, "branch.acme.example")
    branch = Pbx(acme.company_id, branch_id, "branch.acme.example", acme.client)
    foreign = await branch.group("sales", "200")
    payload = await payload_of(
        acme.client, CREATE_MEMBER, {"queueId": queue["id"], "input": {"groupId": foreign["id"]}}
    )
    assert errors_of(payload) == [(["input", "groupId"], "INVALID")]
    unknown_queue = await payload_of(
        acme.client, CREATE_MEMBER, {"queueId": "junk", "input": {"groupId": group["id"]}}
    )
    assert errors_of(unknown_queue) == [(["queueId"], "NOT_FOUND")]


async def test_member_update_is_partial_and_member_delete_returns_the_queue(acme: Pbx) -> None:
    queue = await acme.queue("support", "300")
    sales = await acme.group("sales", "200")
    tech = await acme.group("tech", "201")
    created = await acme.queue_member(queue["id"], sales["id"], ringSecs=30)
    member_id = created["members"][0]["id"]
    updated = await acme.client.mutate(
        UPDATE_MEMBER, {"id": member_id, "input": {"groupId": tech["id"], "ringAttempts": 2}}
    )
    member = updated["sipQueue"]["members"][0]
    assert updated["sipQueue"]["id"] == queue["id"]
    assert member["group"]["groupName"] == "tech"
    assert (member["ringAttempts"], member["ringSecs"], member["ringStrategy"]) == (2, 30, "ALL")
    refused = await payload_of(
        acme.client,
        UPDATE_MEMBER,
        {"id": member_id, "input": {"groupId": None, "ringSecs": 1000, "ringOrder": None}},
    )
    assert sorted(errors_of(refused)) == [
        (["input", "groupId"], "REQUIRED"),
        (["input", "ringOrder"], "REQUIRED"),
        (["input", "ringSecs"], "INVALID"),
    ]
    deleted = await acme.client.mutate(DELETE_MEMBER, {"id": member_id})
    assert deleted["sipQueue"]["id"] == queue["id"] and deleted["sipQueue"]["members"] == []
    gone = await payload_of(acme.client, DELETE_MEMBER, {"id": member_id})
    assert errors_of(gone) == [(["id"], "NOT_FOUND")]


async def test_reorder_renumbers_ring_order(acme: Pbx) -> None:
    queue = await acme.queue("support", "300")
    for i, name in enumerate(["a", "b", "c"]):
        group = await acme.group(name, str(200 + i))
        latest = await acme.queue_member(queue["id"], group["id"], ringOrder=10 * i + 5)
    a, b, c = (m["id"] for m in latest["members"])
    payload = await acme.client.mutate(
        REORDER_MEMBERS, {"queueId": queue["id"], "memberIds": [c, a, b]}
    )
    members = payload["sipQueue"]["members"]
    assert [(m["group"]["groupName"], m["ringOrder"]) for m in members] == [
        ("c", 0),
        ("a", 1),
        ("b", 2),
    ]


async def test_reorder_must_list_exactly_the_queue_members(acme: Pbx) -> None:
    queue = await acme.queue("support", "300")
    other_queue = await acme.queue("sales", "301")
    groups = [await acme.group(name, str(200 + i)) for i, name in enumerate(["a", "b"])]
    for group in groups:
        latest = await acme.queue_member(queue["id"], group["id"])
    a, b = (m["id"] for m in latest["members"])
    stranger = (await acme.queue_member(other_queue["id"], groups[0]["id"]))["members"][0]["id"]
    for member_ids in ([a], [a, b, b], [a, b, stranger], [b, stranger], [a, "junk"], []):
        payload = await payload_of(
            acme.client, REORDER_MEMBERS, {"queueId": queue["id"], "memberIds": member_ids}
        )
        assert errors_of(payload) == [(["memberIds"], "INVALID")], member_ids
    data = await acme.client.data(
        "query($id: ID!) { sipQueue(id: $id) { members { id ringOrder } } }", {"id": queue["id"]}
    )
    assert data["sipQueue"]["members"] == [{"id": a, "ringOrder": 0}, {"id": b, "ringOrder": 1}]
    unknown = await payload_of(
        acme.client, REORDER_MEMBERS, {"queueId": "junk", "memberIds": [a, b]}
    )
    assert errors_of(unknown) == [(["queueId"], "NOT_FOUND")]

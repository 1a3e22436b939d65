"""Who sees and changes what: company admins stay inside their company, USER tokens
read only their own SIP user and change nothing."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient
from tests.pbx.conftest import (
    ADD_MEMBERS,
    CREATE_GROUP,
    CREATE_MEMBER,
    CREATE_NETWORK,
    CREATE_QUEUE,
    CREATE_USER,
    DELETE_DOMAIN,
    DELETE_GROUP,
    DELETE_MEMBER,
    DELETE_NETWORK,
    DELETE_QUEUE,
    DELETE_USER,
    REMOVE_MEMBERS,
    REORDER_MEMBERS,
    UPDATE_DOMAIN,
    UPDATE_GROUP,
    UPDATE_MEMBER,
    UPDATE_NETWORK,
    UPDATE_QUEUE,
    UPDATE_USER,
    Pbx,
    PbxFactory,
    errors_of,
    payload_of,
    user_input,
)

EVERYTHING = """
query($domain: ID!) {
  sipDomains { totalCount nodes { id } }
  sipUsers { totalCount nodes { id } }
  sipDomain(id: $domain) { id name
    users { totalCount nodes { id username } }
    groups { totalCount nodes { id } }
    queues { totalCount nodes { id } }
    trustedNetworks { id } }
}
"""
NODE = "query($id: ID!) { node(id: $id) { id } }"


async def populated(pbx: Pbx) -> dict[str, str]:
    """One of everything in the domain; returns their ids by kind."""
    joe = await pbx.user("joe", "100", pin="1234")
    ann = await pbx.user("ann", "101")
    group = await pbx.group("sales", "200")
    await pbx.add_members(group["id"], joe["id"])
    queue = await pbx.queue("support", "300")
    queue = await pbx.queue_member(queue["id"], group["id"])
    network = await pbx.network("10.0.0.0/8")
    return {
        "domain": pbx.domain_id,
        "user": joe["id"],
        "other_user": ann["id"],
        "group": group["id"],
        "queue": queue["id"],
        "member": queue["members"][0]["id"],
        "network": network["id"],
    }


async def test_company_admin_sees_nothing_of_another_company(
    pbx_factory: PbxFactory,
) -> None:
    acme = await pbx_factory("Acme")
    ids = await populated(acme)
    globex = await pbx_factory("Globex")
    await globex.user("eve", "100")
    data = await globex.client.data(EVERYTHING, {"domain": ids["domain"]})
    assert data["sipDomains"]["nodes"] == [{"id": globex.domain_id}]
    assert data["sipUsers"]["totalCount"] == 1
    assert data["sipDomain"] is None
    for kind, global_id in ids.items():
        assert (await globex.client.data(NODE, {"id": global_id}))["node"] is None, kind
    lookups = {
        "sipUser": ids["user"],
        "sipGroup": ids["group"],
        "sipQueue": ids["queue"],
        "trustedNetwork": ids["network"],
    }
    for field, global_id in lookups.items():
        data = await globex.client.data(f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}", {"id": global_id})
        assert data[field] is None, field
    filtered = await globex.client.data(
        "query($c: ID!) { sipDomains(filter: {companyId: $c}) { totalCount } }",
        {"c": acme.company_id},
    )
    assert filtered["sipDomains"]["totalCount"] == 0
    by_domain = await globex.client.data(
        "query($d: ID!) { sipUsers(domainId: $d) { totalCount } }", {"d": ids["domain"]}
    )
    assert by_domain["sipUsers"]["totalCount"] == 0


async def test_company_admin_cannot_change_another_company(
    admin: GraphQLClient, pbx_factory: PbxFactory
) -> None:
    acme = await pbx_factory("Acme")
    ids = await populated(acme)
    globex = await pbx_factory("Globex")
    own_group = await globex.group("sales", "200")
    own_queue = await globex.queue("support", "300")
    before = await admin.data(EVERYTHING, {"domain": ids["domain"]})
    attempts: list[tuple[str, dict[str, Any], list[str]]] = [
        (UPDATE_DOMAIN, {"id": ids["domain"], "input": {"displayName": "x"}}, ["id"]),
        (CREATE_USER, {"domainId": ids["domain"], "input": user_input("x", "900")}, ["domainId"]),
        (UPDATE_USER, {"id": ids["user"], "input": {"displayName": "x"}}, ["id"]),
        (DELETE_USER, {"id": ids["user"]}, ["id"]),
        (
            CREATE_GROUP,
            {"domainId": ids["domain"], "input": {"groupName": "x", "displayName": "x",
                                                  "extensionNumber": "901"}},
            ["domainId"],
        ),
        (UPDATE_GROUP, {"id": ids["group"], "input": {"displayName": "x"}}, ["id"]),
        (DELETE_GROUP, {"id": ids["group"]}, ["id"]),
        (ADD_MEMBERS, {"groupId": ids["group"], "userIds": [ids["other_user"]]}, ["groupId"]),
        (REMOVE_MEMBERS, {"groupId": ids["group"], "userIds": [ids["user"]]}, ["groupId"]),
        (ADD_MEMBERS, {"groupId": own_group["id"], "userIds": [ids["user"]]}, ["userIds", "0"]),
        (
            CREATE_QUEUE,
            {"domainId": ids["domain"], "input": {"queueName": "x", "displayName": "x",
                                                  "extensionNumber": "902"}},
            ["domainId"],
        ),
        (UPDATE_QUEUE, {"id": ids["queue"], "input": {"displayName": "x"}}, ["id"]),
        (DELETE_QUEUE, {"id": ids["queue"]}, ["id"]),
        (CREATE_MEMBER, {"queueId": ids["queue"], "input": {"groupId": own_group["id"]}}, ["queueId"]),
        (
            CREATE_MEMBER,
            {"queueId": own_queue["id"], "input": {"groupId": ids["group"]}},
            ["input", "groupId"],
        ),
        (UPDATE_MEMBER, {"id": ids["member"], "input": {"ringSecs": 5}}, ["id"]),
        (DELETE_MEMBER, {"id": ids["member"]}, ["id"]),
        (REORDER_MEMBERS, {"queueId": ids["queue"], "memberIds": [ids["member"]]}, ["queueId"]),
        (CREATE_NETWORK, {"domainId": ids["domain"], "input": {"network": "1.2.3.0/24"}}, ["domainId"]),
        (UPDATE_NETWORK, {"id": ids["network"], "input": {"description": "x"}}, ["id"]),
        (DELETE_NETWORK, {"id": ids["network"]}, ["id"]),
    ]
    for query, variables, field in attempts:
        payload = await payload_of(globex.client, query, variables)
        assert errors_of(payload) == [(field, "NOT_FOUND")], (query.split("{")[1], variables)
    body = await globex.client.execute(DELETE_DOMAIN, {"id": ids["domain"]})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await admin.data(EVERYTHING, {"domain": ids["domain"]}) == before


async def test_user_token_reads_only_its_own_user_and_domain(
    acme: Pbx, pbx_factory: PbxFactory, user_client
) -> None:  # type: ignore[no-untyped-def]
    ids = await populated(acme)
    globex = await pbx_factory("Globex")
    await globex.user("eve", "100")
    joe = await user_client(ids["user"])
    viewer = await joe.data("{ viewer { role sipUser { id username hasPin } } }")
    assert viewer["viewer"] == {
        "role": "USER",
        "sipUser": {"id": ids["user"], "username": "joe", "hasPin": True},
    }
    data = await joe.data(EVERYTHING, {"domain": ids["domain"]})
    assert data["sipDomains"]["nodes"] == [{"id": ids["domain"]}]
    assert data["sipUsers"]["nodes"] == [{"id": ids["user"]}]
    domain = data["sipDomain"]
    assert domain["users"]["nodes"] == [{"id": ids["user"], "username": "joe"}]
    assert domain["groups"]["nodes"] == [{"id": ids["group"]}]  # joe's own group
    assert domain["queues"]["totalCount"] == 0 and domain["trustedNetworks"] == []
    own = await joe.data(
        "query($id: ID!) { sipUser(id: $id) { username groups { groupName } } }",
        {"id": ids["user"]},
    )
    assert own["sipUser"] == {"username": "joe", "groups": [{"groupName": "sales"}]}
    for kind in ("other_user", "queue", "member", "network"):
        assert (await joe.data(NODE, {"id": ids[kind]}))["node"] is None, kind
    members = await joe.data(
        "query($id: ID!) { sipGroup(id: $id) { members { nodes { id } } } }", {"id": ids["group"]}
    )
    assert members["sipGroup"]["members"]["nodes"] == [{"id": ids["user"]}]


async def test_user_token_changes_nothing(acme: Pbx, user_client) -> None:  # type: ignore[no-untyped-def]
    ids = await populated(acme)
    joe = await user_client(ids["user"])
    attempts: list[tuple[str, dict[str, Any]]] = [
        (UPDATE_USER, {"id": ids["user"], "input": {"displayName": "Me"}}),
        (DELETE_USER, {"id": ids["user"]}),
        (CREATE_USER, {"domainId": ids["domain"], "input": user_input("x", "900")}),
        (UPDATE_DOMAIN, {"id": ids["domain"], "input": {"recordingEnabled": True}}),
        (UPDATE_GROUP, {"id": ids["group"], "input": {"displayName": "x"}}),
        (REMOVE_MEMBERS, {"groupId": ids["group"], "userIds": [ids["user"]]}),
        (UPDATE_QUEUE, {"id": ids["queue"], "input": {"displayName": "x"}}),
        (DELETE_MEMBER, {"id": ids["member"]}),
        (CREATE_NETWORK, {"domainId": ids["domain"], "input": {"network": "1.2.3.0/24"}}),
        (DELETE_NETWORK, {"id": ids["network"]}),
    ]
    for query, variables in attempts:
        body = await joe.execute(query, variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", query.split("{")[1]
        assert body["data"] is None
    data = await acme.client.data(
        "query($id: ID!) { sipUser(id: $id) { displayName groups { id } } }", {"id": ids["user"]}
    )
    assert data["sipUser"] == {"displayName": "Joe", "groups": [{"id": ids["group"]}]}

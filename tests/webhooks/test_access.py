"""Who manages webhooks, whose events they get, and where they may post (CONTRACT §11)."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.ids import to_global_id
from tests.conftest import GraphQLClient, LiveServer, create_token
from tests.webhooks.conftest import (
    CREATE,
    DELETE,
    LIST,
    ROTATE,
    UPDATE,
    Receiver,
    change_settings,
    create_webhook,
    deliveries,
    register_phone,
    until_deliveries,
)

REGISTERED = ["PHONE_REGISTERED"]


async def test_a_company_gets_only_its_own_events_and_sees_only_its_own_webhooks(
    live_server: LiveServer,
    admin: GraphQLClient,
    tenant_factory: Any,
    receiver: Receiver,
    other_receiver: Receiver,
) -> None:
    acme = await tenant_factory("Acme")
    globex = await tenant_factory("Globex")
    ours, _ = await create_webhook(acme.client, acme.company_id, receiver.url, REGISTERED)
    theirs, _ = await create_webhook(
        globex.client, globex.company_id, other_receiver.url, REGISTERED
    )

    await register_phone(live_server, admin, acme.company_id, "00AABB000101")
    await receiver.until(1)
    await until_deliveries(acme.client, ours["id"], lambda d: d and d[0]["status"] == "DELIVERED")
    assert other_receiver.received == []
    assert await deliveries(admin, theirs["id"]) == []

    # Another company's webhook does not exist for a company admin.
    listed = (await globex.client.data(LIST))["webhooks"]
    assert [w["id"] for w in listed["nodes"]] == [theirs["id"]]
    assert listed["totalCount"] == 1
    node = await globex.client.data(
        "query($id: ID!) { node(id: $id) { id } }", {"id": ours["id"]}
    )
    assert node["node"] is None
    for query, variables in (
        (UPDATE, {"id": ours["id"], "input": {"active": False}}),
        (DELETE, {"id": ours["id"]}),
        (ROTATE, {"id": ours["id"]}),
    ):
        payload = next(iter((await globex.client.data(query, variables)).values()))
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["id"], "NOT_FOUND")]
    # Nor may it register one for another company.
    refused = (
        await globex.client.data(
            CREATE,
            {"input": {"companyId": acme.company_id, "url": receiver.url, "events": REGISTERED}},
        )
    )["webhookCreate"]
    assert refused["webhook"] is None and refused["secret"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "companyId"], "NOT_FOUND")
    ]
    # Still Acme's, unchanged; system admins see both.
    everything = (await admin.data(LIST))["webhooks"]
    assert {w["id"] for w in everything["nodes"]} == {ours["id"], theirs["id"]}
    assert all(w["active"] for w in everything["nodes"])


async def test_user_tokens_can_neither_see_nor_manage_webhooks(
    live_server: LiveServer, admin: GraphQLClient, tenant_factory: Any, receiver: Receiver
) -> None:
    from app.pbx.models import SipDomain, SipUser
    from tests.deploy.conftest import pk_of

    acme = await tenant_factory("Acme")
    webhook, _ = await create_webhook(acme.client, acme.company_id, receiver.url, REGISTERED)
    domain = await SipDomain.create(
        company_id=pk_of(acme.company_id), name="acme.example.net", display_name="Acme"
    )
    user = await SipUser.create(
        domain=domain, username="alice", display_name="Alice", extension_number="201"
    )
    token = await create_token(
        admin, "USER", sip_user_id=to_global_id("SipUser", user.id), name="alice"
    )
    alice = live_server.client(token)

    listed = await alice.execute(LIST)
    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    node = await alice.data("query($id: ID!) { node(id: $id) { id } }", {"id": webhook["id"]})
    assert node["node"] is None
    for query, variables in (
        (CREATE, {"input": {"companyId": acme.company_id, "url": receiver.url,
                            "events": REGISTERED}}),
        (UPDATE, {"id": webhook["id"], "input": {"active": False}}),
        (DELETE, {"id": webhook["id"]}),
        (ROTATE, {"id": webhook["id"]}),
    ):
        body = await alice.execute(query, variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body


async def test_update_changes_only_what_is_sent_and_delete_removes_the_webhook(
    live_server: LiveServer, tenant_factory: Any, receiver: Receiver
) -> None:
    acme = await tenant_factory("Acme")
    webhook, _ = await create_webhook(
        acme.client, acme.company_id, receiver.url, REGISTERED, description="CRM"
    )
    changed = (
        await acme.client.mutate(
            UPDATE,
            {"id": webhook["id"], "input": {"events": ["DEPLOY_JOB_ENDED", "PHONE_REGISTERED"]}},
        )
    )["webhook"]
    assert changed["events"] == ["DEPLOY_JOB_ENDED", "PHONE_REGISTERED"]
    assert changed["description"] == "CRM" and changed["url"] == receiver.url
    bad = (
        await acme.client.data(UPDATE, {"id": webhook["id"], "input": {"events": []}})
    )["webhookUpdate"]
    assert [(e["field"], e["code"]) for e in bad["userErrors"]] == [
        (["input", "events"], "REQUIRED")
    ]
    deleted = (await acme.client.mutate(DELETE, {"id": webhook["id"]}))["deletedId"]
    assert deleted == webhook["id"]
    assert (await acme.client.data(LIST))["webhooks"]["nodes"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://100.100.100.200/hook",
        "http://2130706433/hook",
        "http://0x7f.1/hook",
        "http://0177.0.0.1/hook",
        "http://[0:0:0:0:0:ffff:7f00:1]/hook",
        "http://\uff11\uff12\uff17.0.0.1/hook",
        # IPv6 addresses leading to a private IPv4 one: IPv4-compatible, NAT64, 6to4.
        "http://[::127.0.0.1]/hook",
        "http://[64:ff9b::10.0.0.5]/hook",
        "http://[2002:a00:5::1]/hook",
    ],
)
async def test_private_targets_are_refused_without_the_setting(
    live_server: LiveServer, tenant_factory: Any, url: str
) -> None:
    change_settings(webhook_allow_private=False)
    acme = await tenant_factory("Acme")
    payload = (
        await acme.client.data(
            CREATE, {"input": {"companyId": acme.company_id, "url": url, "events": REGISTERED}}
        )
    )["webhookCreate"]
    assert payload["webhook"] is None and payload["secret"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "url"], "INVALID")
    ]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.net/hook",
        "file:///etc/passwd",
        "not a url",
        "http:///nohost",
        "",
        # Host names no name lookup takes (an empty label, a label over 63 characters).
        "http://a..example.net/hook",
        "http://" + "a" * 64 + ".example.net/hook",
    ],
)
async def test_urls_that_are_not_http_are_refused(
    live_server: LiveServer, tenant_factory: Any, url: str
) -> None:
    acme = await tenant_factory("Acme")
    payload = (
        await acme.client.data(
            CREATE, {"input": {"companyId": acme.company_id, "url": url, "events": REGISTERED}}
        )
    )["webhookCreate"]
    assert [e["field"] for e in payload["userErrors"]] == [["input", "url"]]
    assert payload["userErrors"][0]["code"] in ("INVALID", "REQUIRED")


async def test_a_public_address_is_accepted_without_the_setting(
    live_server: LiveServer, tenant_factory: Any
) -> None:
    change_settings(webhook_allow_private=False)
    acme = await tenant_factory("Acme")
    webhook, secret = await create_webhook(
        acme.client, acme.company_id, "https://93.184.215.14/hook", REGISTERED
    )
    assert webhook["url"] == "https://93.184.215.14/hook" and secret
    # Changing it to a private address is refused the same way, and changes nothing.
    moved = (
        await acme.client.data(
            UPDATE, {"id": webhook["id"], "input": {"url": "http://10.0.0.5/hook"}}
        )
    )["webhookUpdate"]
    assert [(e["field"], e["code"]) for e in moved["userErrors"]] == [
        (["input", "url"], "INVALID")
    ]
    listed = (await acme.client.data(LIST))["webhooks"]["nodes"]
    assert [w["url"] for w in listed] == ["https://93.184.215.14/hook"]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::ffff:127.0.0.1]",
        # Full-width digits and an ideographic full stop, which the HTTP client folds
        # into the address 127.0.0.1 (and then connects to without a name lookup).
        "\uff11\uff12\uff17.0.0.1",
        "127\u30020.0.1",
    ],
)
async def test_a_private_target_is_checked_again_at_delivery(
    live_server: LiveServer,
    admin: GraphQLClient,
    tenant_factory: Any,
    receiver: Receiver,
    host: str,
) -> None:
    """Allowed when registered, refused once the setting is off: checked on the address
    the host resolves to when the delivery is made (a name through the resolver, an IP
    literal before the connection), and nothing is sent."""
    acme = await tenant_factory("Acme")
    url = receiver.url.replace("127.0.0.1", host)
    webhook, _ = await create_webhook(acme.client, acme.company_id, url, REGISTERED)
    change_settings(webhook_allow_private=False)
    await register_phone(live_server, admin, acme.company_id, "00AABB000102")
    [delivery] = await until_deliveries(
        acme.client,
        webhook["id"],
        lambda d: d and (d[0]["attempts"] >= 2 or d[0]["status"] != "PENDING"),
    )
    assert receiver.received == []
    assert delivery["status"] == "PENDING"
    assert delivery["lastStatusCode"] is None
    assert "no address a webhook may reach" in delivery["lastError"] or (
        "not one a webhook may reach" in delivery["lastError"]
    )
    assert receiver.received == []


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "127.1", "0x7f000001.0"])
@pytest.mark.parametrize("allow_private", [False, True])
async def test_a_host_that_only_looks_like_an_address_is_refused(
    live_server: LiveServer, tenant_factory: Any, receiver: Receiver, host: str,
    allow_private: bool,
) -> None:
    """Numbers the socket layer reads as an IPv4 address (127.0.0.1 here) but that are
    no plain address: refused when given, whatever the setting, rather than accepted
    and never delivered."""
    change_settings(webhook_allow_private=allow_private)
    acme = await tenant_factory("Acme")
    url = receiver.url.replace("127.0.0.1", host)
    payload = (
        await acme.client.data(
            CREATE, {"input": {"companyId": acme.company_id, "url": url, "events": REGISTERED}}
        )
    )["webhookCreate"]
    assert payload["webhook"] is None and payload["secret"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "url"], "INVALID")
    ]

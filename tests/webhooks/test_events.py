"""Each event is raised by its capability's own code (CONTRACT §11): a deploy job that
ends (a simulated phone rebooted), hot-desk logins and logouts, a phone registering
through the provisioning endpoint — and the receivers of the capabilities built apart."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from app.core.ids import to_global_id
from app.webhooks import receivers
from app.webhooks.models import WebhookDelivery
from tests.conftest import GraphQLClient, LiveServer
from tests.deploy.conftest import DeployWorld
from tests.hotdesk.conftest import HotdeskWorld
from tests.webhooks.conftest import (
    Receiver,
    create_webhook,
    register_phone,
    signature_valid,
    until_deliveries,
)

REBOOT = """
mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } userErrors { message } } }
"""


async def test_a_deploy_job_that_ends_is_told_with_its_status_kind_and_restart(
    world: DeployWorld, receiver: Receiver
) -> None:
    webhook, secret = await create_webhook(
        world.tenant.client, world.tenant.company_id, receiver.url, ["DEPLOY_JOB_ENDED"]
    )
    sim = await world.sim()
    phone = await world.phone(sim)
    job_id = (await world.admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]["id"]
    job = await world.wait_job(job_id)
    assert job["status"] == "SUCCEEDED"

    got = await receiver.until_event("DEPLOY_JOB_ENDED")
    assert signature_valid(secret, got)
    assert got.json["data"] == {
        "id": job_id,
        "phoneId": to_global_id("Phone", phone.id),
        "mac": ":".join(sim.mac[i : i + 2] for i in range(0, 12, 2)),
        "status": "SUCCEEDED",
        "kind": "REBOOT",
        "restart": job["restart"],
    }
    assert job["restart"] == "ok"
    [delivery] = await until_deliveries(
        world.tenant.client, webhook["id"], lambda d: d and d[0]["status"] == "DELIVERED"
    )
    assert delivery["event"] == "DEPLOY_JOB_ENDED"


async def test_a_job_cancelled_before_it_started_is_told_too(
    world: DeployWorld, receiver: Receiver
) -> None:
    await create_webhook(
        world.tenant.client, world.tenant.company_id, receiver.url, ["DEPLOY_JOB_ENDED"]
    )
    # A phone nobody answers for: its job is cancelled while it waits behind another.
    phone = await world.phone(None, ip_address="192.0.2.10")
    first = (await world.admin.data(REBOOT, {"mac": phone.mac}))["phoneReboot"]["job"]["id"]
    second = (await world.admin.data(REBOOT, {"mac": phone.mac}))["phoneReboot"]["job"]["id"]
    cancelled = await world.admin.data(
        "mutation($id: ID!) { deployJobCancel(id: $id) { job { status } userErrors { code } } }",
        {"id": second},
    )
    assert cancelled["deployJobCancel"]["job"]["status"] == "CANCELLED"
    got = await receiver.until_matching(lambda r: r.json["data"]["id"] == second)
    assert got.headers["PhoneGraph-Event"] == "DEPLOY_JOB_ENDED"
    assert got.json["data"]["status"] == "CANCELLED"
    assert got.json["data"]["kind"] == "REBOOT"
    assert got.json["data"]["restart"] is None
    assert first != second


async def _logged_in(hd: HotdeskWorld, mac: str, ext: str) -> dict[str, Any]:
    login = await hd.login(mac, ext)
    assert login["userErrors"] == []
    job = await hd.base.wait_job(login["job"]["id"])
    assert job["status"] == "SUCCEEDED", job
    return login


async def test_hot_desk_login_and_logout_are_told_with_the_user(
    hd: HotdeskWorld, receiver: Receiver
) -> None:
    tenant = hd.base.tenant
    await create_webhook(
        tenant.client,
        tenant.company_id,
        receiver.url,
        ["HOTDESK_SESSION_STARTED", "HOTDESK_SESSION_ENDED"],
    )
    sim = await hd.base.sim()
    phone = await hd.hotdesk_phone(sim)
    alice = await hd.hotdesk_user()
    login = await _logged_in(hd, sim.mac, alice.extension_number)
    session_id = login["session"]["id"]

    started = await receiver.until_event("HOTDESK_SESSION_STARTED")
    assert started.json["data"]["id"] == session_id
    assert started.json["data"]["sipUserId"] == to_global_id("SipUser", alice.id)
    assert started.json["data"]["phoneId"] == to_global_id("Phone", phone.id)
    assert receiver.of("HOTDESK_SESSION_ENDED") == []

    logout = await hd.logout(sim.mac)
    assert logout["userErrors"] == []
    ended = await receiver.until_event("HOTDESK_SESSION_ENDED")
    assert ended.json["data"]["id"] == session_id
    assert ended.json["data"]["sipUserId"] == to_global_id("SipUser", alice.id)
    assert ended.json["data"]["endReason"] == "LOGOUT"
    assert len(receiver.of("HOTDESK_SESSION_STARTED")) == 1


async def test_an_unknown_phone_fetching_a_config_is_told_as_registered(
    live_server: LiveServer, admin: GraphQLClient, tenant_factory: Any, receiver: Receiver
) -> None:
    acme = await tenant_factory("Acme")
    await create_webhook(acme.client, acme.company_id, receiver.url, ["PHONE_REGISTERED"])
    await register_phone(live_server, admin, acme.company_id, "00AABB000201")
    got = await receiver.until_event("PHONE_REGISTERED")
    assert got.json["data"]["mac"] == "00:AA:BB:00:02:01"
    # A known (now PENDING) phone fetching again registers nothing more.
    await register_phone(live_server, admin, acme.company_id, "00AABB000201")
    assert len(receiver.of("PHONE_REGISTERED")) == 1


async def test_presence_and_rollout_receivers_write_their_deliveries(
    live_server: LiveServer, admin: GraphQLClient, tenant_factory: Any, receiver: Receiver
) -> None:
    """The receivers presence and rollouts will be connected to, called as their signals
    will call them (inside the sender's transaction)."""
    from types import SimpleNamespace

    from tests.deploy.conftest import pk_of

    acme = await tenant_factory("Acme")
    await create_webhook(
        acme.client, acme.company_id, receiver.url, ["PHONE_STATUS_CHANGED", "ROLLOUT_ENDED"]
    )
    company = pk_of(acme.company_id)
    async with in_transaction():
        await receivers.on_phone_status_changed(
            phone_id=7, company_id=company, mac="00AABB000301", online=False, at=None
        )
        await receivers.on_rollout_ended(
            rollout=SimpleNamespace(id=3, company_id=company, status="SUCCEEDED")
        )
        # A rollout of no company tells no webhook.
        await receivers.on_rollout_ended(
            rollout=SimpleNamespace(id=4, company_id=None, status="FAILED")
        )
    status = await receiver.until_event("PHONE_STATUS_CHANGED")
    assert status.json["data"] == {
        "id": to_global_id("Phone", 7),
        "mac": "00:AA:BB:00:03:01",
        "online": False,
    }
    rollout = await receiver.until_event("ROLLOUT_ENDED")
    assert rollout.json["data"] == {"id": to_global_id("Rollout", 3), "status": "SUCCEEDED"}
    assert await WebhookDelivery.all().count() == 2


ROLLOUT_REBOOT = """
mutation($company: ID!) {
  phonesReboot(filter: {companyId: $company}, rollout: {batchSize: 1}) {
    rollout { id } userErrors { message }
  }
}
"""


async def test_a_system_admin_s_rollout_is_told_to_the_companies_of_its_phones(
    world: DeployWorld, receiver: Receiver, other_receiver: Receiver, tenant_factory: Any
) -> None:
    """A system admin's rollout belongs to no company: the companies whose phones it
    worked on hear of its end, no other."""
    other = await tenant_factory("Other")
    await create_webhook(
        world.tenant.client, world.tenant.company_id, receiver.url, ["ROLLOUT_ENDED"]
    )
    await create_webhook(other.client, other.company_id, other_receiver.url, ["ROLLOUT_ENDED"])
    for _ in range(2):
        await world.phone(await world.sim())
    payload = (await world.admin.data(ROLLOUT_REBOOT, {"company": world.tenant.company_id}))[
        "phonesReboot"
    ]
    assert payload["userErrors"] == []
    got = await receiver.until_event("ROLLOUT_ENDED", timeout=60)
    assert got.json["data"] == {"id": payload["rollout"]["id"], "status": "SUCCEEDED"}
    assert not other_receiver.of("ROLLOUT_ENDED")

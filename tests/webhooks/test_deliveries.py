"""Deliveries: signed POSTs to a real receiver, retried with the same id, FAILED after
eight attempts, the secret shown once and rotatable (CONTRACT §11)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from app.deploy.sql import dialect_sql
from tests.conftest import GraphQLClient, LiveServer
from tests.deploy.conftest import pk_of
from tests.webhooks.conftest import (
    ROTATE,
    UPDATE,
    Receiver,
    change_settings,
    create_webhook,
    deliveries,
    register_phone,
    signature_valid,
    until_deliveries,
)

REGISTERED = ["PHONE_REGISTERED"]


async def test_a_delivery_is_a_signed_post_of_the_event(
    live_server: LiveServer, admin: GraphQLClient, tenant_factory: Any, receiver: Receiver
) -> None:
    acme = await tenant_factory("Acme")
    webhook, secret = await create_webhook(acme.client, acme.company_id, receiver.url, REGISTERED)
    assert secret.startswith("whsec_")

    await register_phone(live_server, admin, acme.company_id, "00AABB000001")
    [got] = await receiver.until(1)

    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["PhoneGraph-Event"] == "PHONE_REGISTERED"
    assert signature_valid(secret, got)
    tampered = dataclasses.replace(got, body=got.body.replace(b"PHONE_", b"PHONE-"))
    assert not signature_valid(secret, tampered)
    assert not signature_valid("whsec_another", got)
    body = got.json
    assert set(body) == {"id", "event", "at", "data"}
    assert body["id"] == got.delivery
    assert body["event"] == "PHONE_REGISTERED"
    assert body["data"]["mac"] == "00:AA:BB:00:00:01"
    phone = await admin.data(
        'query { phone(mac: "00:AA:BB:00:00:01") { id status } }'
    )
    assert body["data"]["id"] == phone["phone"]["id"]
    assert phone["phone"]["status"] == "PENDING"

    [delivery] = await until_deliveries(
        acme.client, webhook["id"], lambda d: d and d[0]["status"] == "DELIVERED"
    )
    assert delivery["id"] == got.delivery
    assert delivery["attempts"] == 1
    assert delivery["lastStatusCode"] == 200
    assert delivery["lastError"] is None
    assert delivery["payload"].encode() == got.body
    assert delivery["deliveredAt"] is not None


async def test_a_refused_delivery_is_retried_with_the_same_id_and_body(
    live_server: LiveServer, admin: GraphQLClient, tenant_factory: Any, receiver: Receiver
) -> None:
    acme = await tenant_factory("Acme")
    webhook, secret = await create_webhook(acme.client, acme.company_id, receiver.url, REGISTERED)
    receiver.answers = [500, 503]

    await register_phone(live_server, admin, acme.company_id, "00AABB000002")
    first, second, third = await receiver.until(3)

    assert first.delivery == second.delivery == third.delivery
    assert first.body == second.body == third.body
    assert all(signature_valid(secret, r) for r in (first, second, third))
    [delivery] = await until_deliveries(
        acme.client, webhook["id"], lambda d: d and d[0]["status"] == "DELIVERED"
    )
    assert delivery["attempts"] == 3
    assert delivery["lastStatusCode"] == 200
    assert len(receiver.received) == 3


async def test_a_delivery_never_answered_2xx_fails_after_eight_attempts(
    live_server: LiveServer, admin: GraphQLClient, tenant_factory: Any, receiver: Receiver
) -> None:
    change_settings(webhook_retry_seconds=0.02)
    acme = await tenant_factory("Acme")
    webhook, _ = await create_webhook(acme.client, acme.company_id, receiver.url, REGISTERED)
    receiver.always = 500

    await register_phone(live_server, admin, acme.company_id, "00AABB000003")
    [delivery] = await until_deliveries(
        acme.client, webhook["id"], lambda d: d and d[0]["status"] == "FAILED"
    )
    assert delivery["attempts"] == 8
    assert delivery["lastStatusCode"] == 500
    assert delivery["lastError"] == "answered HTTP 500"
    assert len(receiver.received) == 8
    assert len({r.delivery for r in receiver.received}) == 1


async def test_an_unreachable_receiver_is_told_in_last_error_without_secrets(
    live_server: LiveServer, admin: GraphQLClient, tenant_factory: Any, receiver: Receiver
) -> None:
    acme = await tenant_factory("Acme")
    # A port nothing listens on (the receiver's own, on a path that does not exist, would
    # answer 404; this one refuses the connection).
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/hook"
    webhook, secret = await create_webhook(acme.client, acme.company_id, url, REGISTERED)
    await register_phone(live_server, admin, acme.company_id, "00AABB000004")
    [delivery] = await until_deliveries(
        acme.client, webhook["id"], lambda d: d and d[0]["attempts"] >= 2
    )
    assert delivery["status"] == "PENDING"
    assert delivery["lastStatusCode"] is None
    assert delivery["lastError"]
    assert secret not in delivery["lastError"]


async def test_the_secret_is_shown_once_and_a_rotated_one_signs_from_then_on(
    live_server: LiveServer, admin: GraphQLClient, tenant_factory: Any, receiver: Receiver
) -> None:
    acme = await tenant_factory("Acme")
    webhook, old = await create_webhook(acme.client, acme.company_id, receiver.url, REGISTERED)

    # No field of a webhook shows the secret.
    fields = await admin.data('query { __type(name: "Webhook") { fields { name } } }')
    names = {f["name"] for f in fields["__type"]["fields"]}
    assert not {n for n in names if "secret" in n.lower()}
    listed = await acme.client.execute(
        "query($id: ID!) { node(id: $id) { ... on Webhook { secret } } }", {"id": webhook["id"]}
    )
    assert listed["errors"]

    await register_phone(live_server, admin, acme.company_id, "00AABB000005")
    [before] = await receiver.until(1)
    assert signature_valid(old, before)

    rotated = await acme.client.mutate(ROTATE, {"id": webhook["id"]})
    new = rotated["secret"]
    assert new and new != old
    assert rotated["webhook"]["id"] == webhook["id"]

    await register_phone(live_server, admin, acme.company_id, "00AABB000006")
    _, after = await receiver.until(2)
    assert signature_valid(new, after)
    assert not signature_valid(old, after)
    assert json.loads(after.body)["data"]["mac"] == "00:AA:BB:00:00:06"


async def test_inactive_and_unsubscribed_webhooks_get_nothing(
    live_server: LiveServer,
    admin: GraphQLClient,
    tenant_factory: Any,
    receiver: Receiver,
    other_receiver: Receiver,
) -> None:
    acme = await tenant_factory("Acme")
    off, _ = await create_webhook(
        acme.client, acme.company_id, other_receiver.url, REGISTERED, active=False
    )
    other, _ = await create_webhook(
        acme.client, acme.company_id, other_receiver.url, ["DEPLOY_JOB_ENDED"]
    )
    on, _ = await create_webhook(acme.client, acme.company_id, receiver.url, REGISTERED)
    await register_phone(live_server, admin, acme.company_id, "00AABB000007")
    await receiver.until(1)
    await until_deliveries(acme.client, on["id"], lambda d: d and d[0]["status"] == "DELIVERED")
    assert await deliveries(acme.client, off["id"]) == []
    assert await deliveries(acme.client, other["id"]) == []
    assert other_receiver.received == []



async def _lock_waiters() -> int:
    rows = await dialect_sql().rows(
        "SELECT count(*) AS n FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'",
        [],
    )
    return int(rows[0]["n"])


async def test_an_update_made_while_the_secret_is_rotated_keeps_the_new_secret(
    live_server: LiveServer, admin: GraphQLClient, tenant_factory: Any, receiver: Receiver
) -> None:
    """An admin rotates the secret while another changes the description: the rotation
    is not undone by the change (each writes only what it changes)."""
    if not dialect_sql().postgres:
        pytest.skip("PostgreSQL only: SQLite writes one transaction at a time")
    acme = await tenant_factory("Acme")
    webhook, _ = await create_webhook(acme.client, acme.company_id, receiver.url, REGISTERED)
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_the_row() -> None:
        # Both writes reach the row while it is held, the rotation first.
        async with in_transaction() as conn:
            await dialect_sql(conn).rows(
                "SELECT id FROM webhook WHERE id = $1 FOR UPDATE", [pk_of(webhook["id"])]
            )
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_row())
    await held.wait()
    rotating = asyncio.create_task(acme.client.mutate(ROTATE, {"id": webhook["id"]}))
    async with asyncio.timeout(10):
        while await _lock_waiters() < 1:
            await asyncio.sleep(0.02)
    updating = asyncio.create_task(
        acme.client.mutate(UPDATE, {"id": webhook["id"], "input": {"description": "CRM"}})
    )
    async with asyncio.timeout(10):
        while await _lock_waiters() < 2:
            await asyncio.sleep(0.02)
    release.set()
    await holder
    rotated = (await rotating)["secret"]
    assert (await updating)["webhook"]["description"] == "CRM"

    await register_phone(live_server, admin, acme.company_id, "00AABB000009")
    [got] = await receiver.until(1)
    assert signature_valid(rotated, got)


async def test_a_secret_that_cannot_be_decrypted_fails_attempts_with_a_reason(
    live_server: LiveServer, admin: GraphQLClient, tenant_factory: Any, receiver: Receiver
) -> None:
    """The server's secret key changed since the webhook was made: nothing unsigned is
    sent, and each attempt fails at once, saying why, and is retried on its schedule."""
    from app.core.crypto import encrypt
    from app.webhooks.models import Webhook

    acme = await tenant_factory("Acme")
    webhook, _ = await create_webhook(acme.client, acme.company_id, receiver.url, REGISTERED)
    # As if encrypted with another key: a valid token this key cannot open.
    other = encrypt("whsec_x")
    await Webhook.filter(id=pk_of(webhook["id"])).update(secret_enc=other[:-8] + "AAAAAAAA")

    await register_phone(live_server, admin, acme.company_id, "00AABB00000A")
    [delivery] = await until_deliveries(
        acme.client, webhook["id"], lambda d: d and d[0]["attempts"] >= 2 and d[0]["lastError"]
    )
    assert delivery["status"] == "PENDING"
    assert "secret" in delivery["lastError"]
    assert receiver.received == []

"""The outbox: deliveries commit with the change they tell of, and an attempt's result is
written only under the claim it was made with."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from app.deploy.sql import dialect_sql
from app.webhooks import delivery
from app.webhooks.models import Webhook, WebhookDelivery, WebhookDeliveryStatus, WebhookEvent
from app.webhooks.outbox import enqueue
from tests.deploy.conftest import pk_of
from tests.webhooks.conftest import create_webhook


class _Undone(Exception):
    pass


async def test_a_delivery_is_written_and_undone_with_the_change_it_tells_of(
    admin: Any, tenant_factory: Any
) -> None:
    await delivery.stop_deliverer()
    acme = await tenant_factory("Acme")
    await create_webhook(acme.client, acme.company_id, "https://93.184.215.1/h", ["ROLLOUT_ENDED"])
    company = pk_of(acme.company_id)

    with pytest.raises(_Undone):
        async with in_transaction():
            written = await enqueue(company, WebhookEvent.ROLLOUT_ENDED, {"id": "x"})
            assert len(written) == 1
            raise _Undone  # the change fails: its delivery goes with it
    assert await WebhookDelivery.all().count() == 0

    async with in_transaction():
        await enqueue(company, WebhookEvent.ROLLOUT_ENDED, {"id": "y"})
        # Not subscribed, or another company's: nothing.
        assert await enqueue(company, WebhookEvent.PHONE_REGISTERED, {"id": "z"}) == []
        assert await enqueue(company + 1, WebhookEvent.ROLLOUT_ENDED, {"id": "z"}) == []
    [row] = await WebhookDelivery.all()
    assert row.status == WebhookDeliveryStatus.PENDING and row.attempts == 0
    assert '"data":{"id":"y"}' in row.payload


async def test_a_claim_taken_over_writes_nothing(admin: Any, tenant_factory: Any) -> None:
    await delivery.stop_deliverer()
    acme = await tenant_factory("Acme")
    await create_webhook(acme.client, acme.company_id, "https://93.184.215.1/h", ["ROLLOUT_ENDED"])
    async with in_transaction():
        await enqueue(pk_of(acme.company_id), WebhookEvent.ROLLOUT_ENDED, {"id": "r"})

    [stale] = await delivery.claim(10)
    assert stale.attempts == 1
    assert await delivery.claim(10) == []  # held: nobody else claims it meanwhile
    # Its lease runs out (by the database's clock) and another process claims it.
    await dialect_sql().rows(
        "UPDATE webhook_delivery SET lease_expires_at = created_at WHERE id = $1", [stale.id]
    )
    [fresh] = await delivery.claim(10)
    assert fresh.id == stale.id and fresh.epoch == stale.epoch + 1 and fresh.attempts == 2

    assert not await delivery.record(stale, 200, None, delivered=True)
    row = await WebhookDelivery.get(id=stale.id)
    assert row.status == WebhookDeliveryStatus.PENDING and row.last_status_code is None
    assert await delivery.record(fresh, 200, None, delivered=True)
    row = await WebhookDelivery.get(id=stale.id)
    assert row.status == WebhookDeliveryStatus.DELIVERED and row.last_status_code == 200


class _Waiting:
    """Whether some other connection of the test database waits for a row lock."""

    @staticmethod
    async def until(timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while True:
                rows = await dialect_sql().rows(
                    "SELECT count(*) AS n FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    [],
                )
                if rows[0]["n"]:
                    return
                await asyncio.sleep(0.02)


async def test_an_event_still_commits_when_its_webhook_is_deleted_meanwhile(
    admin: Any, tenant_factory: Any
) -> None:
    """A webhook deleted while an event's transaction is writing its delivery: the
    event's own change commits (without a delivery for the deleted webhook) instead of
    failing on the delivery's reference to it. (SQLite writes one transaction at a time.)"""
    if not dialect_sql().postgres:
        pytest.skip("PostgreSQL only")
    await delivery.stop_deliverer()
    acme = await tenant_factory("Acme")
    webhook, _ = await create_webhook(
        acme.client, acme.company_id, "https://93.184.215.1/h", ["ROLLOUT_ENDED"]
    )
    deleted, may_commit = asyncio.Event(), asyncio.Event()

    async def delete() -> None:
        async with in_transaction():
            await Webhook.filter(id=pk_of(webhook["id"])).delete()
            deleted.set()
            await may_commit.wait()

    async def event() -> list[int]:
        async with in_transaction():
            return await enqueue(pk_of(acme.company_id), WebhookEvent.ROLLOUT_ENDED, {"id": "r"})

    deleting = asyncio.create_task(delete())
    await deleted.wait()
    telling = asyncio.create_task(event())
    await _Waiting.until()  # the event waits for the deletion to end
    may_commit.set()
    await deleting
    assert await telling == []
    assert await WebhookDelivery.all().count() == 0


async def test_ended_deliveries_older_than_the_retention_are_deleted_pending_ones_never(
    admin: Any, tenant_factory: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from app.webhooks.retention import prune_deliveries

    await delivery.stop_deliverer()
    acme = await tenant_factory("Acme")
    await create_webhook(acme.client, acme.company_id, "https://93.184.215.1/h", ["ROLLOUT_ENDED"])
    company = pk_of(acme.company_id)
    for n in range(6):
        async with in_transaction():
            await enqueue(company, WebhookEvent.ROLLOUT_ENDED, {"id": str(n)})
    ids = sorted(await WebhookDelivery.all().values_list("id", flat=True))
    old = datetime.now(UTC) - timedelta(days=40)
    await WebhookDelivery.filter(id__in=ids[:2]).update(
        status=WebhookDeliveryStatus.DELIVERED, created_at=old
    )
    await WebhookDelivery.filter(id=ids[2]).update(status=WebhookDeliveryStatus.FAILED, created_at=old)
    await WebhookDelivery.filter(id=ids[3]).update(created_at=old)  # still PENDING: kept
    await WebhookDelivery.filter(id=ids[4]).update(status=WebhookDeliveryStatus.DELIVERED)  # young

    assert await prune_deliveries(days=30, chunk=2) == 3
    assert sorted(await WebhookDelivery.all().values_list("id", flat=True)) == ids[3:]
    assert await prune_deliveries(days=30) == 0

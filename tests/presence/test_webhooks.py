"""Presence tells a company's webhooks when one of its phones goes up or down
(PHONE_STATUS_CHANGED, CONTRACT §11), raised by the monitor itself."""

from __future__ import annotations

import dataclasses

import pytest

from app.core.ids import to_global_id
from app.core.scalars import format_mac
from app.settings import get_settings, use_settings
from tests.presence.conftest import PresenceWorld
from tests.webhooks.conftest import create_webhook, run_receiver, signature_valid

pytestmark = pytest.mark.timeout(120)


async def test_a_phone_going_up_and_down_is_told_to_its_company_s_webhooks(
    world: PresenceWorld, tenant_factory  # type: ignore[no-untyped-def]
) -> None:
    use_settings(
        dataclasses.replace(get_settings(), webhook_allow_private=True, webhook_retry_seconds=0.2)
    )
    acme = await tenant_factory("Acme")
    globex = await tenant_factory("Globex")
    async for receiver in run_receiver():
        async for other in run_receiver("/other"):
            _, secret = await create_webhook(
                acme.client, acme.company_id, receiver.url, ["PHONE_STATUS_CHANGED"]
            )
            await create_webhook(
                globex.client, globex.company_id, other.url, ["PHONE_STATUS_CHANGED"]
            )
            sim = await world.sim()
            phone = await world.phone(sim, acme.company_id)

            up = await receiver.until_event("PHONE_STATUS_CHANGED")
            assert signature_valid(secret, up)
            assert up.json["data"] == {
                "id": to_global_id("Phone", phone.id),
                "mac": format_mac(sim.mac),
                "online": True,
            }
            await sim.stop()  # two unanswered probes: offline
            down = await receiver.until_matching(
                lambda r: r.json["event"] == "PHONE_STATUS_CHANGED" and not r.json["data"]["online"],
                timeout=30,
            )
            assert down.json["data"]["id"] == to_global_id("Phone", phone.id)
            assert not other.of("PHONE_STATUS_CHANGED"), "another company's webhook hears nothing"

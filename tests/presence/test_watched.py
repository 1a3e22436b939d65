"""Presence follows what a phone is: a phone that stops being watched (not ACTIVE, no
ipAddress) is neither online nor offline, and a schedule left by an earlier run with
another interval (or none at all, for a long time) is taken up again within one
interval, spread over it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.presence.models import PhonePresence
from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.deploy.conftest import eventually
from tests.presence.conftest import PresenceWorld

pytestmark = pytest.mark.timeout(120)

UPDATE = """
mutation($mac: MacAddress!, $input: PhoneInput!) {
  phoneUpdate(mac: $mac, input: $input) { userErrors { code } } }
"""
REJECT = "mutation($mac: MacAddress!) { phoneReject(mac: $mac) { userErrors { code } } }"
APPROVE = "mutation($mac: MacAddress!) { phoneApprove(mac: $mac) { userErrors { code } } }"
ONLINE = "query($online: Boolean) { phones(filter: {online: $online}) { nodes { mac } } }"


async def _online(world: PresenceWorld, mac: str, online: bool | None) -> bool:
    return (await world.state(mac))["online"] is online


async def _gauge(server: LiveServer) -> str:
    async with httpx.AsyncClient(base_url=server.url) as http:
        text = (await http.get("/metrics", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})).text
    return next(line for line in text.splitlines() if line.startswith("phonegraph_phones_online "))


async def _filtered(world: PresenceWorld, online: bool) -> list[str]:
    return [n["mac"] for n in (await world.admin.data(ONLINE, {"online": online}))["phones"]["nodes"]]


async def test_a_rejected_phone_is_neither_online_nor_offline_and_starts_afresh_when_approved(
    world: PresenceWorld, live_server: LiveServer
) -> None:
    sim = await world.sim()
    await world.phone(sim)
    await eventually(lambda: _online(world, sim.mac, True), timeout=20, what="online")
    payload = (await world.admin.data(REJECT, {"mac": sim.mac}))["phoneReject"]
    assert payload["userErrors"] == []

    assert (await world.state(sim.mac))["online"] is None
    assert await _filtered(world, True) == []
    assert await _gauge(live_server) == "phonegraph_phones_online 0.0"

    # Approved again while it does not answer: it is not online from what it was before.
    sim.online = False
    probes = len(sim.entries("OPTIONS"))
    await eventually(lambda: len(sim.entries("OPTIONS")) == probes, timeout=5)
    (await world.admin.data(APPROVE, {"mac": sim.mac}))["phoneApprove"]
    await eventually(
        lambda: len(sim.entries("OPTIONS")) >= probes + 1, timeout=20, what="probed again"
    )
    await eventually(lambda: _online(world, sim.mac, False), timeout=20, what="offline")


async def test_a_phone_whose_address_is_removed_is_neither_online_nor_offline(
    world: PresenceWorld, live_server: LiveServer
) -> None:
    sim = await world.sim()
    await world.phone(sim)
    await eventually(lambda: _online(world, sim.mac, True), timeout=20, what="online")
    payload = (await world.admin.data(UPDATE, {"mac": sim.mac, "input": {"ipAddress": None}}))
    assert payload["phoneUpdate"]["userErrors"] == []

    assert (await world.state(sim.mac))["online"] is None
    assert await _filtered(world, True) == []
    assert await _gauge(live_server) == "phonegraph_phones_online 0.0"


async def test_a_schedule_left_far_ahead_by_a_longer_interval_is_taken_up_within_one(
    world: PresenceWorld,
) -> None:
    from app.presence.monitor import start_monitor, stop_monitor

    await stop_monitor()
    sim = await world.sim()
    phone = await world.phone(sim)
    # What a run with PHONEGRAPH_PRESENCE_INTERVAL=3600 left behind.
    await PhonePresence.create(
        phone_id=phone.id, next_probe_at=datetime.now(UTC) + timedelta(hours=1)
    )
    await start_monitor()
    await eventually(lambda: _online(world, sim.mac, True), timeout=20, what="probed")


@pytest.mark.interval(10)
async def test_probes_left_behind_by_a_long_outage_are_spread_again(
    world: PresenceWorld,
) -> None:
    from app.presence.monitor import start_monitor, stop_monitor

    await stop_monitor()
    sims = [await world.sim() for _ in range(8)]
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    for sim in sims:
        phone = await world.phone(sim)
        await PhonePresence.create(phone_id=phone.id, next_probe_at=long_ago)
    await start_monitor()
    await eventually(
        lambda: all(s.entries("OPTIONS") for s in sims), timeout=30, what="every phone probed"
    )
    firsts = sorted(s.entries("OPTIONS")[0].at for s in sims)
    # Eight phones over ten seconds: not all at once at start-up.
    assert firsts[-1] - firsts[0] > 2.0, firsts


@pytest.mark.interval(0)
async def test_with_presence_turned_off_what_an_earlier_run_found_is_not_shown_as_current(
    world: PresenceWorld, live_server: LiveServer
) -> None:
    sim = await world.sim()
    phone = await world.phone(sim)
    # What a run with presence on left behind.
    await PhonePresence.create(
        phone_id=phone.id,
        online=True,
        misses=0,
        last_seen_at=datetime.now(UTC) - timedelta(days=7),
        round_trip_ms=3,
        next_probe_at=datetime.now(UTC),
    )
    assert (await world.state(sim.mac))["online"] is None
    assert await _filtered(world, True) == []
    assert await _gauge(live_server) == "phonegraph_phones_online 0.0"
    assert sim.entries("OPTIONS") == []


async def test_a_phone_moved_to_another_company_is_streamed_to_its_new_company_only(
    world: PresenceWorld, live_server: LiveServer, tenant_factory: Any
) -> None:
    from tests.deploy.conftest import Subscription, bus_listeners
    from tests.presence.conftest import STATUS

    acme = await tenant_factory("Acme")
    globex = await tenant_factory("Globex")
    moved_sim, marker_sim = await world.sim(), await world.sim()
    moved = await world.phone(moved_sim, company_id=globex.company_id)
    await eventually(lambda: _online(world, moved_sim.mac, True), timeout=20, what="online")
    async with (
        Subscription(live_server.ws_url, acme.client.token, STATUS, {"mac": None}) as ours,
        Subscription(live_server.ws_url, globex.client.token, STATUS, {"mac": None}) as theirs,
    ):
        await bus_listeners(2)
        payload = await world.admin.data(
            UPDATE, {"mac": moved.mac, "input": {"companyId": acme.company_id}}
        )
        assert payload["phoneUpdate"]["userErrors"] == []
        moved_sim.online = False
        event = (await ours.next(20))["phoneStatusChanged"]
        assert (event["phone"]["mac"], event["online"]) == ("00:11:AA:00:00:01", False)
        # Globex's next event is its own new phone's, not the one it gave away.
        await world.phone(marker_sim, company_id=globex.company_id)
        event = (await theirs.next(20))["phoneStatusChanged"]
        assert (event["phone"]["mac"], event["online"]) == ("00:11:AA:00:00:02", True)

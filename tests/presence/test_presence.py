"""Presence (CONTRACT §9): OPTIONS probes against simulated phones, what they make of a
phone, the subscription, the filter and the gauge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.presence.signals import status_changed
from tests.conftest import ADMIN_TOKEN, GraphQLClient, LiveServer
from tests.deploy.conftest import Subscription, bus_listeners, eventually
from tests.presence.conftest import STATUS, PresenceWorld
from tests.support.phone_sim import PhoneSimulator

pytestmark = pytest.mark.timeout(120)

REBOOT = "mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } userErrors { code } } }"


@pytest.fixture
async def changes() -> AsyncIterator[list[dict[str, Any]]]:
    """Every ``presence.status_changed`` the server (in this process) sends."""
    seen: list[dict[str, Any]] = []

    async def receiver(**kwargs: Any) -> None:
        seen.append(kwargs)

    status_changed.connect(receiver)
    yield seen
    status_changed._receivers.remove(receiver)


def options_seen(sim: PhoneSimulator, detail: str | None = None) -> int:
    return sum(1 for e in sim.entries("OPTIONS") if detail is None or e.detail == detail)


async def test_a_phone_that_answers_is_online_with_its_round_trip(
    world: PresenceWorld, changes: list[dict[str, Any]]
) -> None:
    sim = await world.sim()
    phone = await world.phone(sim)
    state = await eventually(
        lambda: _online(world, sim.mac, True), timeout=20, what="the phone found online"
    )
    assert state["lastSeenAt"] is not None
    assert state["roundTripMs"] is not None and state["roundTripMs"] >= 0
    assert options_seen(sim, "200") >= 1
    # First found: one change, with what the webhooks will need.
    assert [c["online"] for c in changes if c["phone_id"] == phone.id] == [True]
    change = next(c for c in changes if c["phone_id"] == phone.id)
    assert change["mac"] == sim.mac
    assert change["company_id"] is None
    assert change["at"] is not None


async def test_two_unanswered_probes_make_a_phone_offline_and_an_answer_brings_it_back(
    world: PresenceWorld, changes: list[dict[str, Any]]
) -> None:
    sim = await world.sim()
    phone = await world.phone(sim)
    await eventually(lambda: _online(world, sim.mac, True), timeout=20, what="online")
    seen_before = (await world.state(sim.mac))["lastSeenAt"]

    sim.online = False
    state = await eventually(lambda: _online(world, sim.mac, False), timeout=20, what="offline")
    assert options_seen(sim, "unanswered") >= 2
    assert state["lastSeenAt"] is not None and state["lastSeenAt"] >= seen_before

    sim.online = True
    await eventually(lambda: _online(world, sim.mac, True), timeout=20, what="back online")
    assert [c["online"] for c in changes if c["phone_id"] == phone.id] == [True, False, True]


@pytest.mark.interval(2.5)  # the missed probe's answer wait ends before the next probe
async def test_a_single_unanswered_probe_keeps_the_phone_online(
    world: PresenceWorld, changes: list[dict[str, Any]]
) -> None:
    sim = await world.sim()
    phone = await world.phone(sim)
    await eventually(lambda: _online(world, sim.mac, True), timeout=20, what="online")

    sim.online = False
    await eventually(lambda: options_seen(sim, "unanswered") == 1, timeout=20, what="a miss")
    sim.online = True
    answered = options_seen(sim, "200")
    # Two more answered probes: the miss was judged (and forgotten) by then.
    await eventually(lambda: options_seen(sim, "200") >= answered + 2, timeout=20, what="answers")
    assert (await world.state(sim.mac))["online"] is True
    assert [c["online"] for c in changes if c["phone_id"] == phone.id] == [True]


async def test_a_phone_never_probed_is_neither_online_nor_offline(world: PresenceWorld) -> None:
    from app.devices.models import PhoneStatus

    pending = await world.phone(None, status=PhoneStatus.PENDING)
    no_address = await world.phone(None, ip_address=None)
    sim = await world.sim()
    await world.phone(sim)
    await eventually(lambda: _online(world, sim.mac, True), timeout=20, what="online")
    for row in (pending, no_address):
        state = await world.state(row.mac)
        assert (state["online"], state["lastSeenAt"], state["roundTripMs"]) == (None, None, None)


async def test_phone_status_changed_streams_first_found_offline_and_back_over_a_websocket(
    world: PresenceWorld, live_server: LiveServer
) -> None:
    sim = await world.sim()
    async with Subscription(live_server.ws_url, ADMIN_TOKEN, STATUS, {"mac": None}) as sub:
        await bus_listeners(1)
        await world.phone(sim, name="Reception")
        first = (await sub.next(20))["phoneStatusChanged"]
        assert first["phone"] == {"mac": "00:11:AA:00:00:01", "name": "Reception"}
        assert first["online"] is True and first["at"]
        sim.online = False
        down = (await sub.next(20))["phoneStatusChanged"]
        assert (down["phone"]["mac"], down["online"]) == ("00:11:AA:00:00:01", False)
        sim.online = True
        up = (await sub.next(20))["phoneStatusChanged"]
        assert (up["phone"]["mac"], up["online"]) == ("00:11:AA:00:00:01", True)
        assert first["at"] <= down["at"] <= up["at"]


async def test_phone_status_changed_shows_only_the_callers_phones(
    world: PresenceWorld, live_server: LiveServer, tenant_factory: Any, changes: list
) -> None:
    acme = await tenant_factory("Acme")
    globex = await tenant_factory("Globex")
    token = acme.client.token
    assert token is not None
    theirs_sim, ours_sim = await world.sim(), await world.sim()
    async with Subscription(live_server.ws_url, token, STATUS, {"mac": None}) as sub:
        await bus_listeners(1)
        theirs = await world.phone(theirs_sim, company_id=globex.company_id)
        # Globex's phone is found first: were it delivered, it would come first.
        await eventually(lambda: any(c["phone_id"] == theirs.id for c in changes), timeout=20)
        await world.phone(ours_sim, company_id=acme.company_id)
        event = (await sub.next(20))["phoneStatusChanged"]
        assert event["phone"]["mac"] == "00:11:AA:00:00:02"
        assert event["online"] is True
    # Another company's phone cannot be named either.
    async with Subscription(
        live_server.ws_url, token, STATUS, {"mac": "00:11:AA:00:00:01"}
    ) as sub:
        errors = await sub.error()
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_phones_filter_online_and_the_gauge(
    world: PresenceWorld, live_server: LiveServer
) -> None:
    from app.devices.models import PhoneStatus

    up_sim = await world.sim()
    down_sim = await world.sim(sip_behaviour="normal")
    down_sim.online = False
    await world.phone(up_sim)
    await world.phone(down_sim)
    await world.phone(None, status=PhoneStatus.PENDING)
    await eventually(lambda: _online(world, up_sim.mac, True), timeout=20, what="one up")
    await eventually(lambda: _online(world, down_sim.mac, False), timeout=20, what="one down")

    query = "query($online: Boolean) { phones(filter: {online: $online}) { totalCount nodes { mac } } }"
    up = (await world.admin.data(query, {"online": True}))["phones"]
    down = (await world.admin.data(query, {"online": False}))["phones"]
    every = (await world.admin.data(query, {"online": None}))["phones"]
    assert [n["mac"] for n in up["nodes"]] == ["00:11:AA:00:00:01"] and up["totalCount"] == 1
    assert [n["mac"] for n in down["nodes"]] == ["00:11:AA:00:00:02"]
    assert every["totalCount"] == 3

    async with httpx.AsyncClient(base_url=live_server.url) as http:
        text = (await http.get("/metrics", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})).text
    assert "phonegraph_phones_online 1.0" in text.splitlines()


async def test_online_of_many_phones_costs_one_query(
    world: PresenceWorld, count_queries: Any
) -> None:
    sims = [await world.sim() for _ in range(3)]
    for sim in sims:
        await world.phone(sim)
    for sim in sims:
        await eventually(lambda s=sim: _online(world, s.mac, True), timeout=20)
    query = "{ phones(first: 10) { nodes { mac online lastSeenAt roundTripMs } } }"
    count_queries.statements.clear()
    nodes = (await world.admin.data(query))["phones"]["nodes"]
    assert [n["online"] for n in nodes] == [True, True, True]
    # Three fields of three phones: one read of their presence rows.
    presence_reads = [s for s in count_queries.statements if "phone_presence" in s]
    assert len(presence_reads) == 1


@pytest.mark.interval(60)  # the monitor's own first probe comes tens of seconds later
async def test_a_deploy_jobs_options_count_as_probes(
    world: PresenceWorld, admin: GraphQLClient, tmp_path: Any
) -> None:
    sim = await world.sim(reboot_seconds=0.3)
    await world.phone(sim)
    payload = (await admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]
    assert payload["userErrors"] == []
    state = await eventually(lambda: _online(world, sim.mac, True), timeout=30, what="online")
    assert state["roundTripMs"] is not None


async def _online(world: PresenceWorld, mac: str, online: bool) -> dict[str, Any] | None:
    state = await world.state(mac)
    return state if state["online"] is online else None




@pytest.fixture
async def outside_sim() -> AsyncIterator[PhoneSimulator]:
    """A simulated phone on 127.0.0.2, which the test's phone networks leave out."""
    sim = PhoneSimulator("0011AA0000FE")
    sim.ip = "127.0.0.2"
    async with sim:
        yield sim


async def test_no_probe_goes_outside_the_phone_networks(
    world: PresenceWorld, settings: Any, outside_sim: PhoneSimulator
) -> None:
    import dataclasses
    import ipaddress

    from app.settings import use_settings

    use_settings(
        dataclasses.replace(settings, phone_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    )
    # The monitor reads the settings it started with: start it again with these.
    from app.presence.monitor import start_monitor

    await start_monitor()
    inside = await world.sim()
    await world.phone(inside)
    await world.phone(outside_sim, ip_address=outside_sim.ip)
    await eventually(lambda: options_seen(inside) >= 3, timeout=20, what="probes inside")
    assert options_seen(outside_sim) == 0
    assert (await world.state(outside_sim.mac))["online"] is None

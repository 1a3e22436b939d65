"""Presence fixtures: the server probing simulated phones on loopback every second."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.core.ids import parse_global_id
from app.devices.models import Phone, PhoneModel, PhoneStatus
from app.settings import Settings, use_settings
from tests.conftest import GraphQLClient, LiveServer, Tenant
from tests.support.fixtures import PhoneSimFactory, phone_sim_factory  # noqa: F401
from tests.support.phone_sim import PhoneSimulator

# Short, so that tests take seconds; the contract's two-second answer wait is kept.
INTERVAL = 1.0

PHONE = """
query($mac: MacAddress!) { phone(mac: $mac) { mac online lastSeenAt roundTripMs } }
"""
STATUS = """
subscription($mac: MacAddress) { phoneStatusChanged(mac: $mac) {
  phone { mac name } online at } }
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interval(seconds): the presence interval of the test")


@pytest.fixture
async def settings(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Settings]:
    marker = request.node.get_closest_marker("interval")
    s = dataclasses.replace(settings, presence_interval=marker.args[0] if marker else INTERVAL)
    use_settings(s)
    yield s
    use_settings(settings)


@dataclass
class PresenceWorld:
    server: LiveServer
    admin: GraphQLClient
    sims: PhoneSimFactory
    _macs: int = 0

    async def sim(self, **options: Any) -> PhoneSimulator:
        self._macs += 1
        return await self.sims(f"0011AA0000{self._macs:02X}", **options)

    async def phone(
        self, sim: PhoneSimulator | None, company_id: str | None = None, **fields: Any
    ) -> Phone:
        """A Cisco phone row reaching ``sim`` (or a port where nothing listens)."""
        model, _ = await PhoneModel.get_or_create(
            vendor="Cisco",
            name="8845",
            defaults={
                "line_count": 2,
                "software_types": ["SIP"],
                "config_filename_pattern": "SEP{MAC}.cnf.xml",
            },
        )
        if sim is None:
            self._macs += 1
            mac = f"00BB110000{self._macs:02X}"
        else:
            mac = sim.mac
        company_pk = None
        if company_id is not None:
            parsed = parse_global_id(company_id)
            assert parsed is not None
            company_pk = parsed[1]
        values: dict[str, Any] = {
            "mac": mac,
            "status": PhoneStatus.ACTIVE,
            "company_id": company_pk,
            "model_id": model.id,
            "ip_address": "127.0.0.1",
            "sip_port": sim.sip_port if sim else 9,  # discard: nobody answers there
        }
        values.update(fields)
        return await Phone.create(**values)

    async def state(self, mac: str, client: GraphQLClient | None = None) -> dict[str, Any]:
        return (await (client or self.admin).data(PHONE, {"mac": mac}))["phone"]


@pytest.fixture
async def world(
    live_server: LiveServer,
    admin: GraphQLClient,
    phone_sim_factory: PhoneSimFactory,  # noqa: F811
) -> PresenceWorld:
    return PresenceWorld(live_server, admin, phone_sim_factory)


__all__ = ["INTERVAL", "PHONE", "STATUS", "PresenceWorld", "Tenant"]

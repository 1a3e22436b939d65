"""CONTRACT §12: a phone's address outside PHONEGRAPH_PHONE_NETWORKS is refused on
input, so no administrator can point the server's requests (with the phone's Basic
credentials) at the server itself, the cloud metadata address or any other host."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from app.core.networks import address_in_phone_networks
from app.settings import Settings, use_settings
from tests.conftest import GraphQLClient, LiveServer, Tenant
from tests.devices.conftest import CREATE_PHONE, GET_PHONE, UPDATE_PHONE, create_phone, phone_errors

KEY = "query($id: ID!) { node(id: $id) { ... on Company { provisioningKey } } }"

OUTSIDE_BY_DEFAULT = [
    "127.0.0.1",  # the server itself
    "127.8.9.10",
    "169.254.169.254",  # cloud metadata
    "::1",
    "fe80::1",
    "0.0.0.0",  # reaches the server's own host
    "::",
    "224.0.0.1",
    "ff02::1",
    "::ffff:127.0.0.1",  # loopback in IPv6 clothing
    "::ffff:169.254.169.254",
    "0.0.0.1",  # "this network": Linux connects it to the host itself
    "240.1.2.3",
    "255.255.255.255",
    "100.100.100.200",  # a cloud's metadata service outside link-local
    "fd00:ec2::254",
]


@pytest.fixture
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    """The default phone networks (the test set-up otherwise allows loopback)."""
    s = dataclasses.replace(settings, phone_networks=None)
    use_settings(s)
    yield s
    use_settings(settings)


@pytest.mark.parametrize("address", OUTSIDE_BY_DEFAULT)
def test_default_networks_leave_out_loopback_link_local_unspecified_and_multicast(
    address: str,
) -> None:
    assert not address_in_phone_networks(address, None)


@pytest.mark.parametrize("address", ["192.168.1.10", "10.1.2.3", "203.0.113.7", "2001:db8::5"])
def test_default_networks_take_every_other_address(address: str) -> None:
    assert address_in_phone_networks(address, None)


def test_configured_networks_are_the_only_ones() -> None:
    import ipaddress

    office = (ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("2001:db8:1::/48"))
    assert address_in_phone_networks("10.20.3.4", office)
    assert address_in_phone_networks("::ffff:10.20.3.4", office)
    assert address_in_phone_networks("2001:db8:1::9", office)
    assert not address_in_phone_networks("10.21.0.1", office)
    assert not address_in_phone_networks("192.168.1.1", office)
    assert not address_in_phone_networks("phone.example.net", office)  # names could move
    everything = (ipaddress.ip_network("0.0.0.0/0"),)
    assert not address_in_phone_networks("0.0.0.0", everything)  # never a phone
    assert not address_in_phone_networks("224.0.0.1", everything)


async def test_phone_create_refuses_an_address_outside_the_phone_networks(
    admin: GraphQLClient, acme: Tenant
) -> None:
    for n, address in enumerate(["127.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "::1"]):
        mac = f"AABBCCDD90{n:02X}"
        errors = await phone_errors(
            admin,
            CREATE_PHONE,
            {"input": {"mac": mac, "companyId": acme.company_id, "ipAddress": address}},
        )
        assert errors == [{"field": ["input", "ipAddress"], "code": "INVALID"}], address
        assert (await admin.data(GET_PHONE, {"mac": mac}))["phone"] is None


async def test_phone_update_refuses_an_address_outside_the_phone_networks(
    admin: GraphQLClient, acme: Tenant
) -> None:
    phone = await create_phone(
        admin, mac="AABBCCDD9010", companyId=acme.company_id, ipAddress="192.168.1.10"
    )
    errors = await phone_errors(
        admin, UPDATE_PHONE, {"mac": phone["mac"], "input": {"ipAddress": "169.254.169.254"}}
    )
    assert errors == [{"field": ["input", "ipAddress"], "code": "INVALID"}]
    after = (await admin.data(GET_PHONE, {"mac": phone["mac"]}))["phone"]
    assert after["ipAddress"] == "192.168.1.10"


async def test_a_pending_phone_fetching_from_outside_gets_no_deploy_address(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    key = (await admin.data(KEY, {"id": acme.company_id}))["node"]["provisioningKey"]
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        response = await client.get(f"/provisioning/{key}/SEP00AA11BB9011.cnf.xml")
    assert response.status_code == 404
    phone = (await admin.data(GET_PHONE, {"mac": "00AA11BB9011"}))["phone"]
    assert phone["status"] == "PENDING"
    # Loopback is outside the default phone networks: seen, but never a deploy target.
    assert phone["ipAddress"] is None and phone["lastSeenIp"] == "127.0.0.1"

"""Another company's MACs are neither revealed nor squattable (issue 10, finding 8).

MACs are unique across companies (each device has one config file on the shared config
target), so adding a device whose MAC another company holds must be refused — but the
refusal says nothing of whose it is or what it is, and a PENDING registration (made by
whoever fetched a config with a company's provisioning key) reserves nothing against an
administrator who adds the device. Unknown MACs are registered at a bounded rate per key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.devices.models import Phone, PhoneStatus
from app.devices.service import MAC_UNAVAILABLE
from app.settings import Settings, use_settings
from tests.conftest import GraphQLClient, LiveServer, Tenant
from tests.devices.conftest import CREATE_PHONE, GET_PHONE, create_phone

KEY = "query($id: ID!) { node(id: $id) { ... on Company { provisioningKey } } }"
CREATE_BASE = """mutation($input: DectBaseInput!) { dectBaseCreate(input: $input) {
  dectBase { id } userErrors { field code message } } }"""
PENDING = "{ phones(filter: {status: PENDING}) { totalCount nodes { mac company { id } } } }"


def _base_input(tenant: Tenant, mac: str) -> dict:
    return {
        "name": "Base", "mac": mac, "companyId": tenant.company_id, "timezone": "UTC",
        "tone": "UK", "interface": "WEB_DOMAIN",
    }


async def _errors(client: GraphQLClient, query: str, variables: dict) -> list[dict]:
    data = await client.data(query, variables)
    payload = next(iter(data.values()))
    return payload["userErrors"]


async def _fetch(live_server: LiveServer, key: str, mac: str) -> int:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        return (await http.get(f"/provisioning/{key}/SEP{mac}.cnf.xml")).status_code


async def _key(admin: GraphQLClient, tenant: Tenant) -> str:
    return (await admin.data(KEY, {"id": tenant.company_id}))["node"]["provisioningKey"]


async def test_another_companys_mac_gets_one_answer_that_reveals_nothing(
    admin: GraphQLClient, acme: Tenant, globex: Tenant
) -> None:
    await create_phone(admin, mac="AABBCCDD8001", companyId=globex.company_id, name="G")
    await admin.mutate(CREATE_BASE, {"input": _base_input(globex, "AABBCCDD8002")})
    answers = []
    for mac in ("AABBCCDD8001", "AABBCCDD8002"):
        for query, variables in (
            (CREATE_PHONE, {"input": {"mac": mac}}),
            (CREATE_BASE, {"input": {**_base_input(acme, mac), "companyId": None}}),
        ):
            answers.append(await _errors(acme.client, query, variables))
    expected = [{"field": ["input", "mac"], "code": "INVALID", "message": MAC_UNAVAILABLE}]
    # Phone or DECT base, either mutation: the very same answer, no DUPLICATE.
    assert all(a == expected for a in answers), answers
    assert "exist" not in MAC_UNAVAILABLE and "Globex" not in MAC_UNAVAILABLE
    # Nothing changed on the other side.
    assert (await admin.data(GET_PHONE, {"mac": "AABBCCDD8001"}))["phone"]["name"] == "G"


async def test_a_mac_of_ones_own_company_is_still_a_duplicate(
    admin: GraphQLClient, acme: Tenant
) -> None:
    await create_phone(acme.client, mac="AABBCCDD8003")
    errors = await _errors(acme.client, CREATE_PHONE, {"input": {"mac": "AABBCCDD8003"}})
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "mac"], "DUPLICATE")]


async def test_a_fetch_with_one_companys_key_does_not_squat_a_mac(
    admin: GraphQLClient, acme: Tenant, globex: Tenant, live_server: LiveServer
) -> None:
    # Someone with Acme's key makes Globex's (not yet added) phone known to Acme.
    assert await _fetch(live_server, await _key(admin, acme), "00AA11BB8004") == 404
    pending = (await admin.data(GET_PHONE, {"mac": "00AA11BB8004"}))["phone"]
    assert pending["status"] == "PENDING" and pending["company"]["id"] == acme.company_id

    # Globex's administrator adds the phone all the same.
    phone = await create_phone(globex.client, mac="00AA11BB8004", name="Globex desk")
    assert phone["status"] == "ACTIVE" and phone["company"]["id"] == globex.company_id
    assert (await acme.client.data(PENDING))["phones"]["totalCount"] == 0
    assert await Phone.filter(mac="00AA11BB8004").count() == 1
    # And a DECT base likewise.
    assert await _fetch(live_server, await _key(admin, acme), "00AA11BB8005") == 404
    await globex.client.mutate(CREATE_BASE, {"input": _base_input(globex, "00AA11BB8005")})
    assert not await Phone.filter(mac="00AA11BB8005").exists()


async def test_a_fetch_with_a_key_of_another_companys_device_learns_nothing(
    admin: GraphQLClient, acme: Tenant, globex: Tenant, live_server: LiveServer
) -> None:
    await create_phone(admin, mac="AABBCCDD8006", companyId=globex.company_id)
    assert await _fetch(live_server, await _key(admin, acme), "AABBCCDD8006") == 404
    phone = await Phone.get(mac="AABBCCDD8006")
    assert phone.company_id == int(await _pk(globex)) and phone.last_seen_ip is None  # type: ignore[attr-defined]


async def _pk(tenant: Tenant) -> int:
    from tests.devices.conftest import pk_of

    return pk_of(tenant.company_id)


@pytest.fixture
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    s = dataclasses.replace(settings, pending_per_minute=3)
    use_settings(s)
    yield s
    use_settings(settings)


async def test_unknown_macs_are_registered_at_a_bounded_rate_per_key(
    admin: GraphQLClient, acme: Tenant, globex: Tenant, live_server: LiveServer
) -> None:
    key = await _key(admin, acme)
    macs = [f"00AA11BB81{n:02X}" for n in range(6)]
    for mac in macs:
        assert await _fetch(live_server, key, mac) == 404
    registered = {n["mac"].replace(":", "") for n in (await acme.client.data(PENDING))["phones"]["nodes"]}
    assert registered == set(macs[:3])
    # Another company's key has its own allowance.
    assert await _fetch(live_server, await _key(admin, globex), "00AA11BB8200") == 404
    assert (await globex.client.data(PENDING))["phones"]["totalCount"] == 1
    # A minute later (the count is of the last minute, in the database) there is room again.
    await Phone.filter(mac__in=macs[:3]).update(created_at=datetime.now(UTC) - timedelta(minutes=2))
    assert await _fetch(live_server, key, macs[3]) == 404
    assert await Phone.filter(mac=macs[3], status=PhoneStatus.PENDING).exists()

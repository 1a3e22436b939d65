"""The provisioning endpoint: GET /provisioning/{key}/{filename}."""

from __future__ import annotations

import httpx

from app.devices.models import Phone
from tests.conftest import GraphQLClient, LiveServer, Tenant
from tests.devices.conftest import GET_PHONE, create_phone, create_template, model_id

KEY = "query($id: ID!) { node(id: $id) { ... on Company { provisioningKey } } }"


async def provisioning_key(admin: GraphQLClient, tenant: Tenant) -> str:
    return (await admin.data(KEY, {"id": tenant.company_id}))["node"]["provisioningKey"]


async def fetch(live_server: LiveServer, key: str, filename: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        return await client.get(f"/provisioning/{key}/{filename}")


async def _active_cisco(admin: GraphQLClient, tenant: Tenant, mac: str) -> dict:
    await create_template(admin, "prov.xml", "<device><mac>{{ phone.mac }}</mac></device>\n")
    return await create_phone(
        admin, mac=mac, companyId=tenant.company_id,
        modelId=await model_id(admin, "Cisco", "8845"), templateFilename="prov.xml",
    )


async def test_active_phone_gets_its_rendered_config(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    phone = await _active_cisco(admin, acme, "AABBCCDD3001")
    assert phone["lastProvisionedAt"] is None
    response = await fetch(live_server, await provisioning_key(admin, acme), "SEPAABBCCDD3001.cnf.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == "<device><mac>AABBCCDD3001</mac></device>\n"
    after = (await admin.data(GET_PHONE, {"mac": phone["mac"]}))["phone"]
    assert after["lastProvisionedAt"] is not None
    assert after["lastSeenIp"] == "127.0.0.1"


async def test_each_fetch_updates_last_provisioned_at(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    await _active_cisco(admin, acme, "AABBCCDD3002")
    key = await provisioning_key(admin, acme)
    await fetch(live_server, key, "SEPAABBCCDD3002.cnf.xml")
    first = (await Phone.get(mac="AABBCCDD3002")).last_provisioned_at
    await Phone.filter(mac="AABBCCDD3002").update(last_provisioned_at=None)
    assert (await fetch(live_server, key, "SEPAABBCCDD3002.cnf.xml")).status_code == 200
    second = (await Phone.get(mac="AABBCCDD3002")).last_provisioned_at
    assert first is not None and second is not None


async def test_unknown_mac_registers_a_pending_phone(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    key = await provisioning_key(admin, acme)
    response = await fetch(live_server, key, "SEP00AA11BB22CC.cnf.xml")
    assert response.status_code == 404
    phone = (await admin.data(GET_PHONE, {"mac": "00AA11BB22CC"}))["phone"]
    assert phone["status"] == "PENDING"
    assert phone["company"]["id"] == acme.company_id
    assert phone["ipAddress"] == "127.0.0.1" and phone["lastSeenIp"] == "127.0.0.1"
    assert [line["port"] for line in phone["lines"]] == [1]
    # Asking again changes nothing: still pending, still one phone.
    assert (await fetch(live_server, key, "SEP00AA11BB22CC.cnf.xml")).status_code == 404
    data = await admin.data("{ phones(filter: {status: PENDING}) { totalCount } }")
    assert data["phones"]["totalCount"] == 1


async def test_approved_phone_with_a_template_is_then_served(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    key = await provisioning_key(admin, acme)
    assert (await fetch(live_server, key, "SEP00AA11BB22CD.cnf.xml")).status_code == 404
    await create_template(admin, "p.xml", "<device>{{ phone.mac_colon }}</device>")
    await admin.mutate(
        """mutation($mac: MacAddress!, $model: ID!) {
          phoneUpdate(mac: $mac, input: {modelId: $model, templateFilename: "p.xml"}) { userErrors { code } }
          }""",
        {"mac": "00AA11BB22CD", "model": await model_id(admin, "Cisco", "7841")},
    )
    assert (await fetch(live_server, key, "SEP00AA11BB22CD.cnf.xml")).status_code == 404  # pending
    await admin.mutate(
        'mutation { phoneApprove(mac: "00AA11BB22CD") { userErrors { code } } }'
    )
    response = await fetch(live_server, key, "SEP00AA11BB22CD.cnf.xml")
    assert response.status_code == 200
    assert response.text == "<device>00:AA:11:BB:22:CD</device>"


async def test_file_name_of_a_single_model_sets_the_pending_phones_model(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    key = await provisioning_key(admin, acme)
    assert (await fetch(live_server, key, "snomD785-000413A1B2C3.htm")).status_code == 404
    phone = (await admin.data(GET_PHONE, {"mac": "000413A1B2C3"}))["phone"]
    assert phone["status"] == "PENDING"
    assert (phone["model"]["vendor"], phone["model"]["name"]) == ("Snom", "D785")
    assert len(phone["lines"]) == phone["model"]["lineCount"]


async def test_rejected_phone_is_forbidden(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    await _active_cisco(admin, acme, "AABBCCDD3003")
    await admin.mutate('mutation { phoneReject(mac: "AABBCCDD3003") { userErrors { code } } }')
    response = await fetch(live_server, await provisioning_key(admin, acme), "SEPAABBCCDD3003.cnf.xml")
    assert response.status_code == 403
    assert "AABBCCDD3003" not in response.text
    assert (await Phone.get(mac="AABBCCDD3003")).last_provisioned_at is None


async def test_wrong_key_is_not_found_and_registers_nothing(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    await _active_cisco(admin, acme, "AABBCCDD3004")
    for key in ("pk_wrong", "x" * 300):
        response = await fetch(live_server, key, "SEPAABBCCDD3004.cnf.xml")
        assert response.status_code == 404
        assert "device" not in response.text
        assert (await fetch(live_server, key, "SEP00AA11BB22CE.cnf.xml")).status_code == 404
    assert not await Phone.filter(mac="00AA11BB22CE").exists()


async def test_another_companys_key_does_not_reach_a_phone(
    admin: GraphQLClient, acme: Tenant, globex: Tenant, live_server: LiveServer
) -> None:
    await _active_cisco(admin, acme, "AABBCCDD3005")
    response = await fetch(live_server, await provisioning_key(admin, globex), "SEPAABBCCDD3005.cnf.xml")
    assert response.status_code == 404
    phone = await Phone.get(mac="AABBCCDD3005")
    assert phone.last_seen_ip is None and phone.last_provisioned_at is None


async def test_regenerated_key_replaces_the_old_one(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    await _active_cisco(admin, acme, "AABBCCDD3006")
    old = await provisioning_key(admin, acme)
    await admin.mutate(
        "mutation($id: ID!) { companyProvisioningKeyRegenerate(id: $id) { userErrors { code } } }",
        {"id": acme.company_id},
    )
    new = await provisioning_key(admin, acme)
    assert new != old
    assert (await fetch(live_server, old, "SEPAABBCCDD3006.cnf.xml")).status_code == 404
    assert (await fetch(live_server, new, "SEPAABBCCDD3006.cnf.xml")).status_code == 200


async def test_file_names_outside_the_catalogue_conventions_are_not_found(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    await _active_cisco(admin, acme, "AABBCCDD3007")
    key = await provisioning_key(admin, acme)
    for name in (
        "sepaabbccdd3007.cnf.xml",  # Cisco phones ask in upper case
        "SEPAABBCCDD3007.cnf.xml.bak",
        "SEPAABBCCDD30.cnf.xml",
        "aabbccdd3007.exe",
        "..%2F..%2Fetc%2Fpasswd",
    ):
        assert (await fetch(live_server, key, name)).status_code == 404, name
    # A Yealink-style name for the Cisco phone is not its file either.
    assert (await fetch(live_server, key, "aabbccdd3007.cfg")).status_code == 404
    assert await Phone.all().count() == 1


async def test_yealink_config_is_plain_text(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    await create_phone(
        admin, mac="805EC0AABB01", companyId=acme.company_id,
        modelId=await model_id(admin, "Yealink", "T46U"), templateFilename="yealink.cfg",
        timezone="Europe/Berlin",
    )
    response = await fetch(live_server, await provisioning_key(admin, acme), "805ec0aabb01.cfg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    assert response.text.startswith("#!version:1.0.0.1")
    assert "local_time.time_zone_name = Europe/Berlin" in response.text


async def test_pending_registrations_per_company_are_capped(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Someone holding a leaked key cannot fill the registry with made-up MACs."""
    from app.devices import provisioning

    monkeypatch.setattr(provisioning, "MAX_PENDING_PER_COMPANY", 2)
    key = await provisioning_key(admin, acme)
    for mac in ("00AA11BB2201", "00AA11BB2202", "00AA11BB2203"):
        assert (await fetch(live_server, key, f"SEP{mac}.cnf.xml")).status_code == 404
    data = await admin.data("{ phones(filter: {status: PENDING}) { totalCount nodes { mac } } }")
    assert data["phones"]["totalCount"] == 2
    assert "00:AA:11:BB:22:03" not in [n["mac"] for n in data["phones"]["nodes"]]

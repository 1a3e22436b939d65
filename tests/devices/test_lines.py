"""Lines: SIP users of the phone's company on its ports, and their auth secrets."""

from __future__ import annotations

from app.core.crypto import decrypt
from app.devices.models import PhoneLine
from tests.conftest import GraphQLClient, Tenant
from tests.devices.conftest import (
    ASSIGN_LINE,
    add_sip_user,
    create_phone,
    model_id,
    phone_errors,
    pk_of,
)

REGENERATE = """
mutation($mac: MacAddress!) { phonePasswordsRegenerate(mac: $mac) {
  phone { lines { port hasAuthSecret } } userErrors { field code } } }
"""


async def _phone(admin: GraphQLClient, tenant: Tenant, mac: str, model: str = "7841") -> dict:
    return await create_phone(
        admin, mac=mac, companyId=tenant.company_id, modelId=await model_id(admin, "Cisco", model)
    )


async def test_assigning_a_user_puts_them_on_the_port(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await _phone(admin, acme, "AABBCCDD0001")
    alice = await add_sip_user(acme.company_id, "alice", "201")
    payload = await admin.mutate(ASSIGN_LINE, {"mac": phone["mac"], "port": 2, "user": alice.id})
    lines = {line["port"]: line["sipUser"] for line in payload["phone"]["lines"]}
    assert lines[2] == {"id": alice.id, "username": "alice"}
    assert lines[1] is None and payload["phone"]["assignee"] is None


async def test_assignee_is_the_user_on_line_one(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await _phone(admin, acme, "AABBCCDD0002")
    bob = await add_sip_user(acme.company_id, "bob", "202")
    payload = await admin.mutate(ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": bob.id})
    assert payload["phone"]["assignee"] == {"id": bob.id, "username": "bob"}


async def test_null_user_frees_the_line(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await _phone(admin, acme, "AABBCCDD0003")
    bob = await add_sip_user(acme.company_id, "bob", "202")
    await admin.mutate(ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": bob.id})
    payload = await admin.mutate(ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": None})
    assert payload["phone"]["assignee"] is None
    assert all(line["sipUser"] is None for line in payload["phone"]["lines"])


async def test_port_outside_the_model_is_invalid(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await _phone(admin, acme, "AABBCCDD0004", model="7821")  # 2 lines
    bob = await add_sip_user(acme.company_id, "bob", "202")
    for port in (0, 3, -1):
        errors = await phone_errors(
            admin, ASSIGN_LINE, {"mac": phone["mac"], "port": port, "user": bob.id}
        )
        assert errors == [{"field": ["port"], "code": "INVALID"}]


async def test_user_of_another_company_is_not_found(
    admin: GraphQLClient, acme: Tenant, globex: Tenant
) -> None:
    phone = await _phone(admin, acme, "AABBCCDD0005")
    stranger = await add_sip_user(globex.company_id, "eve", "666")
    errors = await phone_errors(
        admin, ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": stranger.id}
    )
    assert errors == [{"field": ["sipUserId"], "code": "NOT_FOUND"}]
    errors = await phone_errors(
        admin, ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": "bm9wZQ"}
    )
    assert errors == [{"field": ["sipUserId"], "code": "NOT_FOUND"}]


async def test_company_admin_assigns_their_own_users(acme: Tenant) -> None:
    phone = await create_phone(acme.client, mac="AABBCCDD0006")
    carol = await add_sip_user(acme.company_id, "carol", "203")
    payload = await acme.client.mutate(
        ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": carol.id}
    )
    assert payload["phone"]["assignee"]["username"] == "carol"


async def test_every_line_gets_its_own_random_secret(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await _phone(admin, acme, "AABBCCDD0007")
    rows = await PhoneLine.filter(phone_id=pk_of(phone["id"])).order_by("port")
    secrets = [decrypt(r.auth_secret_enc) for r in rows]
    assert len(secrets) == 4 and len(set(secrets)) == 4
    assert all(len(s) >= 20 for s in secrets)


async def test_regenerating_passwords_replaces_every_line_secret(
    admin: GraphQLClient, acme: Tenant
) -> None:
    phone = await _phone(admin, acme, "AABBCCDD0008")
    before = {
        r.port: decrypt(r.auth_secret_enc)
        for r in await PhoneLine.filter(phone_id=pk_of(phone["id"]))
    }
    payload = await admin.mutate(REGENERATE, {"mac": "aa:bb:cc:dd:00:08"})
    assert all(line["hasAuthSecret"] for line in payload["phone"]["lines"])
    after = {
        r.port: decrypt(r.auth_secret_enc)
        for r in await PhoneLine.filter(phone_id=pk_of(phone["id"]))
    }
    assert before.keys() == after.keys()
    assert all(before[p] != after[p] for p in before)
    assert not set(before.values()) & set(after.values())


async def test_regenerating_passwords_of_unknown_phone_is_not_found(admin: GraphQLClient) -> None:
    errors = await phone_errors(admin, REGENERATE, {"mac": "AABBCCDD00FF"})
    assert errors == [{"field": ["mac"], "code": "NOT_FOUND"}]

"""Who sees and changes which devices, and secrets never leaving the server."""

from __future__ import annotations

import json

from app.core.crypto import decrypt
from app.devices.models import DectBase, PhoneLine
from tests.conftest import GraphQLClient, LiveServer, Tenant
from tests.devices.conftest import (
    ASSIGN_LINE,
    GET_PHONE,
    PHONE_FIELDS,
    UPDATE_PHONE,
    add_sip_user,
    create_phone,
    create_template,
    model_id,
    phone_errors,
    pk_of,
    user_client,
)

LIST = f"{{ phones {{ nodes {{ {PHONE_FIELDS} }} totalCount }} }}"
NODE = "query($id: ID!) { node(id: $id) { id } }"
DECT_CREATE = """mutation($input: DectBaseInput!) { dectBaseCreate(input: $input) {
  dectBase { id name } userErrors { field code } } }"""


def dect_input(tenant: Tenant, mac: str, **more: object) -> dict:
    return {
        "name": "B", "mac": mac, "companyId": tenant.company_id, "timezone": "UTC",
        "tone": "UK", "interface": "WEB_DOMAIN", **more,
    }


async def test_company_admin_sees_only_their_phones(
    admin: GraphQLClient, acme: Tenant, globex: Tenant
) -> None:
    mine = await create_phone(admin, mac="AABBCCDD4001", companyId=acme.company_id)
    theirs = await create_phone(admin, mac="AABBCCDD4002", companyId=globex.company_id)
    data = await acme.client.data(LIST)
    assert [n["mac"] for n in data["phones"]["nodes"]] == [mine["mac"]]
    assert data["phones"]["totalCount"] == 1
    assert (await acme.client.data(GET_PHONE, {"mac": theirs["mac"]}))["phone"] is None
    assert (await acme.client.data(NODE, {"id": theirs["id"]}))["node"] is None
    filtered = await acme.client.data(
        "query($c: ID) { phones(filter: {companyId: $c}) { totalCount } }",
        {"c": globex.company_id},
    )
    assert filtered["phones"]["totalCount"] == 0


async def test_company_admin_cannot_touch_another_companys_phone(
    admin: GraphQLClient, acme: Tenant, globex: Tenant
) -> None:
    theirs = await create_phone(admin, mac="AABBCCDD4003", companyId=globex.company_id, name="G")
    mac = theirs["mac"]
    not_found = [{"field": ["mac"], "code": "NOT_FOUND"}]
    assert await phone_errors(acme.client, UPDATE_PHONE, {"mac": mac, "input": {"name": "x"}}) == not_found
    for mutation in ("phoneDelete", "phoneApprove", "phoneReject", "phonePasswordsRegenerate"):
        query = f"mutation($mac: MacAddress!) {{ {mutation}(mac: $mac) {{ userErrors {{ field code }} }} }}"
        assert await phone_errors(acme.client, query, {"mac": mac}) == not_found, mutation
    assert await phone_errors(acme.client, ASSIGN_LINE, {"mac": mac, "port": 1, "user": None}) == not_found
    assert (await admin.data(GET_PHONE, {"mac": mac}))["phone"]["name"] == "G"


async def test_company_admin_cannot_move_a_phone_away(
    admin: GraphQLClient, acme: Tenant, globex: Tenant
) -> None:
    phone = await create_phone(acme.client, mac="AABBCCDD4004")
    errors = await phone_errors(
        acme.client, UPDATE_PHONE, {"mac": phone["mac"], "input": {"companyId": globex.company_id}}
    )
    assert errors == [{"field": ["input", "companyId"], "code": "NOT_FOUND"}]


async def test_moving_a_phone_frees_lines_of_the_old_companys_users(
    admin: GraphQLClient, acme: Tenant, globex: Tenant
) -> None:
    phone = await create_phone(admin, mac="AABBCCDD4005", companyId=acme.company_id)
    alice = await add_sip_user(acme.company_id, "alice", "201")
    await admin.mutate(ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": alice.id})
    payload = await admin.mutate(
        UPDATE_PHONE, {"mac": phone["mac"], "input": {"companyId": globex.company_id}}
    )
    assert payload["phone"]["company"]["name"] == "Globex"
    assert payload["phone"]["assignee"] is None


async def test_user_token_reads_only_phones_on_its_lines(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    alice = await add_sip_user(acme.company_id, "alice", "201")
    bob = await add_sip_user(acme.company_id, "bob", "202")
    mine = await create_phone(admin, mac="AABBCCDD4006", companyId=acme.company_id)
    other = await create_phone(admin, mac="AABBCCDD4007", companyId=acme.company_id)
    await admin.mutate(ASSIGN_LINE, {"mac": mine["mac"], "port": 1, "user": alice.id})
    await admin.mutate(ASSIGN_LINE, {"mac": other["mac"], "port": 1, "user": bob.id})
    client = await user_client(admin, live_server, alice)
    data = await client.data("{ phones { nodes { mac assignee { username } } totalCount } }")
    assert data["phones"] == {
        "nodes": [{"mac": mine["mac"], "assignee": {"username": "alice"}}], "totalCount": 1
    }
    assert (await client.data(GET_PHONE, {"mac": other["mac"]}))["phone"] is None
    assert (await client.data("{ phoneTemplates { filename } }"))["phoneTemplates"] == []
    for field in ("NAME", "LAST_PROVISIONED_AT"):
        ordered = await client.data(
            "query($f: PhoneOrderField!) { phones(orderBy: {field: $f, direction: DESC}) "
            "{ nodes { mac } } }",
            {"f": field},
        )
        assert ordered["phones"]["nodes"] == [{"mac": mine["mac"]}]


async def test_user_token_changes_nothing(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    alice = await add_sip_user(acme.company_id, "alice", "201")
    mine = await create_phone(admin, mac="AABBCCDD4008", companyId=acme.company_id, name="A")
    await admin.mutate(ASSIGN_LINE, {"mac": mine["mac"], "port": 1, "user": alice.id})
    client = await user_client(admin, live_server, alice)
    attempts = [
        (UPDATE_PHONE, {"mac": mine["mac"], "input": {"name": "hacked"}}),
        ("mutation { phoneCreate(input: {mac: \"AABBCCDD4009\"}) { userErrors { code } } }", {}),
        ("mutation($m: MacAddress!) { phoneDelete(mac: $m) { userErrors { code } } }", {"m": mine["mac"]}),
        ("mutation($m: MacAddress!) { phonePasswordsRegenerate(mac: $m) { userErrors { code } } }", {"m": mine["mac"]}),
        (ASSIGN_LINE, {"mac": mine["mac"], "port": 1, "user": None}),
        (DECT_CREATE, {"input": dect_input(acme, "AABBCCDD400A")}),
        ("mutation { phoneTemplateCreate(input: {filename: \"a\", content: \"b\"}) { userErrors { code } } }", {}),
    ]
    for query, variables in attempts:
        body = await client.execute(query, variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", query
    assert (await admin.data(GET_PHONE, {"mac": mine["mac"]}))["phone"]["name"] == "A"


async def test_dect_bases_are_isolated_per_company(
    admin: GraphQLClient, acme: Tenant, globex: Tenant
) -> None:
    theirs = (await admin.mutate(DECT_CREATE, {"input": dect_input(globex, "AABBCCDD4010")}))["dectBase"]
    mine = (await acme.client.mutate(DECT_CREATE, {"input": dect_input(acme, "AABBCCDD4011", companyId=None)}))["dectBase"]
    data = await acme.client.data("{ dectBases { nodes { id } totalCount } }")
    assert data["dectBases"] == {"nodes": [{"id": mine["id"]}], "totalCount": 1}
    assert (await acme.client.data(NODE, {"id": theirs["id"]}))["node"] is None
    for query, variables in (
        ("mutation($id: ID!) { dectBaseUpdate(id: $id, input: {name: \"x\"}) { userErrors { field code } } }", {"id": theirs["id"]}),
        ("mutation($id: ID!) { dectBaseDelete(id: $id) { userErrors { field code } } }", {"id": theirs["id"]}),
        ("mutation($id: ID!) { dectBaseMembersSet(id: $id, members: []) { userErrors { field code } } }", {"id": theirs["id"]}),
    ):
        assert await phone_errors(acme.client, query, variables) == [{"field": ["id"], "code": "NOT_FOUND"}]
    errors = await phone_errors(
        acme.client, DECT_CREATE, {"input": dect_input(acme, "AABBCCDD4012", companyId=globex.company_id)}
    )
    assert errors == [{"field": ["input", "companyId"], "code": "NOT_FOUND"}]


async def test_no_secret_appears_in_any_response(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    await create_template(admin, "s.xml", "{{ phone.web_password }}")
    alice = await add_sip_user(acme.company_id, "alice", "201")
    phone = await create_phone(
        admin, mac="AABBCCDD4013", companyId=acme.company_id, webPassword="Web-Pass-Secret-1",
        modelId=await model_id(admin, "Cisco", "7841"), templateFilename="s.xml",
    )
    await admin.mutate(ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": alice.id})
    await admin.mutate(
        "mutation($m: MacAddress!) { phonePasswordsRegenerate(mac: $m) { userErrors { code } } }",
        {"m": phone["mac"]},
    )
    base = (
        await admin.mutate(
            DECT_CREATE,
            {"input": dect_input(acme, "AABBCCDD4014", password="Dect-Admin-Secret",
                                 userPassword="Dect-User-Secret", engineerPassword="Dect-Eng-Secret")},
        )
    )["dectBase"]
    secrets = ["Web-Pass-Secret-1", "Dect-Admin-Secret", "Dect-User-Secret", "Dect-Eng-Secret"]
    secrets += [decrypt(r.auth_secret_enc or "") for r in await PhoneLine.filter(phone_id=pk_of(phone["id"]))]
    stored = await DectBase.get(id=pk_of(base["id"]))
    assert stored.password_enc and "Dect-Admin-Secret" not in stored.password_enc

    dect_fields = """id name mac hasPassword hasUserPassword hasEngineerPassword timezone tone
      members { extensionNumber } template { content } model { name }"""
    responses = []
    for client in (admin, acme.client, await user_client(admin, live_server, alice)):
        responses.append(await client.execute(LIST))
        responses.append(await client.execute(GET_PHONE, {"mac": phone["mac"]}))
        responses.append(await client.execute(f"{{ dectBases {{ nodes {{ {dect_fields} }} }} }}"))
        responses.append(
            await client.execute(
                "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Phone { hasWebPassword "
                "lines { authName hasAuthSecret } } } }",
                {"ids": [phone["id"], base["id"]]},
            )
        )
    text = json.dumps(responses)
    assert "hasWebPassword" in text and "AABBCCDD4013-1" in text
    for secret in secrets:
        assert secret not in text

"""DECT bases and their members."""

from __future__ import annotations

from typing import Any

import httpx

from app.core.crypto import decrypt
from app.devices.models import DectBase
from tests.conftest import GraphQLClient, LiveServer, Tenant
from tests.devices.conftest import (
    add_sip_user,
    create_phone,
    create_template,
    model_id,
    phone_errors,
)

BASE_FIELDS = """
  id name mac timezone region language handsetLanguage tone rps https codecs interface
  preferredTransport hasPassword hasUserPassword hasEngineerPassword
  company { name } model { vendor name } template { filename }
  members { extensionNumber handsetIndex ipui sipUser { username } }
"""
CREATE = f"""mutation($input: DectBaseInput!) {{ dectBaseCreate(input: $input) {{
  dectBase {{ {BASE_FIELDS} }} userErrors {{ field code message }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: DectBaseInput!) {{ dectBaseUpdate(id: $id, input: $input) {{
  dectBase {{ {BASE_FIELDS} }} userErrors {{ field code message }} }} }}"""
DELETE = """mutation($id: ID!) { dectBaseDelete(id: $id) { deletedId userErrors { field code } } }"""
MEMBERS = f"""mutation($id: ID!, $members: [DectMemberInput!]!) {{
  dectBaseMembersSet(id: $id, members: $members) {{
    dectBase {{ {BASE_FIELDS} }} userErrors {{ field code message }} }} }}"""
MEMBER = """query($id: ID!, $ext: String!) { node(id: $id) { ... on DectBase {
  member(extensionNumber: $ext) { extensionNumber handsetIndex ipui sipUser { username } } } } }"""


def minimal(tenant: Tenant, mac: str = "7C2F80000001", **more: Any) -> dict[str, Any]:
    return {
        "name": "Warehouse",
        "mac": mac,
        "companyId": tenant.company_id,
        "timezone": "Europe/Berlin",
        "tone": "Germany",
        "interface": "PUBLIC_IPV4",
        **more,
    }


async def create_base(client: GraphQLClient, data: dict[str, Any]) -> dict[str, Any]:
    return (await client.mutate(CREATE, {"input": data}))["dectBase"]


async def test_base_is_created_with_every_field(admin: GraphQLClient, acme: Tenant) -> None:
    await create_template(admin, "n870.xml", "<base>{{ base.name }}</base>")
    base = await create_base(
        admin,
        minimal(
            acme,
            mac="7c:2f:80:00:00:01",
            modelId=await model_id(admin, "Gigaset", "N870"),
            templateFilename="n870.xml",
            password="admin-pw",
            userPassword="user-pw",
            engineerPassword="eng-pw",
            region="DE",
            language="GERMAN",
            handsetLanguage="ENGLISH",
            rps=True,
            https=True,
            codecs=["G722", "PCMA"],
            preferredTransport="TLS",
        ),
    )
    assert base["mac"] == "7C:2F:80:00:00:01"
    assert base["company"] == {"name": "Acme"}
    assert base["model"] == {"vendor": "Gigaset", "name": "N870"}
    assert base["template"] == {"filename": "n870.xml"}
    assert (base["language"], base["handsetLanguage"]) == ("GERMAN", "ENGLISH")
    assert (base["interface"], base["preferredTransport"]) == ("PUBLIC_IPV4", "TLS")
    assert base["rps"] is True and base["https"] is True and base["region"] == "DE"
    assert base["hasPassword"] and base["hasUserPassword"] and base["hasEngineerPassword"]
    row = await DectBase.get(mac="7C2F80000001")
    assert decrypt(row.password_enc or "") == "admin-pw"


async def test_defaults_of_a_minimal_base(admin: GraphQLClient, acme: Tenant) -> None:
    base = await create_base(admin, minimal(acme))
    assert base["language"] == "ENGLISH" and base["preferredTransport"] == "UDP"
    assert base["hasPassword"] is False and base["members"] == [] and base["codecs"] == []


async def test_required_fields_on_create(admin: GraphQLClient, acme: Tenant) -> None:
    for field in ("name", "mac", "timezone", "tone", "interface"):
        data = minimal(acme)
        del data[field]
        errors = await phone_errors(admin, CREATE, {"input": data})
        assert errors == [{"field": ["input", field], "code": "REQUIRED"}], field
    data = minimal(acme)
    del data["companyId"]
    assert await phone_errors(admin, CREATE, {"input": data}) == [
        {"field": ["input", "companyId"], "code": "REQUIRED"}
    ]


async def test_name_length_and_enums_are_checked(admin: GraphQLClient, acme: Tenant) -> None:
    errors = await phone_errors(admin, CREATE, {"input": minimal(acme, name="x" * 65)})
    assert errors == [{"field": ["input", "name"], "code": "INVALID"}]
    errors = await phone_errors(admin, CREATE, {"input": minimal(acme, name="   ")})
    assert errors == [{"field": ["input", "name"], "code": "REQUIRED"}]
    body = await admin.execute(CREATE, {"input": minimal(acme, language="KLINGON")})
    assert body["errors"]  # not an enum value: a validation error
    errors = await phone_errors(admin, CREATE, {"input": minimal(acme, timezone="Nowhere/Land")})
    assert errors == [{"field": ["input", "timezone"], "code": "INVALID"}]


async def test_mac_is_unique_across_bases_and_phones(admin: GraphQLClient, acme: Tenant) -> None:
    await create_base(admin, minimal(acme))
    assert await phone_errors(admin, CREATE, {"input": minimal(acme, name="Other")}) == [
        {"field": ["input", "mac"], "code": "DUPLICATE"}
    ]
    await create_phone(admin, mac="7C2F80000002", companyId=acme.company_id)
    assert await phone_errors(admin, CREATE, {"input": minimal(acme, mac="7C2F80000002")}) == [
        {"field": ["input", "mac"], "code": "DUPLICATE"}
    ]


async def test_desk_phone_model_is_incompatible(admin: GraphQLClient, acme: Tenant) -> None:
    data = minimal(acme, modelId=await model_id(admin, "Cisco", "8845"))
    assert await phone_errors(admin, CREATE, {"input": data}) == [
        {"field": ["input", "modelId"], "code": "INCOMPATIBLE"}
    ]


async def test_update_is_partial_and_passwords_can_be_cleared(
    admin: GraphQLClient, acme: Tenant
) -> None:
    base = await create_base(admin, minimal(acme, password="pw", region="DE"))
    payload = await admin.mutate(
        UPDATE, {"id": base["id"], "input": {"name": "Hall", "password": None, "rps": True}}
    )
    updated = payload["dectBase"]
    assert updated["name"] == "Hall" and updated["rps"] is True
    assert updated["hasPassword"] is False
    assert updated["region"] == "DE" and updated["timezone"] == "Europe/Berlin"
    errors = await phone_errors(admin, UPDATE, {"id": base["id"], "input": {"tone": None}})
    assert errors == [{"field": ["input", "tone"], "code": "REQUIRED"}]
    errors = await phone_errors(admin, UPDATE, {"id": base["id"], "input": {"mac": "7C2F80000099"}})
    assert errors == [{"field": ["input", "mac"], "code": "INVALID"}]


async def test_delete_removes_the_base(admin: GraphQLClient, acme: Tenant) -> None:
    base = await create_base(admin, minimal(acme))
    assert (await admin.mutate(DELETE, {"id": base["id"]}))["deletedId"] == base["id"]
    assert await phone_errors(admin, DELETE, {"id": base["id"]}) == [
        {"field": ["id"], "code": "NOT_FOUND"}
    ]
    data = await admin.data("{ dectBases { totalCount } }")
    assert data["dectBases"]["totalCount"] == 0


async def test_members_set_replaces_the_list(admin: GraphQLClient, acme: Tenant) -> None:
    base = await create_base(admin, minimal(acme))
    first = [
        {"extensionNumber": "201", "handsetIndex": 1, "ipui": "0328d3c918"},
        {"extensionNumber": "202", "handsetIndex": 2},
    ]
    payload = await admin.mutate(MEMBERS, {"id": base["id"], "members": first})
    assert payload["dectBase"]["members"] == [
        {"extensionNumber": "201", "handsetIndex": 1, "ipui": "0328D3C918", "sipUser": None},
        {"extensionNumber": "202", "handsetIndex": 2, "ipui": None, "sipUser": None},
    ]
    payload = await admin.mutate(
        MEMBERS, {"id": base["id"], "members": [{"extensionNumber": "300"}]}
    )
    assert [m["extensionNumber"] for m in payload["dectBase"]["members"]] == ["300"]
    payload = await admin.mutate(MEMBERS, {"id": base["id"], "members": []})
    assert payload["dectBase"]["members"] == []


async def test_bad_members_are_refused_and_the_list_is_kept(
    admin: GraphQLClient, acme: Tenant
) -> None:
    base = await create_base(admin, minimal(acme))
    await admin.mutate(MEMBERS, {"id": base["id"], "members": [{"extensionNumber": "201"}]})
    bad = [
        {"extensionNumber": "12"},
        {"extensionNumber": "20a1"},
        {"extensionNumber": "1" * 65},
        {"extensionNumber": "555", "handsetIndex": 1},
        {"extensionNumber": "555", "handsetIndex": 1},
        {"extensionNumber": "556", "ipui": "xyz"},
    ]
    errors = await phone_errors(admin, MEMBERS, {"id": base["id"], "members": bad})
    assert errors == [
        {"field": ["members", "0", "extensionNumber"], "code": "INVALID"},
        {"field": ["members", "1", "extensionNumber"], "code": "INVALID"},
        {"field": ["members", "2", "extensionNumber"], "code": "INVALID"},
        {"field": ["members", "4", "extensionNumber"], "code": "DUPLICATE"},
        {"field": ["members", "4", "handsetIndex"], "code": "DUPLICATE"},
        {"field": ["members", "5", "ipui"], "code": "INVALID"},
    ]
    data = await admin.data(MEMBER, {"id": base["id"], "ext": "201"})
    assert data["node"]["member"]["extensionNumber"] == "201"


async def test_member_lookup_and_its_sip_user(admin: GraphQLClient, acme: Tenant, globex: Tenant) -> None:
    base = await create_base(admin, minimal(acme))
    await add_sip_user(acme.company_id, "dora", "201", domain="acme-b.sip.example.net")
    await add_sip_user(globex.company_id, "eve", "202")
    await admin.mutate(
        MEMBERS,
        {"id": base["id"], "members": [{"extensionNumber": "201"}, {"extensionNumber": "202"}]},
    )
    data = await admin.data(MEMBER, {"id": base["id"], "ext": "201"})
    assert data["node"]["member"]["sipUser"] == {"username": "dora"}
    # Another company's user with the number is not this base's.
    data = await admin.data(MEMBER, {"id": base["id"], "ext": "202"})
    assert data["node"]["member"] == {
        "extensionNumber": "202", "handsetIndex": None, "ipui": None, "sipUser": None
    }
    data = await admin.data(MEMBER, {"id": base["id"], "ext": "999"})
    assert data["node"]["member"] is None


async def test_bases_are_listed_with_pagination(admin: GraphQLClient, acme: Tenant) -> None:
    for i in range(3):
        await create_base(admin, minimal(acme, mac=f"7C2F800001{i:02d}", name=f"Base {i}"))
    page = await admin.data("{ dectBases(first: 2) { nodes { name } pageInfo { endCursor hasNextPage } totalCount } }")
    assert [n["name"] for n in page["dectBases"]["nodes"]] == ["Base 0", "Base 1"]
    assert page["dectBases"]["totalCount"] == 3 and page["dectBases"]["pageInfo"]["hasNextPage"]
    rest = await admin.data(
        "query($a: String) { dectBases(first: 2, after: $a) { nodes { name } } }",
        {"a": page["dectBases"]["pageInfo"]["endCursor"]},
    )
    assert [n["name"] for n in rest["dectBases"]["nodes"]] == ["Base 2"]


async def test_known_base_is_served_its_config(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    await create_template(
        admin, "gigaset.xml",
        "<base name=\"{{ base.name }}\">{% for m in members %}<hs ext=\"{{ m.extension }}\" "
        "user=\"{{ m.user.username if m.user else '' }}\"/>{% endfor %}</base>",
    )
    base = await create_base(
        admin, minimal(acme, modelId=await model_id(admin, "Gigaset", "N870"), templateFilename="gigaset.xml"),
    )
    await add_sip_user(acme.company_id, "dora", "201")
    await admin.mutate(MEMBERS, {"id": base["id"], "members": [{"extensionNumber": "201"}]})
    key = (
        await admin.data(
            "query($id: ID!) { node(id: $id) { ... on Company { provisioningKey } } }",
            {"id": acme.company_id},
        )
    )["node"]["provisioningKey"]
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        response = await client.get(f"/provisioning/{key}/7C2F80000001.xml")
    assert response.status_code == 200
    assert response.text == '<base name="Warehouse"><hs ext="201" user="dora"/></base>'


async def test_template_used_by_a_base_cannot_be_deleted(admin: GraphQLClient, acme: Tenant) -> None:
    await create_template(admin, "w60.cfg", "x")
    await create_base(admin, minimal(acme, templateFilename="w60.cfg"))
    errors = await phone_errors(
        admin,
        'mutation { phoneTemplateDelete(filename: "w60.cfg") { deletedId userErrors { field code } } }',
        {},
    )
    assert errors == [{"field": ["filename"], "code": "IN_USE"}]

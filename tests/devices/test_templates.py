"""Config templates: CRUD by filename, compile check, in-use protection, rendering."""

from __future__ import annotations

import pytest

from app.core.crypto import decrypt
from app.core.errors import UserInputError
from app.devices.models import PhoneLine
from app.devices.rendering import render_phone_config
from tests.conftest import GraphQLClient, Tenant
from tests.devices.conftest import (
    ASSIGN_LINE,
    CREATE_TEMPLATE,
    add_sip_user,
    create_phone,
    create_template,
    model_id,
    phone_errors,
    pk_of,
)

UPDATE = """mutation($f: String!, $input: PhoneTemplateInput!) {
  phoneTemplateUpdate(filename: $f, input: $input) {
    phoneTemplate { filename content model { name } } userErrors { field code message } } }"""
DELETE = """mutation($f: String!) { phoneTemplateDelete(filename: $f) {
  deletedId userErrors { field code message } } }"""
GET = "query($f: String!) { phoneTemplate(filename: $f) { filename content isCustom } }"


async def test_template_is_created_and_read_by_filename(admin: GraphQLClient) -> None:
    created = await create_template(admin, "office-8845.cnf.xml", "<device>{{ phone.mac }}</device>")
    assert created["isCustom"] is True and created["model"] is None
    data = await admin.data(GET, {"f": "office-8845.cnf.xml"})
    assert data["phoneTemplate"] == {
        "filename": "office-8845.cnf.xml",
        "content": "<device>{{ phone.mac }}</device>",
        "isCustom": True,
    }
    listed = await admin.data("{ phoneTemplates { filename } }")
    assert "office-8845.cnf.xml" in [t["filename"] for t in listed["phoneTemplates"]]
    assert (await admin.data(GET, {"f": "missing.xml"}))["phoneTemplate"] is None


@pytest.mark.parametrize(
    "filename",
    ["../etc/passwd", "a/b.xml", ".hidden", "a..b", "sp ace.xml", "semi;colon", "x" * 129, "é.xml"],
)
async def test_unsafe_filenames_are_invalid(admin: GraphQLClient, filename: str) -> None:
    errors = await phone_errors(
        admin, CREATE_TEMPLATE, {"input": {"filename": filename, "content": "x"}}
    )
    assert errors == [{"field": ["input", "filename"], "code": "INVALID"}]


async def test_filename_and_content_are_required(admin: GraphQLClient) -> None:
    errors = await phone_errors(admin, CREATE_TEMPLATE, {"input": {"content": "x"}})
    assert errors == [{"field": ["input", "filename"], "code": "REQUIRED"}]
    errors = await phone_errors(admin, CREATE_TEMPLATE, {"input": {"filename": "a.xml"}})
    assert errors == [{"field": ["input", "content"], "code": "REQUIRED"}]


async def test_duplicate_filename_is_refused(admin: GraphQLClient) -> None:
    await create_template(admin, "dup.xml", "a")
    errors = await phone_errors(
        admin, CREATE_TEMPLATE, {"input": {"filename": "dup.xml", "content": "b"}}
    )
    assert errors == [{"field": ["input", "filename"], "code": "DUPLICATE"}]
    await create_template(admin, "other.xml", "c")
    errors = await phone_errors(admin, UPDATE, {"f": "other.xml", "input": {"filename": "dup.xml"}})
    assert errors == [{"field": ["input", "filename"], "code": "DUPLICATE"}]


async def test_template_that_does_not_compile_is_refused_with_its_line(
    admin: GraphQLClient,
) -> None:
    content = "line one\nline two\n{% for x in lines %}\nunclosed\n"
    body = await admin.data(CREATE_TEMPLATE, {"input": {"filename": "bad.xml", "content": content}})
    errors = body["phoneTemplateCreate"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "content"], "INVALID")]
    assert errors[0]["message"].startswith("line 3:")  # where the unclosed block opens
    assert (await admin.data(GET, {"f": "bad.xml"}))["phoneTemplate"] is None

    body = await admin.data(
        CREATE_TEMPLATE, {"input": {"filename": "bad2.xml", "content": "ok\n{{ phone.mac }\n"}}
    )
    assert "line 2" in body["phoneTemplateCreate"]["userErrors"][0]["message"]


async def test_update_changes_only_what_is_sent(admin: GraphQLClient) -> None:
    t46 = await model_id(admin, "Yealink", "T46U")
    await create_template(admin, "y.cfg", "v1", modelId=t46)
    payload = await admin.mutate(UPDATE, {"f": "y.cfg", "input": {"content": "v2"}})
    assert payload["phoneTemplate"] == {"filename": "y.cfg", "content": "v2", "model": {"name": "T46U"}}
    payload = await admin.mutate(UPDATE, {"f": "y.cfg", "input": {"modelId": None, "filename": "z.cfg"}})
    assert payload["phoneTemplate"] == {"filename": "z.cfg", "content": "v2", "model": None}
    errors = await phone_errors(admin, UPDATE, {"f": "z.cfg", "input": {"content": "{% if %}"}})
    assert errors == [{"field": ["input", "content"], "code": "INVALID"}]
    errors = await phone_errors(admin, UPDATE, {"f": "nope.cfg", "input": {"content": "x"}})
    assert errors == [{"field": ["filename"], "code": "NOT_FOUND"}]


async def test_template_used_by_a_phone_cannot_be_deleted(
    admin: GraphQLClient, acme: Tenant
) -> None:
    tpl = await create_template(admin, "used.xml", "x")
    phone = await create_phone(
        admin, mac="AABBCCDD2001", companyId=acme.company_id, templateFilename="used.xml"
    )
    errors = await phone_errors(admin, DELETE, {"f": "used.xml"})
    assert errors == [{"field": ["filename"], "code": "IN_USE"}]
    await admin.mutate(
        "mutation($mac: MacAddress!) { phoneDelete(mac: $mac) { userErrors { code } } }",
        {"mac": phone["mac"]},
    )
    payload = await admin.mutate(DELETE, {"f": "used.xml"})
    assert payload["deletedId"] == tpl["id"]
    assert (await admin.data(GET, {"f": "used.xml"}))["phoneTemplate"] is None


async def test_builtin_templates_are_read_only(admin: GraphQLClient) -> None:
    data = await admin.data("{ phoneTemplates { filename isCustom } }")
    builtin = [t["filename"] for t in data["phoneTemplates"] if not t["isCustom"]]
    assert "cisco-sip.cnf.xml" in builtin
    assert await phone_errors(admin, DELETE, {"f": "cisco-sip.cnf.xml"}) == [
        {"field": ["filename"], "code": "FORBIDDEN"}
    ]
    assert await phone_errors(admin, UPDATE, {"f": "cisco-sip.cnf.xml", "input": {"content": "x"}}) == [
        {"field": ["filename"], "code": "FORBIDDEN"}
    ]


async def test_company_admins_read_templates_but_cannot_write_them(
    admin: GraphQLClient, acme: Tenant
) -> None:
    await create_template(admin, "shared.xml", "x")
    data = await acme.client.data(GET, {"f": "shared.xml"})
    assert data["phoneTemplate"]["filename"] == "shared.xml"
    for query, variables in (
        (CREATE_TEMPLATE, {"input": {"filename": "mine.xml", "content": "x"}}),
        (UPDATE, {"f": "shared.xml", "input": {"content": "y"}}),
        (DELETE, {"f": "shared.xml"}),
    ):
        body = await acme.client.execute(query, variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await admin.data(GET, {"f": "shared.xml"}))["phoneTemplate"]["content"] == "x"


async def test_rendering_fills_in_phone_lines_users_and_secrets(
    admin: GraphQLClient, acme: Tenant
) -> None:
    await create_template(admin, "office.xml")
    phone = await create_phone(
        admin,
        mac="AABBCCDD2002",
        companyId=acme.company_id,
        modelId=await model_id(admin, "Cisco", "7821"),
        templateFilename="office.xml",
        name="Front desk",
    )
    alice = await add_sip_user(acme.company_id, "alice", "201", domain="acme.sip.example.net")
    await admin.mutate(ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": alice.id})
    name, body = await render_phone_config(pk_of(phone["id"]))
    assert name == "SEPAABBCCDD2002.cnf.xml"
    text = body.decode()
    secret = decrypt(
        (await PhoneLine.get(phone_id=pk_of(phone["id"]), port=1)).auth_secret_enc or ""
    )
    assert "<name>Front desk</name>" in text
    assert f'<line port="1" user="alice" auth="AABBCCDD2002-1" secret="{secret}"/>' in text
    assert '<line port="2" user=""' in text
    assert "<company>Acme</company>" in text and "<domain>acme.sip.example.net</domain>" in text


async def test_builtin_cisco_template_renders(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await create_phone(
        admin, mac="AABBCCDD2003", companyId=acme.company_id,
        modelId=await model_id(admin, "Cisco", "8845"), templateFilename="cisco-sip.cnf.xml",
        timezone="Europe/London",
    )
    bob = await add_sip_user(acme.company_id, "bob", "202")
    await admin.mutate(ASSIGN_LINE, {"mac": phone["mac"], "port": 1, "user": bob.id})
    _, body = await render_phone_config(pk_of(phone["id"]))
    from lxml import etree

    root = etree.fromstring(body)
    assert root.tag == "device"
    assert root.findtext(".//line[@button='1']/name") == "202"


async def test_rendering_needs_a_model_and_a_template(admin: GraphQLClient, acme: Tenant) -> None:
    no_model = await create_phone(admin, mac="AABBCCDD2004", companyId=acme.company_id)
    with pytest.raises(UserInputError) as exc:
        await render_phone_config(pk_of(no_model["id"]))
    assert exc.value.errors[0].code.value == "REQUIRED"
    no_template = await create_phone(
        admin, mac="AABBCCDD2005", companyId=acme.company_id,
        modelId=await model_id(admin, "Cisco", "8845"),
    )
    with pytest.raises(UserInputError) as exc:
        await render_phone_config(pk_of(no_template["id"]))
    assert exc.value.errors[0].code.value == "REQUIRED"


async def test_sandbox_refuses_python_internals(admin: GraphQLClient, acme: Tenant) -> None:
    await create_template(admin, "evil.xml", "{{ phone.__class__.__mro__[1].__subclasses__() }}")
    phone = await create_phone(
        admin, mac="AABBCCDD2006", companyId=acme.company_id,
        modelId=await model_id(admin, "Cisco", "8845"), templateFilename="evil.xml",
    )
    with pytest.raises(UserInputError) as exc:
        await render_phone_config(pk_of(phone["id"]))
    assert exc.value.errors[0].code.value == "INVALID"


async def test_a_company_template_stays_with_its_company(
    admin: GraphQLClient, acme: Tenant, globex: Tenant
) -> None:
    """A custom template made for one company is that company's: its admins see it,
    another company's do not, and a device moving company cannot take it along."""
    from tests.devices.conftest import UPDATE_PHONE

    await create_template(admin, "acme-only.xml", "<device>acme</device>", companyId=acme.company_id)
    seen = "{ phoneTemplates { filename } }"
    assert {"filename": "acme-only.xml"} in (await acme.client.data(seen))["phoneTemplates"]
    assert {"filename": "acme-only.xml"} not in (await globex.client.data(seen))["phoneTemplates"]
    refused = await globex.client.data(
        "mutation($i: PhoneInput!) { phoneCreate(input: $i) { userErrors { field code } } }",
        {"i": {"mac": "AABBCCDD2101", "templateFilename": "acme-only.xml"}},
    )
    assert refused["phoneCreate"]["userErrors"] == [
        {"field": ["input", "templateFilename"], "code": "NOT_FOUND"}
    ]
    phone = await create_phone(
        admin, mac="AABBCCDD2102", companyId=acme.company_id,
        modelId=await model_id(admin, "Cisco", "8845"), templateFilename="acme-only.xml",
    )
    to_globex = {"mac": phone["mac"], "input": {"companyId": globex.company_id}}
    assert await phone_errors(admin, UPDATE_PHONE, to_globex) == [
        {"field": ["input", "companyId"], "code": "INCOMPATIBLE"}
    ]
    to_globex["input"]["templateFilename"] = None
    assert await phone_errors(admin, UPDATE_PHONE, to_globex) == []

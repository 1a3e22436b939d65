"""Rendering an operator's template is bounded: markup in names stays text in XML
configs, and a template cannot run long, write a huge config or build huge values."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from lxml import etree

from app.core.errors import UserInputError
from app.devices.rendering import render_phone_config
from tests.conftest import GraphQLClient, LiveServer, Tenant
from tests.devices.conftest import create_phone, create_template, model_id, pk_of


async def _phone_with(admin: GraphQLClient, acme: Tenant, filename: str, content: str, **more):  # type: ignore[no-untyped-def]
    await create_template(admin, filename, content)
    return await create_phone(
        admin,
        companyId=acme.company_id,
        modelId=await model_id(admin, "Cisco", "8845"),
        templateFilename=filename,
        **more,
    )


async def test_markup_in_a_phone_name_stays_text_in_an_xml_config(
    admin: GraphQLClient, acme: Tenant
) -> None:
    phone = await _phone_with(
        admin, acme, "label.xml", "<device><phoneLabel>{{ phone.name }}</phoneLabel></device>",
        mac="AABBCCDD7001", name="</phoneLabel><proxy>evil</proxy>",
    )
    _, body = await render_phone_config(pk_of(phone["id"]))
    root = etree.fromstring(body)
    assert root.findtext("phoneLabel") == "</phoneLabel><proxy>evil</proxy>"
    assert root.find("proxy") is None


async def test_safe_passes_markup_a_template_author_means(
    admin: GraphQLClient, acme: Tenant
) -> None:
    phone = await _phone_with(
        admin, acme, "raw.xml", "<device>{{ '<x/>' | safe }}{{ '<y/>' }}</device>",
        mac="AABBCCDD7002",
    )
    _, body = await render_phone_config(pk_of(phone["id"]))
    assert body == b"<device><x/>&lt;y/&gt;</device>"


async def test_text_configs_are_not_escaped(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await _phone_with(
        admin, acme, "plain.cfg", "label = {{ phone.name }}\n", mac="AABBCCDD7003", name="A & B <1>"
    )
    _, body = await render_phone_config(pk_of(phone["id"]))
    assert body == b"label = A & B <1>\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
         "longer than"),
        ("{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
         "larger than"),
        ("{{ range(10**9) | list }}", "range()"),
        ("{{ 'a' * 1000000000 }}", "more than"),
        ("{{ 2 ** 100000000 }}", "exponent"),
        ("{{ lipsum(100000) }}", "lipsum"),
    ],
)
async def test_runaway_templates_fail_as_invalid(
    admin: GraphQLClient, acme: Tenant, content: str, reason: str
) -> None:
    mac = f"AABBCCDD71{len(content) % 100:02d}"
    phone = await _phone_with(admin, acme, f"runaway-{mac}.cfg", content, mac=mac)
    with pytest.raises(UserInputError) as exc:
        await render_phone_config(pk_of(phone["id"]))
    error = exc.value.errors[0]
    assert error.code.value == "INVALID"
    assert reason in error.message


async def test_the_server_keeps_answering_while_a_template_renders(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    """Rendering runs off the event loop: /healthz answers while a slow render (one that
    runs into its time bound) is under way."""
    slow = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    phone = await _phone_with(admin, acme, "slow.cfg", slow, mac="AABBCCDD7099")
    key = (await admin.data(
        "query($id: ID!) { node(id: $id) { ... on Company { provisioningKey } } }",
        {"id": acme.company_id},
    ))["node"]["provisioningKey"]
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        fetch = asyncio.create_task(client.get(f"/provisioning/{key}/SEPAABBCCDD7099.cnf.xml"))
        await asyncio.sleep(0)  # let the fetch start rendering first
        for _ in range(3):
            health = await client.get("/healthz")
            assert health.status_code == 200
        assert not fetch.done(), "the render ended before /healthz could be asked"
        response = await fetch
    assert response.status_code != 200
    assert phone["mac"]

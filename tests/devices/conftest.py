"""Shared fixtures of the devices tests: catalogue lookups, phones, templates, SIP users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from app.core.ids import parse_global_id, to_global_id
from tests.conftest import GraphQLClient, LiveServer, Tenant, create_token

PHONE_FIELDS = """
  id mac name status ipAddress httpPort sipPort timezone language codecs
  canHotdesk canForward webUsername hasWebPassword lastProvisionedAt lastSeenIp
  configFilename createdAt updatedAt
  company { id name } model { id vendor name lineCount } template { filename }
  lines { port authName hasAuthSecret sipUser { id username } }
  assignee { id username }
"""

ERRORS = "userErrors { field code message }"

CREATE_PHONE = f"""
mutation($input: PhoneInput!) {{ phoneCreate(input: $input) {{ phone {{ {PHONE_FIELDS} }} {ERRORS} }} }}
"""
UPDATE_PHONE = f"""
mutation($mac: MacAddress!, $input: PhoneInput!) {{ phoneUpdate(mac: $mac, input: $input) {{
  phone {{ {PHONE_FIELDS} }} {ERRORS} }} }}
"""
GET_PHONE = f"query($mac: MacAddress!) {{ phone(mac: $mac) {{ {PHONE_FIELDS} }} }}"
ASSIGN_LINE = f"""
mutation($mac: MacAddress!, $port: Int!, $user: ID) {{
  phoneLineAssign(mac: $mac, port: $port, sipUserId: $user) {{ phone {{ {PHONE_FIELDS} }} {ERRORS} }} }}
"""
CREATE_TEMPLATE = f"""
mutation($input: PhoneTemplateInput!) {{ phoneTemplateCreate(input: $input) {{
  phoneTemplate {{ id filename content isCustom model {{ name }} updatedAt }} {ERRORS} }} }}
"""

SIMPLE_TEMPLATE = """<device>
  <name>{{ phone.name }}</name>
{%- for line in lines %}
  {%- set user = line.user.username if line.user else '' %}
  <line port="{{ line.port }}" user="{{ user }}" auth="{{ line.auth_name }}" secret="{{ line.auth_secret }}"/>
{%- endfor %}
  <company>{{ company.name }}</company>
  <domain>{{ sip_domain.name if sip_domain else '' }}</domain>
</device>
"""


def pk_of(global_id: str) -> int:
    parsed = parse_global_id(global_id)
    assert parsed is not None
    return parsed[1]


async def model_id(client: GraphQLClient, vendor: str, name: str) -> str:
    data = await client.data(
        "query($v: String) { phoneModels(filter: {vendor: $v}) { id name } }", {"v": vendor}
    )
    return next(m["id"] for m in data["phoneModels"] if m["name"] == name)


async def create_phone(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    payload = await client.mutate(CREATE_PHONE, {"input": fields})
    return payload["phone"]


async def phone_errors(client: GraphQLClient, query: str, variables: dict[str, Any]) -> list:
    data = await client.data(query, variables)
    payload = next(iter(data.values()))
    return [{"field": e["field"], "code": e["code"]} for e in payload["userErrors"]]


async def create_template(
    client: GraphQLClient, filename: str, content: str = SIMPLE_TEMPLATE, **more: Any
) -> dict[str, Any]:
    payload = await client.mutate(
        CREATE_TEMPLATE, {"input": {"filename": filename, "content": content, **more}}
    )
    return payload["phoneTemplate"]


@dataclass
class SipUserRef:
    id: str
    pk: int
    username: str
    extension: str
    domain: str


_counter = {"n": 0}


async def add_sip_user(
    company_id: str, username: str, extension: str, domain: str | None = None
) -> SipUserRef:
    """A SIP user inserted straight into the database (the PBX API is not under test)."""
    from app.pbx.models import SipDomain, SipUser

    company_pk = pk_of(company_id)
    domain_name = domain or f"c{company_pk}.sip.example.net"
    row, _ = await SipDomain.get_or_create(
        name=domain_name, defaults={"company_id": company_pk, "display_name": domain_name}
    )
    user = await SipUser.create(
        domain_id=row.id, username=username, display_name=username.title(),
        extension_number=extension,
    )
    return SipUserRef(to_global_id("SipUser", user.id), user.id, username, extension, domain_name)


async def user_client(
    admin: GraphQLClient, live_server: LiveServer, user: SipUserRef
) -> GraphQLClient:
    token = await create_token(admin, "USER", sip_user_id=user.id, name=user.username)
    return live_server.client(token)


@pytest.fixture
async def acme(tenant_factory) -> Tenant:  # type: ignore[no-untyped-def]
    return await tenant_factory("Acme")


@pytest.fixture
async def globex(tenant_factory) -> Tenant:  # type: ignore[no-untyped-def]
    return await tenant_factory("Globex")

"""Profile fixtures: a company's SIP users, and clients for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from app.core.ids import parse_global_id, to_global_id
from app.pbx.models import SipDomain, SipUser
from tests.conftest import GraphQLClient, LiveServer, Tenant, create_token

CREATE = """
mutation($input: PhoneProfileInput!) { phoneProfileCreate(input: $input) {
  phoneProfile { id name description cnfXml compatibleModels softwareType
                 owner { id username } createdAt updatedAt }
  userErrors { field code message } } }
"""
UPDATE = """
mutation($id: ID!, $input: PhoneProfileInput!) { phoneProfileUpdate(id: $id, input: $input) {
  phoneProfile { id name description cnfXml compatibleModels softwareType owner { id } }
  userErrors { field code message } } }
"""
DELETE = """
mutation($id: ID!) { phoneProfileDelete(id: $id) { deletedId userErrors { field code message } } }
"""
LIST = """
query($filter: PhoneProfileFilter, $first: Int, $after: String) {
  phoneProfiles(filter: $filter, first: $first, after: $after) {
    totalCount nodes { id name } pageInfo { hasNextPage endCursor } } }
"""

DEVICE_XML = "<device><deviceProtocol>SIP</deviceProtocol></device>"


@dataclass
class Company:
    tenant: Tenant
    domain: SipDomain
    server: LiveServer
    admin: GraphQLClient
    users: int = 0

    async def user(self, **fields: Any) -> SipUser:
        self.users += 1
        return await SipUser.create(
            domain=self.domain,
            username=f"u{self.users}",
            display_name=f"User {self.users}",
            extension_number=str(100 + self.users),
            **fields,
        )

    async def client_of(self, user: SipUser) -> GraphQLClient:
        token = await create_token(
            self.admin, "USER", sip_user_id=to_global_id("SipUser", user.id), name=f"u{user.id}"
        )
        return self.server.client(token)


def gid(user: SipUser) -> str:
    return to_global_id("SipUser", user.id)


def pk_of(global_id: str) -> int:
    parsed = parse_global_id(global_id)
    assert parsed is not None
    return parsed[1]


async def create_profile(client: GraphQLClient, owner: SipUser, **fields: Any) -> dict[str, Any]:
    payload = await client.mutate(
        CREATE,
        {"input": {"ownerId": gid(owner), "name": "Desk", "cnfXml": DEVICE_XML, **fields}},
    )
    return payload["phoneProfile"]


async def _company(
    name: str, tenant_factory: Any, live_server: LiveServer, admin: GraphQLClient
) -> Company:
    tenant = await tenant_factory(name)
    domain = await SipDomain.create(
        company_id=pk_of(tenant.company_id),
        name=f"{name.lower()}.sip.example.net",
        display_name=name,
    )
    return Company(tenant, domain, live_server, admin)


@pytest.fixture
async def acme(tenant_factory, live_server: LiveServer, admin: GraphQLClient) -> Company:  # type: ignore[no-untyped-def]
    return await _company("Acme", tenant_factory, live_server, admin)


@pytest.fixture
async def globex(tenant_factory, live_server: LiveServer, admin: GraphQLClient) -> Company:  # type: ignore[no-untyped-def]
    return await _company("Globex", tenant_factory, live_server, admin)

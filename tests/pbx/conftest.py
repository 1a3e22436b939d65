"""Fixtures of the hosted PBX tests: companies with a SIP domain, and helpers that fill
a domain with users, groups, queues and trusted networks through the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import GraphQLClient, LiveServer, Tenant, create_token

ERRORS = "userErrors { field code message }"

USER_FIELDS = """
  id username displayName extensionNumber email firstName lastName jobName departmentName
  companyName officeName ukCallerId usCallerId mobileNumber mobileFollow hotdeskAllowed
  dashboard hasPassword hasPin
"""
GROUP_FIELDS = "id groupName displayName extensionNumber ringRetry ringExclusive callerNameFormat"
QUEUE_FIELDS = """
  id queueName displayName extensionNumber callerNameFormat
  members { id ringStrategy ringAttempts ringSecs ringOrder group { id groupName } }
"""

CREATE_DOMAIN = f"""
mutation($input: SipDomainInput!) {{ sipDomainCreate(input: $input) {{
  sipDomain {{ id name displayName recordingEnabled company {{ id }} }} {ERRORS} }} }}
"""
UPDATE_DOMAIN = f"""
mutation($id: ID!, $input: SipDomainInput!) {{ sipDomainUpdate(id: $id, input: $input) {{
  sipDomain {{ id name displayName recordingEnabled }} {ERRORS} }} }}
"""
DELETE_DOMAIN = f"mutation($id: ID!) {{ sipDomainDelete(id: $id) {{ deletedId {ERRORS} }} }}"

CREATE_USER = f"""
mutation($domainId: ID!, $input: SipUserInput!) {{ sipUserCreate(domainId: $domainId, input: $input) {{
  sipUser {{ {USER_FIELDS} }} {ERRORS} }} }}
"""
UPDATE_USER = f"""
mutation($id: ID!, $input: SipUserInput!) {{ sipUserUpdate(id: $id, input: $input) {{
  sipUser {{ {USER_FIELDS} }} {ERRORS} }} }}
"""
DELETE_USER = f"mutation($id: ID!) {{ sipUserDelete(id: $id) {{ deletedId {ERRORS} }} }}"

CREATE_GROUP = f"""
mutation($domainId: ID!, $input: SipGroupInput!) {{ sipGroupCreate(domainId: $domainId, input: $input) {{
  sipGroup {{ {GROUP_FIELDS} }} {ERRORS} }} }}
"""
UPDATE_GROUP = f"""
mutation($id: ID!, $input: SipGroupInput!) {{ sipGroupUpdate(id: $id, input: $input) {{
  sipGroup {{ {GROUP_FIELDS} }} {ERRORS} }} }}
"""
DELETE_GROUP = f"mutation($id: ID!) {{ sipGroupDelete(id: $id) {{ deletedId {ERRORS} }} }}"
ADD_MEMBERS = f"""
mutation($groupId: ID!, $userIds: [ID!]!) {{ sipGroupMembersAdd(groupId: $groupId, userIds: $userIds) {{
  sipGroup {{ id members {{ totalCount nodes {{ id username }} }} }} {ERRORS} }} }}
"""
REMOVE_MEMBERS = f"""
mutation($groupId: ID!, $userIds: [ID!]!) {{
  sipGroupMembersRemove(groupId: $groupId, userIds: $userIds) {{
  sipGroup {{ id members {{ totalCount nodes {{ id username }} }} }} {ERRORS} }} }}
"""

CREATE_QUEUE = f"""
mutation($domainId: ID!, $input: SipQueueInput!) {{ sipQueueCreate(domainId: $domainId, input: $input) {{
  sipQueue {{ {QUEUE_FIELDS} }} {ERRORS} }} }}
"""
UPDATE_QUEUE = f"""
mutation($id: ID!, $input: SipQueueInput!) {{ sipQueueUpdate(id: $id, input: $input) {{
  sipQueue {{ {QUEUE_FIELDS} }} {ERRORS} }} }}
"""
DELETE_QUEUE = f"mutation($id: ID!) {{ sipQueueDelete(id: $id) {{ deletedId {ERRORS} }} }}"
CREATE_MEMBER = f"""
mutation($queueId: ID!, $input: SipQueueMemberInput!) {{
  sipQueueMemberCreate(queueId: $queueId, input: $input) {{ sipQueue {{ {QUEUE_FIELDS} }} {ERRORS} }} }}
"""
UPDATE_MEMBER = f"""
mutation($id: ID!, $input: SipQueueMemberInput!) {{
  sipQueueMemberUpdate(id: $id, input: $input) {{ sipQueue {{ {QUEUE_FIELDS} }} {ERRORS} }} }}
"""
DELETE_MEMBER = f"""
mutation($id: ID!) {{ sipQueueMemberDelete(id: $id) {{ sipQueue {{ {QUEUE_FIELDS} }} {ERRORS} }} }}
"""
REORDER_MEMBERS = f"""
mutation($queueId: ID!, $memberIds: [ID!]!) {{
  sipQueueMembersReorder(queueId: $queueId, memberIds: $memberIds) {{
  sipQueue {{ {QUEUE_FIELDS} }} {ERRORS} }} }}
"""

CREATE_NETWORK = f"""
mutation($domainId: ID!, $input: TrustedNetworkInput!) {{
  trustedNetworkCreate(domainId: $domainId, input: $input) {{
  trustedNetwork {{ id network description }} {ERRORS} }} }}
"""
UPDATE_NETWORK = f"""
mutation($id: ID!, $input: TrustedNetworkInput!) {{ trustedNetworkUpdate(id: $id, input: $input) {{
  trustedNetwork {{ id network description }} {ERRORS} }} }}
"""
DELETE_NETWORK = f"mutation($id: ID!) {{ trustedNetworkDelete(id: $id) {{ deletedId {ERRORS} }} }}"


def errors_of(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    """A payload's userErrors as (field, code) pairs."""
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def payload_of(
    client: GraphQLClient, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """The payload of a one-field mutation, userErrors and all."""
    data = await client.data(query, variables)
    return next(iter(data.values()))


def user_input(username: str, extension: str, **extra: Any) -> dict[str, Any]:
    return {
        "username": username,
        "password": f"pw-{username}-secret",
        "displayName": username.replace(".", " ").title(),
        "extensionNumber": extension,
        **extra,
    }


@dataclass
class Pbx:
    """A company with one SIP domain: its admin client and helpers to fill the domain."""

    company_id: str
    domain_id: str
    domain_name: str
    client: GraphQLClient

    async def user(self, username: str, extension: str, **extra: Any) -> dict[str, Any]:
        payload = await self.client.mutate(
            CREATE_USER,
            {"domainId": self.domain_id, "input": user_input(username, extension, **extra)},
        )
        return payload["sipUser"]

    async def group(self, name: str, extension: str, **extra: Any) -> dict[str, Any]:
        payload = await self.client.mutate(
            CREATE_GROUP,
            {
                "domainId": self.domain_id,
                "input": {
                    "groupName": name,
                    "displayName": name.title(),
                    "extensionNumber": extension,
                    **extra,
                },
            },
        )
        return payload["sipGroup"]

    async def queue(self, name: str, extension: str, **extra: Any) -> dict[str, Any]:
        payload = await self.client.mutate(
            CREATE_QUEUE,
            {
                "domainId": self.domain_id,
                "input": {
                    "queueName": name,
                    "displayName": name.title(),
                    "extensionNumber": extension,
                    **extra,
                },
            },
        )
        return payload["sipQueue"]

    async def add_members(self, group_id: str, *user_ids: str) -> dict[str, Any]:
        payload = await self.client.mutate(
            ADD_MEMBERS, {"groupId": group_id, "userIds": list(user_ids)}
        )
        return payload["sipGroup"]

    async def queue_member(self, queue_id: str, group_id: str, **extra: Any) -> dict[str, Any]:
        payload = await self.client.mutate(
            CREATE_MEMBER, {"queueId": queue_id, "input": {"groupId": group_id, **extra}}
        )
        return payload["sipQueue"]

    async def network(self, network: str, description: str | None = None) -> dict[str, Any]:
        payload = await self.client.mutate(
            CREATE_NETWORK,
            {"domainId": self.domain_id, "input": {"network": network, "description": description}},
        )
        return payload["trustedNetwork"]


async def create_domain(
    admin: GraphQLClient, company_id: str, name: str, display_name: str | None = None
) -> str:
    payload = await admin.mutate(
        CREATE_DOMAIN,
        {"input": {"companyId": company_id, "name": name, "displayName": display_name or name}},
    )
    return payload["sipDomain"]["id"]


PbxFactory = Callable[..., Awaitable[Pbx]]


@pytest.fixture
async def pbx_factory(admin: GraphQLClient, tenant_factory) -> PbxFactory:  # type: ignore[no-untyped-def]
    """``await pbx_factory("Acme")``: a company "Acme" with domain acme.sip.example.net."""

    async def make(company: str, domain: str | None = None, tenant: Tenant | None = None) -> Pbx:
        tenant = tenant or await tenant_factory(company)
        name = domain or f"{company.lower()}.sip.example.net"
        domain_id = await create_domain(admin, tenant.company_id, name, f"{company} PBX")
        return Pbx(tenant.company_id, domain_id, name, tenant.client)

    return make


@pytest.fixture
async def acme(pbx_factory: PbxFactory) -> Pbx:
    return await pbx_factory("Acme")


@pytest.fixture
async def user_client(admin: GraphQLClient, live_server: LiveServer):  # type: ignore[no-untyped-def]
    """``await user_client(sip_user_id)``: a client with a USER token of that SIP user."""

    async def make(sip_user_id: str) -> GraphQLClient:
        token = await create_token(admin, "USER", sip_user_id=sip_user_id, name="phone-user")
        return live_server.client(token)

    return make

"""Audit-log fixtures: the hosted-PBX helpers, and the hot-desk world for calls made at
a phone."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient
from tests.hotdesk.conftest import (  # noqa: F401  (fixtures used by the tests)
    ftp_server,
    hd,
    phone_sim_factory,
    settings,
    world,
)
from tests.pbx.conftest import acme, pbx_factory, user_client  # noqa: F401

EVENT_FIELDS = """
  id at operation outcome errorCodes actorRole targetIds arguments
  actorToken { id name } actorPhone { mac } company { id name }
"""
EVENTS = f"""
query($first: Int, $after: String, $filter: AuditEventFilter) {{
  auditEvents(first: $first, after: $after, filter: $filter) {{
    totalCount pageInfo {{ hasNextPage endCursor }}
    nodes {{ {EVENT_FIELDS} }}
  }}
}}
"""


async def events(
    client: GraphQLClient, first: int | None = None, after: str | None = None, **filter: Any
) -> dict[str, Any]:
    """One page of ``auditEvents`` (``filter`` as keyword arguments)."""
    data = await client.data(EVENTS, {"first": first, "after": after, "filter": filter or None})
    return data["auditEvents"]


async def nodes(client: GraphQLClient, **filter: Any) -> list[dict[str, Any]]:
    return (await events(client, **filter))["nodes"]

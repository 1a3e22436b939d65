"""Audit-log fixtures: the hosted-PBX helpers, and the hot-desk world for calls made at
a phone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tortoise import connections

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


SQLITE_REFUSAL = """
CREATE TRIGGER audit_refused BEFORE INSERT ON audit_event
WHEN NEW.operation = '{operation}' AND NEW.arguments LIKE '%{needle}%'
BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END;
"""
PG_REFUSAL = """
CREATE OR REPLACE FUNCTION audit_refused() RETURNS trigger AS $$
BEGIN
  IF NEW.operation = '{operation}' AND NEW.arguments LIKE '%{needle}%' THEN RAISE EXCEPTION 'audit refused by the test'; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER audit_refused BEFORE INSERT ON audit_event
FOR EACH ROW EXECUTE FUNCTION audit_refused();
"""


@pytest.fixture
async def refuse_audit() -> AsyncIterator:
    """``await refuse_audit("op", "text")``: the database refuses the audit events of
    ``op`` whose arguments hold ``text`` (a trigger on the audit table)."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"

    async def refuse(operation: str, needle: str = "") -> None:
        template = PG_REFUSAL if postgres else SQLITE_REFUSAL
        await conn.execute_script(template.format(operation=operation, needle=needle))

    yield refuse
    await _allow_audit()


async def _allow_audit() -> None:
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    await conn.execute_script(
        "DROP TRIGGER IF EXISTS audit_refused" + (" ON audit_event" if postgres else "")
    )


@pytest.fixture
def allow_audit() -> Any:
    """``await allow_audit()``: the audit table takes every event again."""
    return _allow_audit

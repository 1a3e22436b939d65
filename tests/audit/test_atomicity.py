"""A change is never committed without its audit event, and events are kept
PHONEGRAPH_AUDIT_DAYS days."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tortoise import connections

from app.core.audit_retention import prune_audit
from app.core.models import AuditEvent, AuditTarget
from app.pbx.models import SipDomain, SipUser, TrustedNetwork
from tests.audit.conftest import nodes
from tests.conftest import GraphQLClient
from tests.pbx.conftest import CREATE_NETWORK, CREATE_USER, Pbx, payload_of, user_input


async def test_a_change_whose_audit_event_fails_is_not_committed(
    acme: Pbx, admin: GraphQLClient, refuse_audit
) -> None:
    await refuse_audit("sipUserCreate", "alice")
    body = await acme.client.execute(
        CREATE_USER, {"domainId": acme.domain_id, "input": user_input("alice", "201")}
    )
    assert body["errors"][0]["message"] == "Internal server error"
    assert not await SipUser.filter(username="alice").exists()
    # The extension it claimed is free: the whole change was rolled back.
    payload = await payload_of(
        acme.client,
        CREATE_USER,
        {"domainId": acme.domain_id, "input": user_input("bob", "201")},
    )
    assert payload["userErrors"] == []
    [event] = await nodes(admin, operation="sipUserCreate")
    assert "bob" in event["arguments"]


async def test_a_delete_whose_audit_event_fails_keeps_the_object(
    acme: Pbx, admin: GraphQLClient, refuse_audit
) -> None:
    await refuse_audit("sipDomainDelete")
    body = await admin.execute(
        "mutation($id: ID!) { sipDomainDelete(id: $id) { deletedId } }", {"id": acme.domain_id}
    )
    assert body["errors"]
    assert await SipDomain.filter(name=acme.domain_name).exists()


async def test_events_older_than_the_retention_are_deleted_in_chunks(
    acme: Pbx, admin: GraphQLClient
) -> None:
    for n in range(5):
        await acme.user(f"user{n}", str(210 + n))
    ids = sorted(await AuditEvent.filter(operation="sipUserCreate").values_list("id", flat=True))
    old, young = ids[:3], ids[3:]
    await AuditEvent.filter(id__in=old).update(at=datetime.now(UTC) - timedelta(days=400))
    await AuditEvent.filter(id__in=young).update(at=datetime.now(UTC) - timedelta(days=300))
    kept_before = await AuditEvent.exclude(id__in=old).count()

    assert await prune_audit(days=365, chunk=2) == 3

    assert not await AuditEvent.filter(id__in=old).exists()
    assert not await AuditTarget.filter(event_id__in=old).exists()
    assert await AuditEvent.all().count() == kept_before
    assert await AuditTarget.filter(event_id__in=young).count() == 2
    assert await prune_audit(days=365) == 0


SQLITE_CLASH = """
CREATE TRIGGER network_clash BEFORE INSERT ON trusted_network
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: trusted_network.network'); END;
"""
PG_CLASH = """
CREATE OR REPLACE FUNCTION network_clash() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'a concurrent insert won' USING ERRCODE = 'unique_violation'; END
$$ LANGUAGE plpgsql;
CREATE TRIGGER network_clash BEFORE INSERT ON trusted_network
FOR EACH ROW EXECUTE FUNCTION network_clash();
"""


async def test_a_uniqueness_race_is_recorded_as_a_user_error(
    acme: Pbx, admin: GraphQLClient
) -> None:
    """A failed insert (as when a concurrent request won a race) spoils a PostgreSQL
    transaction; the DUPLICATE userError is still recorded, and nothing is kept."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    await conn.execute_script(PG_CLASH if postgres else SQLITE_CLASH)
    try:
        payload = await payload_of(
            acme.client,
            CREATE_NETWORK,
            {"domainId": acme.domain_id, "input": {"network": "192.0.2.0/24"}},
        )
    finally:
        await conn.execute_script(
            "DROP TRIGGER IF EXISTS network_clash" + (" ON trusted_network" if postgres else "")
        )
    assert [e["code"] for e in payload["userErrors"]] == ["DUPLICATE"]
    [event] = await nodes(admin, operation="trustedNetworkCreate")
    assert event["outcome"] == "USER_ERROR" and event["errorCodes"] == ["DUPLICATE"]
    assert json.loads(event["arguments"])["input"] == {"network": "192.0.2.0/24"}
    assert not await TrustedNetwork.exists()

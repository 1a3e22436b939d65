"""Other tasks hear of a mutation's change only once it has committed with its audit
event: a change rolled back (its event could not be written) is announced to nobody."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core.events import get_bus
from app.deploy.models import Rollout
from app.deploy.rollout_events import is_rollout_change
from tests.audit.conftest import nodes
from tests.conftest import GraphQLClient
from tests.deploy.conftest import DeployWorld, pk_of

REBOOT_LATER = """
mutation($rollout: RolloutInput) { phonesReboot(rollout: $rollout) {
  rollout { id status } userErrors { field code message } } }
"""
PAUSE = "mutation($id: ID!) { rolloutPause(id: $id) { rollout { id status } } }"
ABORT = "mutation($id: ID!) { rolloutAbort(id: $id) { rollout { id status } } }"


async def _heard_before_marker(mailbox: Any, marker: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages the bus delivered before ``marker`` (published after them)."""
    await get_bus().publish(marker)
    heard = []
    async with asyncio.timeout(15):
        while (message := await mailbox.get()) != marker:
            heard.append(message)
    return heard


async def test_a_rollout_change_rolled_back_is_not_announced(
    world: DeployWorld, refuse_audit, allow_audit
) -> None:
    await world.phone(None)
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    payload = (await world.admin.data(REBOOT_LATER, {"rollout": {"startAt": start}}))[
        "phonesReboot"
    ]
    rollout_id = payload["rollout"]["id"]
    pk = pk_of(rollout_id)
    for operation, mutation in (("rolloutPause", PAUSE), ("rolloutAbort", ABORT)):
        await refuse_audit(operation)
        async with get_bus().subscribe() as mailbox:
            body = await world.admin.execute(mutation, {"id": rollout_id})
            assert body["errors"], body
            heard = await _heard_before_marker(mailbox, {"kind": "test-marker", "op": operation})
        assert (await Rollout.get(id=pk)).status == "SCHEDULED"
        assert [m for m in heard if is_rollout_change(m, pk)] == [], operation
        await allow_audit()

    # Committed: announced (the rollout's subscribers read it back at once).
    async with get_bus().subscribe() as mailbox:
        body = await world.admin.execute(PAUSE, {"id": rollout_id})
        assert body["data"]["rolloutPause"]["rollout"]["status"] == "PAUSED"
        heard = await _heard_before_marker(mailbox, {"kind": "test-marker", "op": "ok"})
    assert [m for m in heard if is_rollout_change(m, pk)]


async def test_a_system_admins_rollout_aborted_is_recorded_and_ends(
    world: DeployWorld, admin: GraphQLClient
) -> None:
    """A system admin's rollout (of no company) ends, and its ROLLOUT_ENDED goes to the
    companies whose phones it worked on, on every database."""
    await world.phone(None)
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    payload = (await world.admin.data(REBOOT_LATER, {"rollout": {"startAt": start}}))[
        "phonesReboot"
    ]
    rollout_id = payload["rollout"]["id"]

    body = await world.admin.execute(ABORT, {"id": rollout_id})

    assert body.get("errors") is None, body
    assert body["data"]["rolloutAbort"]["rollout"]["status"] == "ABORTED"
    [event] = await nodes(admin, operation="rolloutAbort")
    assert event["outcome"] == "OK" and event["targetIds"] == [rollout_id]

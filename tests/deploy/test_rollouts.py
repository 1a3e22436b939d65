"""Rollouts (CONTRACT §8): phonesReboot and phonesReprovision work through their phones
batch by batch, against simulated phones, with pauses, a failure budget, pause, resume,
abort and a scheduled start."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.core.ids import to_global_id
from app.deploy import rollout_worker
from app.deploy.models import DeployJob, Rollout
from app.devices.models import PhoneTemplate
from app.devices.rendering import render_phone_config
from tests.deploy.conftest import DeployWorld, Subscription, eventually, pk_of
from tests.support.phone_sim import PhoneSimulator

REBOOT_ALL = """
mutation($filter: PhoneFilter, $rollout: RolloutInput) {
  phonesReboot(filter: $filter, rollout: $rollout) {
    jobCount alreadyQueued
    jobs(first: 50) { totalCount nodes { id kind status mac rollout { id } } }
    rollout { id kind status batchSize batchPauseSeconds maxFailures total batchCount
              currentBatch startAt }
    userErrors { field code message }
  }
}
"""

REPROVISION_ALL = """
mutation($rollout: RolloutInput) { phonesReprovision(rollout: $rollout) {
  jobCount rollout { id kind total batchCount } userErrors { field code message } } }
"""

FIELDS = """
  id kind status batchSize batchPauseSeconds maxFailures startAt total batchCount
  currentBatch queued running succeeded failed cancelled skipped finishedAt
  jobs(first: 50) { totalCount nodes { status mac startedAt finishedAt } }
"""
ROLLOUT = "query($id: ID!) { node(id: $id) { ... on Rollout {" + FIELDS + "} } }"
ROLLOUTS = """
query($filter: RolloutFilter) { rollouts(first: 10, filter: $filter) {
  totalCount nodes { id status } } }
"""
PAUSE = "mutation($id: ID!) { rolloutPause(id: $id) { rollout { id status } userErrors { field code message } } }"
RESUME = "mutation($id: ID!) { rolloutResume(id: $id) { rollout { id status } userErrors { field code message } } }"
ABORT = """
mutation($id: ID!) { rolloutAbort(id: $id) {
  rollout { id status cancelled skipped } userErrors { field code message } } }
"""
PROGRESS = (
    "subscription($id: ID!) { rolloutProgress(id: $id) { id status currentBatch total "
    "queued running succeeded failed cancelled skipped } }"
)


async def _phones(world: DeployWorld, count: int, **sim_options: Any) -> list[PhoneSimulator]:
    sims = [await world.sim(**sim_options) for _ in range(count)]
    for sim in sims:
        await world.phone(sim)
    return sims


async def _reboot_all(world: DeployWorld, **rollout: Any) -> dict[str, Any]:
    payload = (await world.admin.data(REBOOT_ALL, {"rollout": rollout or None}))["phonesReboot"]
    assert payload["userErrors"] == [], payload
    return payload


async def _rollout(world: DeployWorld, rollout_id: str) -> dict[str, Any]:
    return (await world.admin.data(ROLLOUT, {"id": rollout_id}))["node"]


async def _until_status(
    world: DeployWorld, rollout_id: str, *statuses: str, timeout: float = 40.0
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        rollout = await _rollout(world, rollout_id)
        return rollout if rollout["status"] in statuses else None

    return await eventually(check, timeout, f"the rollout to be {'/'.join(statuses)}")


def _reboot_windows(sim: PhoneSimulator) -> list[tuple[float, float]]:
    """When the phone was down, by the simulator's own log."""
    downs = [e.at for e in sim.log if e.kind == "REBOOT" and e.detail == "down"]
    ups = [e.at for e in sim.log if e.kind == "REBOOT" and e.detail == "up"]
    return list(zip(downs, ups, strict=True))


def _most_down_at_once(sims: list[PhoneSimulator]) -> int:
    edges = []
    for sim in sims:
        for down, up in _reboot_windows(sim):
            edges += [(down, 1), (up, -1)]
    most = now = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        now += step
        most = max(most, now)
    return most


async def test_batches_restart_at_most_batch_size_phones_at_once_in_mac_order(
    world: DeployWorld, ended: list[Rollout]
) -> None:
    sims = await _phones(world, 5, reboot_seconds=0.4)

    payload = await _reboot_all(world, batchSize=2)

    rollout = payload["rollout"]
    assert payload["jobCount"] == 5
    assert (rollout["kind"], rollout["total"], rollout["batchCount"]) == ("REBOOT", 5, 3)
    assert (rollout["batchSize"], rollout["batchPauseSeconds"], rollout["maxFailures"]) == (
        2,
        0,
        None,
    )
    # The first batch is queued before the answer; the others wait their turn.
    assert rollout["currentBatch"] == 1
    assert payload["jobs"]["totalCount"] == 2
    assert {job["rollout"]["id"] for job in payload["jobs"]["nodes"]} == {rollout["id"]}

    done = await _until_status(world, rollout["id"], "SUCCEEDED", "FAILED", "ABORTED")
    assert done["status"] == "SUCCEEDED"
    assert (done["succeeded"], done["failed"], done["skipped"], done["currentBatch"]) == (
        5,
        0,
        0,
        3,
    )
    assert done["finishedAt"] is not None
    assert [sim.reboots for sim in sims] == [1] * 5
    # Never more phones down at once than the batch, and batch after batch in MAC order.
    assert _most_down_at_once(sims) <= 2
    windows = [_reboot_windows(sim)[0] for sim in sorted(sims, key=lambda s: s.mac)]
    for earlier, later in ((0, 2), (1, 2), (2, 4), (3, 4)):
        assert windows[earlier][1] <= windows[later][0]
    assert [r.id for r in ended] == [pk_of(rollout["id"])]
    assert ended[0].status == "SUCCEEDED"


async def test_the_next_batch_waits_for_the_pause_after_the_last_job_ended(
    world: DeployWorld,
) -> None:
    await _phones(world, 2)

    rollout = (await _reboot_all(world, batchSize=1, batchPauseSeconds=2))["rollout"]
    done = await _until_status(world, rollout["id"], "SUCCEEDED")

    jobs = sorted(done["jobs"]["nodes"], key=lambda j: j["mac"])
    first_end = datetime.fromisoformat(jobs[0]["finishedAt"])
    second_start = datetime.fromisoformat(jobs[1]["startedAt"])
    assert second_start - first_end >= timedelta(seconds=1.9)


async def test_more_failures_than_allowed_end_the_rollout_failed_and_skip_the_rest(
    world: DeployWorld, ended: list[Rollout]
) -> None:
    broken = await world.sim(sip_behaviour="reject_notify")  # lowest MAC: the first batch
    await world.phone(broken)
    healthy = await _phones(world, 3)

    rollout = (await _reboot_all(world, batchSize=1, maxFailures=0))["rollout"]
    done = await _until_status(world, rollout["id"], "SUCCEEDED", "FAILED")

    assert done["status"] == "FAILED"
    assert (done["failed"], done["succeeded"], done["skipped"]) == (1, 0, 3)
    assert done["jobs"]["totalCount"] == 1
    assert [sim.reboots for sim in healthy] == [0, 0, 0]
    assert [r.status for r in ended] == ["FAILED"]


async def test_failures_within_the_budget_let_the_rollout_go_on(world: DeployWorld) -> None:
    await world.phone(await world.sim(sip_behaviour="reject_notify"))
    await _phones(world, 2)

    rollout = (await _reboot_all(world, batchSize=1, maxFailures=1))["rollout"]
    done = await _until_status(world, rollout["id"], "SUCCEEDED", "FAILED")

    assert done["status"] == "SUCCEEDED"
    assert (done["failed"], done["succeeded"], done["skipped"]) == (1, 2, 0)


async def test_paused_rollout_starts_no_batch_until_resumed(world: DeployWorld) -> None:
    sims = await _phones(world, 3, reboot_seconds=1.0)
    rollout = (await _reboot_all(world, batchSize=1))["rollout"]

    paused = (await world.admin.data(PAUSE, {"id": rollout["id"]}))["rolloutPause"]
    assert paused["rollout"]["status"] == "PAUSED"
    # The running job finishes; no other starts, however often the rollouts are looked at.
    await eventually(lambda: sims[0].reboots == 1 and sims[0].online, what="the first phone back")

    async def first_job_ended() -> bool:
        return (await _rollout(world, rollout["id"]))["succeeded"] == 1

    await eventually(first_job_ended, what="the first job to end")
    for _ in range(3):
        await rollout_worker.turn("test")
    stood = await _rollout(world, rollout["id"])
    assert (stood["status"], stood["currentBatch"], stood["jobs"]["totalCount"]) == ("PAUSED", 1, 1)
    assert [sim.reboots for sim in sims] == [1, 0, 0]
    again = (await world.admin.data(PAUSE, {"id": rollout["id"]}))["rolloutPause"]
    assert again["userErrors"][0]["code"] == "CONFLICT"

    resumed = (await world.admin.data(RESUME, {"id": rollout["id"]}))["rolloutResume"]
    assert resumed["rollout"]["status"] == "RUNNING"
    done = await _until_status(world, rollout["id"], "SUCCEEDED")
    assert done["succeeded"] == 3
    assert [sim.reboots for sim in sims] == [1, 1, 1]


async def test_a_scheduled_rollout_waits_for_its_start(world: DeployWorld) -> None:
    sims = await _phones(world, 2)
    start = datetime.now(UTC) + timedelta(seconds=2)

    payload = await _reboot_all(world, startAt=start.isoformat())

    rollout = payload["rollout"]
    assert (rollout["status"], rollout["currentBatch"]) == ("SCHEDULED", 0)
    assert payload["jobs"]["totalCount"] == 0
    assert payload["jobCount"] == 2
    done = await _until_status(world, rollout["id"], "SUCCEEDED")
    assert [sim.reboots for sim in sims] == [1, 1]
    assert min(datetime.fromisoformat(j["startedAt"]) for j in done["jobs"]["nodes"]) >= start


async def test_without_a_rollout_input_every_job_is_queued_at_once(world: DeployWorld) -> None:
    sims = await _phones(world, 3)

    payload = (await world.admin.data(REBOOT_ALL, {}))["phonesReboot"]

    assert payload["userErrors"] == []
    assert payload["jobCount"] == 3
    assert payload["jobs"]["totalCount"] == 3
    assert (payload["rollout"]["batchCount"], payload["rollout"]["batchSize"]) == (1, 3)
    done = await _until_status(world, payload["rollout"]["id"], "SUCCEEDED")
    assert done["succeeded"] == 3
    assert [sim.reboots for sim in sims] == [1, 1, 1]
    listed = (await world.admin.data(ROLLOUTS, {"filter": {"status": "SUCCEEDED"}}))["rollouts"]
    assert [n["id"] for n in listed["nodes"]] == [payload["rollout"]["id"]]


async def test_phones_reprovision_as_a_rollout_uploads_each_config(world: DeployWorld) -> None:
    model = await world.cisco_model()
    template = await PhoneTemplate.create(
        filename="rollout-8845.xml", content="<device><mac>{{ phone.mac }}</mac></device>\n",
        model=model,
    )
    sims = [await world.sim() for _ in range(3)]
    phones = [await world.phone(sim, model=model, template_id=template.id) for sim in sims]

    payload = (await world.admin.data(REPROVISION_ALL, {"rollout": {"batchSize": 2}}))[
        "phonesReprovision"
    ]

    assert payload["userErrors"] == []
    assert (payload["rollout"]["kind"], payload["rollout"]["batchCount"]) == ("REPROVISION", 2)
    done = await _until_status(world, payload["rollout"]["id"], "SUCCEEDED", "FAILED")
    assert done["status"] == "SUCCEEDED", done
    for sim, phone in zip(sims, phones, strict=True):
        name, expected = await render_phone_config(phone.id)
        assert (world.ftp.root / name).read_bytes() == expected
        assert sim.fetched_configs == [expected]
        assert sim.reboots == 1


@pytest.mark.parametrize(
    ("rollout", "field"),
    [
        ({"batchSize": 0}, "batchSize"),
        ({"batchSize": 10_001}, "batchSize"),
        ({"batchPauseSeconds": -1}, "batchPauseSeconds"),
        ({"batchPauseSeconds": 10**8}, "batchPauseSeconds"),
        ({"maxFailures": -1}, "maxFailures"),
        ({"startAt": "2999-01-01T00:00:00Z"}, "startAt"),
    ],
)
async def test_bad_rollout_input_is_a_user_error_on_its_field(
    world: DeployWorld, rollout: dict[str, Any], field: str
) -> None:
    await _phones(world, 1)

    payload = (await world.admin.data(REBOOT_ALL, {"rollout": rollout}))["phonesReboot"]

    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["rollout", field], "INVALID")
    ]
    assert payload["rollout"] is None
    assert await Rollout.all().count() == 0
    assert await DeployJob.all().count() == 0


async def test_company_admins_see_and_steer_their_company_rollouts_only(
    world: DeployWorld, tenant_factory: Any
) -> None:
    await _phones(world, 1)
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    mine = (
        await world.tenant.client.data(REBOOT_ALL, {"rollout": {"startAt": start}})
    )["phonesReboot"]["rollout"]
    other = await tenant_factory("Globex")

    listed = (await other.client.data(ROLLOUTS, {}))["rollouts"]
    assert listed["totalCount"] == 0
    assert (await other.client.data(ROLLOUT, {"id": mine["id"]}))["node"] is None
    for mutation, key in ((PAUSE, "rolloutPause"), (ABORT, "rolloutAbort")):
        refused = (await other.client.data(mutation, {"id": mine["id"]}))[key]
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["id"], "NOT_FOUND")]
    # The other company's admin reaches none of this company's phones either.
    theirs = (await other.client.data(REBOOT_ALL, {}))["phonesReboot"]
    assert (theirs["jobCount"], theirs["rollout"]) == (0, None)

    own = (await world.tenant.client.data(ROLLOUTS, {}))["rollouts"]
    assert [n["id"] for n in own["nodes"]] == [mine["id"]]
    aborted = (await world.tenant.client.data(ABORT, {"id": mine["id"]}))["rolloutAbort"]
    assert aborted["rollout"]["status"] == "ABORTED"
    assert aborted["rollout"]["skipped"] == 1


async def test_rollout_progress_streams_every_change_until_it_ended(world: DeployWorld) -> None:
    await _phones(world, 3)
    start = datetime.now(UTC) + timedelta(seconds=2)
    rollout = (await _reboot_all(world, batchSize=1, startAt=start.isoformat()))["rollout"]

    async with Subscription(
        world.server.ws_url, world.admin.token, PROGRESS, {"id": rollout["id"]}
    ) as sub:
        results = [r["rolloutProgress"] for r in await sub.until_complete(timeout=60)]

    assert sub.completed
    assert results[0]["status"] == "SCHEDULED"
    assert results[-1]["status"] == "SUCCEEDED"
    assert results[-1]["succeeded"] == 3
    statuses = [r["status"] for r in results]
    assert "RUNNING" in statuses
    assert [r["currentBatch"] for r in results] == sorted(r["currentBatch"] for r in results)
    assert {1, 2, 3} <= {r["currentBatch"] for r in results}
    # Each message differs from the one before: sent on a change only.
    for before, after in zip(results, results[1:], strict=False):
        assert before != after
    # Every job was seen running at some point.
    assert max(r["running"] for r in results) == 1


async def test_only_the_holder_of_a_rollouts_lease_moves_it_on(world: DeployWorld) -> None:
    """Two processes finding the same rollout due: one takes its lease; the other's
    writes, and those of a holder whose lease expired and was taken over, change nothing."""
    from app.deploy import rollouts
    from app.deploy.sql import dialect_sql

    await _phones(world, 2)
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    rollout_id = pk_of((await _reboot_all(world, startAt=start))["rollout"]["id"])
    sql = dialect_sql()

    taken = await asyncio.gather(*(rollouts.take(rollout_id, f"p{i}") for i in range(4)))
    assert len([epoch for epoch in taken if epoch is not None]) == 1
    stale = next(epoch for epoch in taken if epoch is not None)
    # Its holder froze: the lease runs out (by the database's clock) and another takes it.
    await sql.rows(
        f"UPDATE rollout SET lease_expires_at = {sql.now}, start_at = {sql.now} WHERE id = $1",
        [rollout_id],
    )
    fresh = await eventually(lambda: rollouts.take(rollout_id, "p-new"), what="the takeover")
    assert fresh == stale + 1

    await rollouts.advance(rollout_id, stale)  # the frozen holder wakes up
    row = await Rollout.get(id=rollout_id)
    assert (row.status, row.current_batch) == ("SCHEDULED", 0)
    assert await DeployJob.filter(rollout_id=rollout_id).count() == 0

    await rollouts.work(rollout_id, fresh)
    row = await Rollout.get(id=rollout_id)
    assert (row.status, row.current_batch) == ("RUNNING", 1)
    assert await DeployJob.filter(rollout_id=rollout_id).count() == 2
    await _until_status(world, to_global_id("Rollout", rollout_id), "SUCCEEDED")


async def test_a_batch_half_queued_by_a_process_that_died_is_completed_not_repeated(
    world: DeployWorld,
) -> None:
    """A process died while queueing a batch: some of its phones have their job, the
    batch is not marked queued. Whoever takes the rollout next queues the others only."""
    from app.deploy import service
    from app.deploy.models import DeployJobKind, RolloutPhone
    from app.deploy.sql import dialect_sql
    from app.devices.models import Phone

    sims = await _phones(world, 4)
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    rollout_id = pk_of((await _reboot_all(world, startAt=start))["rollout"]["id"])
    first = await RolloutPhone.get(rollout_id=rollout_id, position=0)
    phone = await Phone.get(id=first.phone_id)  # type: ignore[attr-defined]
    done = service.BulkQueued(batch_id="died-midway")
    await service.queue_chunk(
        [{"id": phone.id, "company_id": phone.company_id}],  # type: ignore[attr-defined]
        DeployJobKind.REBOOT,
        "admin",
        done,
        rollout_id=rollout_id,
    )
    assert done.queued == 1
    sql = dialect_sql()
    await sql.rows(
        "UPDATE rollout SET status = 'RUNNING', current_batch = 1, batch_queued = FALSE "
        "WHERE id = $1",
        [rollout_id],
    )
    rollout_worker.wake_rollouts()

    finished = await _until_status(world, to_global_id("Rollout", rollout_id), "SUCCEEDED")
    assert finished["jobs"]["totalCount"] == 4
    assert finished["succeeded"] == 4
    assert [sim.reboots for sim in sims] == [1, 1, 1, 1]


async def test_rollout_progress_hears_pause_and_abort_as_soon_as_they_committed(
    world: DeployWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change a mutation makes is announced once its transaction (with its audit
    event) committed: a subscriber told earlier would read the rollout as it was, and
    hear of the change only when it re-reads on its own."""
    from app.deploy import subscriptions

    monkeypatch.setattr(subscriptions, "RESYNC_SECONDS", 600.0)
    await _phones(world, 1)
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    rollout = (await _reboot_all(world, startAt=start))["rollout"]

    async with Subscription(
        world.server.ws_url, world.admin.token, PROGRESS, {"id": rollout["id"]}
    ) as sub:
        first = await sub.next()
        assert first is not None and first["rolloutProgress"]["status"] == "SCHEDULED"

        await world.admin.data(PAUSE, {"id": rollout["id"]})
        paused = await sub.next(timeout=20)
        assert paused is not None and paused["rolloutProgress"]["status"] == "PAUSED"

        await world.admin.data(ABORT, {"id": rollout["id"]})
        aborted = await sub.next(timeout=20)
        assert aborted is not None and aborted["rolloutProgress"]["status"] == "ABORTED"
        assert aborted["rolloutProgress"]["skipped"] == 1
        assert await sub.next(timeout=20) is None
    assert sub.completed


async def test_a_phone_no_longer_active_when_its_batch_came_counts_skipped_at_once(
    world: DeployWorld,
) -> None:
    from app.devices.models import Phone, PhoneStatus

    sims = [await world.sim(), await world.sim(), await world.sim(reboot_seconds=2.0)]
    phones = [await world.phone(sim) for sim in sims]
    start = datetime.now(UTC) + timedelta(seconds=1)
    rollout = (await _reboot_all(world, batchSize=1, startAt=start.isoformat()))["rollout"]
    second = sorted(phones, key=lambda p: p.mac)[1]
    await Phone.filter(id=second.id).update(status=PhoneStatus.REJECTED)

    async def on_the_last_batch() -> dict[str, Any] | None:
        r = await _rollout(world, rollout["id"])
        return r if r["currentBatch"] == 3 and r["running"] == 1 else None

    running = await eventually(on_the_last_batch, timeout=40, what="the last batch running")
    assert running["status"] == "RUNNING"
    # The second phone got no job: skipped already, and the counts add up to the phones
    # reached so far.
    assert (running["succeeded"], running["running"], running["skipped"]) == (1, 1, 1)
    done = await _until_status(world, rollout["id"], "SUCCEEDED")
    assert (done["succeeded"], done["skipped"], done["total"]) == (2, 1, 3)


async def test_a_rollout_that_cannot_move_on_does_not_hold_up_the_others(
    world: DeployWorld,
) -> None:
    """A rollout whose next step keeps failing (here: ending it) is retried on later
    turns; the rollouts after it are worked on meanwhile."""
    from app.deploy.signals import rollout_ended

    sims = await _phones(world, 3)
    stuck = (
        await world.admin.data(REBOOT_ALL, {"filter": {"search": sims[0].mac}, "rollout": None})
    )["phonesReboot"]["rollout"]
    stuck_pk = pk_of(stuck["id"])

    async def refuse(rollout: Rollout) -> None:
        if rollout.id == stuck_pk:
            raise RuntimeError("a receiver that fails")

    rollout_ended.connect(refuse)
    try:
        await eventually(lambda: sims[0].reboots == 1, what="the first rollout's job")
        other = (await _reboot_all(world, batchSize=1))["rollout"]
        done = await _until_status(world, other["id"], "SUCCEEDED")
        assert done["succeeded"] == 3
        assert (await _rollout(world, stuck["id"]))["status"] == "RUNNING"
    finally:
        rollout_ended._receivers.remove(refuse)

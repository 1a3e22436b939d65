"""Rollouts across real server processes: a scheduled one starts on time in a process
started after the one that took it was killed, a killed process neither loses nor
repeats a batch, and two processes sharing PostgreSQL and Redis never queue a batch
twice (while a subscriber on one sees the progress the other makes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.functions import Count

from app.db import tortoise_config
from app.deploy.models import DeployEvent, DeployJob, Rollout
from tests.conftest import PG_URL, REDIS_URL, GraphQLClient, _truncate_pg, forget_dialect
from tests.deploy.conftest import Subscription, ftp_fetch, pk_of
from tests.deploy.test_processes import TOKEN, ServerProcess, _company_world, server_env, shared_env
from tests.deploy.test_rollouts import _most_down_at_once
from tests.support.fixtures import PhoneSimFactory
from tests.support.ftp_server import FtpServerHandle

REBOOT_ALL = """
mutation($rollout: RolloutInput) { phonesReboot(rollout: $rollout) {
  jobCount rollout { id status total batchCount } userErrors { field code message } } }
"""
ROLLOUT = """
query($id: ID!) { node(id: $id) { ... on Rollout {
  id status currentBatch total succeeded failed skipped running queued
  jobs(first: 50) { totalCount nodes { status mac startedAt } } } } }
"""
PROGRESS = (
    "subscription($id: ID!) { rolloutProgress(id: $id) { status currentBatch "
    "queued running succeeded failed } }"
)


@pytest.fixture
async def processes() -> AsyncIterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        await server.stop()


@pytest.fixture
async def open_database() -> AsyncIterator[Any]:
    """Open the database the server processes use, from this test (once migrated)."""
    opened: list[str] = []

    async def open_db(url: str) -> None:
        forget_dialect()
        await Tortoise.init(config=tortoise_config(url))
        opened.append(url)

    yield open_db
    if opened:
        await Tortoise.close_connections()
    forget_dialect()


async def _rollout(client: GraphQLClient, rollout_id: str) -> dict[str, Any]:
    return (await client.data(ROLLOUT, {"id": rollout_id}))["node"]


async def _until_ended(client: GraphQLClient, rollout_id: str, timeout: float = 90) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            rollout = await _rollout(client, rollout_id)
            if rollout["status"] in ("SUCCEEDED", "FAILED", "ABORTED"):
                return rollout
            await asyncio.sleep(0.2)


async def _start(client: GraphQLClient, **rollout: Any) -> dict[str, Any]:
    payload = (await client.data(REBOOT_ALL, {"rollout": rollout}))["phonesReboot"]
    assert payload["userErrors"] == [], payload
    return payload["rollout"]


async def _one_job_per_phone(rollout_id: str) -> None:
    rollout = pk_of(rollout_id)
    twice = (
        await DeployJob.filter(rollout_id=rollout)
        .group_by("phone_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    assert twice == 0
    queued_twice = (
        await DeployEvent.filter(job__rollout_id=rollout, step="QUEUED")
        .group_by("job_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    assert queued_twice == 0


async def test_a_scheduled_rollout_starts_on_time_in_a_process_started_after_a_kill(
    tmp_path: Path,
    ftp_server: FtpServerHandle,
    phone_sim_factory: PhoneSimFactory,
    processes: list[ServerProcess],
    open_database: Any,
) -> None:
    url = f"sqlite://{tmp_path / 'phonegraph.sqlite3'}"
    env = server_env(tmp_path, url, ftp_server)
    first = ServerProcess(env, tmp_path / "first.log")
    processes.append(first)
    await first.start()
    await open_database(url)
    sims = [
        await phone_sim_factory(f"00AABBCC20{i:02X}", config_fetch=ftp_fetch(ftp_server))
        for i in range(3)
    ]
    await _company_world(first.client(), sims)
    start = datetime.now(UTC) + timedelta(seconds=6)
    rollout = await _start(first.client(), batchSize=2, startAt=start.isoformat())
    assert rollout["status"] == "SCHEDULED"

    await first.kill()
    second = ServerProcess(env, tmp_path / "second.log")
    processes.append(second)
    await second.start()

    done = await _until_ended(second.client(), rollout["id"])
    assert done["status"] == "SUCCEEDED", done
    assert done["succeeded"] == 3
    started = [datetime.fromisoformat(j["startedAt"]) for j in done["jobs"]["nodes"]]
    assert min(started) >= start
    assert [sim.reboots for sim in sims] == [1, 1, 1]
    await _one_job_per_phone(rollout["id"])


async def test_a_process_killed_mid_rollout_neither_loses_nor_repeats_a_batch(
    tmp_path: Path,
    ftp_server: FtpServerHandle,
    phone_sim_factory: PhoneSimFactory,
    processes: list[ServerProcess],
    open_database: Any,
) -> None:
    url = f"sqlite://{tmp_path / 'phonegraph.sqlite3'}"
    env = server_env(tmp_path, url, ftp_server)
    first = ServerProcess(env, tmp_path / "first.log")
    processes.append(first)
    await first.start()
    await open_database(url)
    sims = [
        await phone_sim_factory(
            f"00AABBCC30{i:02X}", config_fetch=ftp_fetch(ftp_server), reboot_seconds=1.5
        )
        for i in range(6)
    ]
    await _company_world(first.client(), sims)
    rollout = await _start(first.client(), batchSize=2)

    async def in_second_batch() -> bool:
        now = await Rollout.get(id=pk_of(rollout["id"]))
        return now.current_batch == 2

    async with asyncio.timeout(60):
        while not await in_second_batch():
            await asyncio.sleep(0.1)
    await first.kill()
    second = ServerProcess(env, tmp_path / "second.log")
    processes.append(second)
    await second.start()

    done = await _until_ended(second.client(), rollout["id"])
    # Every phone got its one job: none lost with the killed process, none repeated
    # (a job killed after its restart was sent ends INTERRUPTED, and is not run again).
    assert done["jobs"]["totalCount"] == 6
    assert done["succeeded"] + done["failed"] == 6
    assert done["skipped"] == 0
    assert done["status"] == "SUCCEEDED"
    assert all(sim.reboots <= 1 for sim in sims), [sim.reboots for sim in sims]
    assert _most_down_at_once(sims) <= 2
    await _one_job_per_phone(rollout["id"])


@pytest.mark.skipif(
    not (PG_URL and REDIS_URL),
    reason="PHONEGRAPH_TEST_DATABASE_URL and PHONEGRAPH_TEST_REDIS_URL not both set",
)
async def test_two_processes_never_queue_a_batch_twice(
    tmp_path: Path,
    ftp_server: FtpServerHandle,
    phone_sim_factory: PhoneSimFactory,
    processes: list[ServerProcess],
    open_database: Any,
    pg_migrated: str,
) -> None:
    await _truncate_pg(pg_migrated)
    env = shared_env(tmp_path, pg_migrated, ftp_server)
    one = ServerProcess(env, tmp_path / "one.log")
    two = ServerProcess(env, tmp_path / "two.log")
    processes.extend([one, two])
    await one.start()
    await two.start()
    await open_database(pg_migrated)
    sims = [
        await phone_sim_factory(
            f"00AABBCC40{i:02X}", config_fetch=ftp_fetch(ftp_server), reboot_seconds=0.3
        )
        for i in range(8)
    ]
    await _company_world(one.client(), sims)

    # Both processes' workers look for the rollout's work every second, and are woken
    # by every job of it that ends, whichever process ran it.
    rollouts = [await _start(one.client(), batchSize=2)]
    # A subscriber on the other process sees the progress, whoever makes it.
    async with Subscription(two.ws_url, TOKEN, PROGRESS, {"id": rollouts[0]["id"]}) as sub:
        results = [r["rolloutProgress"] for r in await sub.until_complete(timeout=90)]
    assert results[-1]["status"] == "SUCCEEDED"
    assert results[-1]["succeeded"] == 8
    assert {r["currentBatch"] for r in results} >= {1, 2, 3, 4}

    second = await _start(two.client(), batchSize=3, batchPauseSeconds=0)
    done = await _until_ended(one.client(), second["id"])
    assert done["status"] == "SUCCEEDED"
    for rollout in (rollouts[0], second):
        assert (await _rollout(one.client(), rollout["id"]))["jobs"]["totalCount"] == 8
        await _one_job_per_phone(rollout["id"])
    assert [sim.reboots for sim in sims] == [2] * 8
    assert _most_down_at_once(sims) <= 3

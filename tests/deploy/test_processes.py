"""Real server processes: jobs survive a killed process, and several processes sharing
PostgreSQL and Redis act as one."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tortoise import Tortoise

from app.core.ids import to_global_id
from app.db import tortoise_config
from app.deploy.models import DeployJob
from app.devices.models import Phone, PhoneModel, PhoneStatus
from app.pbx.models import SipDomain, SipUser
from tests.conftest import (
    PG_URL,
    REDIS_URL,
    TEST_PHONE_NETWORKS,
    GraphQLClient,
    _truncate_pg,
    forget_dialect,
    free_port,
)
from tests.deploy.conftest import (
    CNF_XML,
    JOB,
    PROGRESS,
    Subscription,
    ftp_fetch,
    pk_of,
    steps,
)
from tests.support.fixtures import PhoneSimFactory
from tests.support.ftp_server import FtpServerHandle

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-process-admin-token"

REBOOT = (
    "mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } userErrors { message } } }"
)
CREATE_COMPANY = (
    'mutation { companyCreate(input: {name: "Acme"}) { company { id } userErrors { message } } }'
)
CREATE_PROFILE = """
mutation($input: PhoneProfileInput!) { phoneProfileCreate(input: $input) {
  phoneProfile { id } userErrors { message } } }
"""
DEPLOY = """
mutation($p: ID!, $mac: MacAddress!) { phoneProfileDeploy(profileId: $p, mac: $mac) {
  job { id } userErrors { message } } }
"""


_BEARER = {"authorization": f"Bearer {TOKEN}"}


class ServerProcess:
    """``python -m app serve`` in a child process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = {**env, "PHONEGRAPH_PORT": str(self.port)}
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def client(self) -> GraphQLClient:
        return GraphQLClient(self.url, TOKEN)

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app",
                "serve",
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=out,
            )
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
                try:
                    if (await http.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log.read_text()[-3000:]}")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def exited(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def metric(self, name: str) -> float:
        """A sample of this process's /metrics."""
        async with httpx.AsyncClient() as http:
            text = (await http.get(self.url + "/metrics", headers=_BEARER)).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)  # a test may have left it stopped
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                await self.kill()


def server_env(
    tmp_path: Path, database_url: str, ftp: FtpServerHandle | None, **extra: str
) -> dict[str, str]:
    """Without ``ftp``, configs go to the data folder all the processes share."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONEGRAPH_")}
    env.update(
        PHONEGRAPH_DATABASE_URL=database_url,
        PHONEGRAPH_DATA_DIR=str(tmp_path / "data"),
        PHONEGRAPH_BOOTSTRAP_TOKEN=TOKEN,
        PHONEGRAPH_SECRET_KEY="process-test-key",
        PHONEGRAPH_PHONE_TIMEOUT="20",
        PHONEGRAPH_RESTART_GRACE="1",
        PHONEGRAPH_OPTIONS_INTERVAL="0.2",
        PHONEGRAPH_DEPLOY_HEARTBEAT="0.5",
        PHONEGRAPH_DEPLOY_LEASE="3",
        PHONEGRAPH_SHUTDOWN_GRACE="10",
        PHONEGRAPH_LOG_LEVEL="warning",
        PHONEGRAPH_PHONE_NETWORKS=TEST_PHONE_NETWORKS,
        # No presence probes in the simulated phones' logs (tests of presence set it).
        PHONEGRAPH_PRESENCE_INTERVAL="0",
    )
    if ftp is not None:
        env["PHONEGRAPH_FTP_URL"] = ftp.url
    env.update(extra)
    return env


@pytest.fixture
async def servers() -> AsyncIterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        await server.stop()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Any]:
    """Open the database the server processes use from this test (after they migrated)."""
    opened: list[str] = []

    async def open_db(url: str) -> None:
        forget_dialect()
        await Tortoise.init(config=tortoise_config(url))
        opened.append(url)

    yield open_db
    if opened:
        await Tortoise.close_connections()
    forget_dialect()


async def _company_world(client: GraphQLClient, sims: list[Any]) -> tuple[SipUser, list[Phone]]:
    """A company, a SIP user and a Cisco phone per simulator, written to the database."""
    company = (await client.data(CREATE_COMPANY))["companyCreate"]["company"]["id"]
    company_pk = pk_of(company)
    domain = await SipDomain.create(
        company_id=company_pk, name="acme.example.net", display_name="Acme"
    )
    user = await SipUser.create(
        domain=domain, username="alice", display_name="Alice", extension_number="201"
    )
    model, _ = await PhoneModel.get_or_create(
        vendor="Cisco",
        name="8845",
        defaults={
            "line_count": 2,
            "software_types": ["SIP"],
            "config_filename_pattern": "SEP{MAC}.cnf.xml",
        },
    )
    phones = [
        await Phone.create(
            mac=sim.mac,
            status=PhoneStatus.ACTIVE,
            company_id=company_pk,
            model=model,
            ip_address=sim.ip,
            http_port=sim.http_port,
            sip_port=sim.sip_port,
        )
        for sim in sims
    ]
    return user, phones


async def _job(client: GraphQLClient, job_id: str) -> dict[str, Any]:
    return (await client.data(JOB, {"id": job_id}))["node"]


async def _until(client: GraphQLClient, job_id: str, condition: Any, timeout: float = 30) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            job = await _job(client, job_id)
            if condition(job):
                return job
            await asyncio.sleep(0.1)


async def test_jobs_of_a_killed_process_become_interrupted_and_queued_ones_run(
    tmp_path: Path,
    ftp_server: FtpServerHandle,
    phone_sim_factory: PhoneSimFactory,
    servers: list[ServerProcess],
    database: Any,
) -> None:
    url = f"sqlite://{tmp_path / 'phonegraph.sqlite3'}"
    env = server_env(tmp_path, url, ftp_server)
    first = ServerProcess(env, tmp_path / "first.log")
    servers.append(first)
    await first.start()
    await database(url)
    # The phone takes long enough to reboot for the process to be killed meanwhile.
    sim = await phone_sim_factory(
        "00AABBCC0001", config_fetch=ftp_fetch(ftp_server), reboot_seconds=3
    )
    client = first.client()
    user, _ = await _company_world(client, [sim])
    profile = await client.data(
        CREATE_PROFILE,
        {"input": {"ownerId": to_global_id("SipUser", user.id), "name": "Desk", "cnfXml": CNF_XML}},
    )
    profile_id = profile["phoneProfileCreate"]["phoneProfile"]["id"]
    running = (await client.data(DEPLOY, {"p": profile_id, "mac": sim.mac}))["phoneProfileDeploy"][
        "job"
    ]["id"]
    await _until(client, running, lambda j: "WAITING_FOR_PHONE" in steps(j["events"]))
    queued = (await client.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]["id"]
    assert (await _job(client, queued))["status"] == "QUEUED"

    await first.kill()
    second = ServerProcess(env, tmp_path / "second.log")
    servers.append(second)
    await second.start()
    client = second.client()

    interrupted = await _until(client, running, lambda j: j["status"] != "RUNNING")
    assert interrupted["status"] == "INTERRUPTED"
    assert steps(interrupted["events"])[-2:] == ["WAITING_FOR_PHONE", "INTERRUPTED"]
    assert interrupted["finishedAt"] is not None
    # What was done before the kill stays done.
    assert (ftp_server.root / f"SEP{sim.mac}.cnf.xml").read_bytes() == CNF_XML.encode()
    rebooted = await _until(client, queued, lambda j: j["status"] not in ("QUEUED", "RUNNING"))
    assert rebooted["status"] == "SUCCEEDED", rebooted
    assert steps(rebooted["events"]) == [
        "QUEUED",
        "RESTARTING",
        "WAITING_FOR_PHONE",
        "PHONE_ONLINE",
        "SUCCEEDED",
    ]


@pytest.mark.skipif(
    not (PG_URL and REDIS_URL),
    reason="PHONEGRAPH_TEST_DATABASE_URL and PHONEGRAPH_TEST_REDIS_URL not both set",
)
async def test_two_processes_sharing_postgres_and_redis_act_as_one(
    tmp_path: Path,
    ftp_server: FtpServerHandle,
    phone_sim_factory: PhoneSimFactory,
    servers: list[ServerProcess],
    database: Any,
    pg_migrated: str,
) -> None:
    await _truncate_pg(pg_migrated)
    env = server_env(
        tmp_path,
        pg_migrated,
        ftp_server,
        PHONEGRAPH_REDIS_URL=REDIS_URL or "",
        # A channel of its own, so another run sharing this Redis is not heard.
        PHONEGRAPH_REDIS_CHANNEL=f"phonegraph-test:{tmp_path.name}:{secrets.token_hex(4)}",
    )
    watcher = ServerProcess(env, tmp_path / "watcher.log")
    worker = ServerProcess(env, tmp_path / "worker.log")
    servers.extend([watcher, worker])
    # One after the other: both migrate and sync the model catalogue on start-up.
    await watcher.start()
    await worker.start()
    await database(pg_migrated)
    sims = [
        await phone_sim_factory(f"00AABBCC10{i:02X}", config_fetch=ftp_fetch(ftp_server))
        for i in range(5)
    ]
    await _company_world(watcher.client(), sims)

    # One client follows, on one process, a job asked for on the other.
    job_id = (await worker.client().data(REBOOT, {"mac": sims[0].mac}))["phoneReboot"]["job"]["id"]
    async with Subscription(watcher.ws_url, TOKEN, PROGRESS, {"jobId": job_id}) as sub:
        events = [r["deployJobProgress"] for r in await sub.until_complete()]
    assert steps(events) == [
        "QUEUED",
        "RESTARTING",
        "WAITING_FOR_PHONE",
        "PHONE_ONLINE",
        "SUCCEEDED",
    ]
    row = await DeployJob.get(id=pk_of(job_id))
    assert row.runner_id and f":{worker.pid}:" in row.runner_id  # the other process ran it

    # Jobs asked for on both processes each run exactly once.
    others = []
    for i, sim in enumerate(sims[1:]):
        server = (watcher, worker)[i % 2]
        others.append(
            (await server.client().data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]["id"]
        )
    for other in others:
        job = await _until(
            watcher.client(), other, lambda j: j["status"] not in ("QUEUED", "RUNNING")
        )
        assert job["status"] == "SUCCEEDED"
        assert steps(job["events"]).count("RESTARTING") == 1
    assert [s.reboots for s in sims] == [1, 1, 1, 1, 1]


# ---------------------------------------------------------------- leases across processes

needs_postgres_and_redis = pytest.mark.skipif(
    not (PG_URL and REDIS_URL),
    reason="PHONEGRAPH_TEST_DATABASE_URL and PHONEGRAPH_TEST_REDIS_URL not both set",
)

BULK = "mutation { phonesReprovision { jobCount userErrors { message } } }"
TEMPLATE = '<device><mac>{{ phone.mac }}</mac><pad>{{ "x" * 4000 }}</pad></device>\n'


def shared_env(tmp_path: Path, url: str, ftp: FtpServerHandle | None, **extra: str) -> dict:
    """Processes of one installation on PostgreSQL and Redis, with a channel of their
    own (other runs share this Redis). Without ``ftp`` configs go to the shared folder."""
    return server_env(
        tmp_path,
        url,
        ftp,
        PHONEGRAPH_REDIS_URL=REDIS_URL or "",
        PHONEGRAPH_REDIS_CHANNEL=f"phonegraph-test:{tmp_path.name}:{secrets.token_hex(4)}",
        PHONEGRAPH_PHONE_TIMEOUT="40",
        **extra,
    )


async def _fleet(client: GraphQLClient, sims: list[Any]) -> list[Phone]:
    """A company and one Cisco phone per simulator, each with a template to reprovision."""
    from app.devices.models import PhoneTemplate

    company = (await client.data(CREATE_COMPANY))["companyCreate"]["company"]["id"]
    model, _ = await PhoneModel.get_or_create(
        vendor="Cisco",
        name="8845",
        defaults={
            "line_count": 2,
            "software_types": ["SIP"],
            "config_filename_pattern": "SEP{MAC}.cnf.xml",
        },
    )
    template = await PhoneTemplate.create(filename="fleet.xml", content=TEMPLATE, model=model)
    await Phone.bulk_create(
        [
            Phone(
                mac=sim.mac,
                status=PhoneStatus.ACTIVE,
                company_id=pk_of(company),
                model_id=model.id,
                template_id=template.id,
                ip_address=sim.ip,
                http_port=sim.http_port,
                sip_port=sim.sip_port,
            )
            for sim in sims
        ]
    )
    return list(await Phone.all().order_by("mac"))


async def _all_ended(timeout: float) -> list[DeployJob]:
    async with asyncio.timeout(timeout):
        while await DeployJob.filter(status__in=["QUEUED", "RUNNING"]).exists():
            await asyncio.sleep(0.2)
    return list(await DeployJob.all().order_by("id"))


async def _held_by(server: ServerProcess) -> int:
    return await DeployJob.filter(status="RUNNING", runner_id__contains=f":{server.pid}:").count()


async def _when(condition: Any, timeout: float = 60, what: str = "the condition") -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.1)


def _assert_each_phone_restarted_at_most_once(sims: list[Any]) -> None:
    for sim in sims:
        # A NOTIFY reaching a phone that is down means two jobs restarted it at once.
        assert sim.reboots <= 1, (sim.mac, sim.log)
        assert not [e for e in sim.entries("NOTIFY") if e.detail == "unanswered"], sim.mac


async def _assert_configs_whole(phones: list[Phone], root: Path) -> None:
    from app.devices.rendering import render_phone_config

    for phone in phones:
        name, expected = await render_phone_config(phone.id)
        assert (root / name).read_bytes() == expected, name


async def _events(job_id: int) -> list[tuple[str, str | None]]:
    from app.deploy.models import DeployEvent

    rows = await DeployEvent.filter(job_id=job_id).order_by("id")
    return [(str(e.step), e.message) for e in rows]


@needs_postgres_and_redis
async def test_a_process_killed_mid_bulk_leaves_every_job_ended_and_no_phone_restarted_twice(
    tmp_path: Path,
    ftp_server: FtpServerHandle,
    phone_sim_factory: PhoneSimFactory,
    servers: list[ServerProcess],
    database: Any,
    pg_migrated: str,
) -> None:
    from app.deploy.leases import INTERRUPTED_AFTER_EXPIRY

    await _truncate_pg(pg_migrated)
    env = shared_env(tmp_path, pg_migrated, ftp_server, PHONEGRAPH_DEPLOY_CONCURRENCY="8")
    victim = ServerProcess(env, tmp_path / "victim.log")
    survivor = ServerProcess(env, tmp_path / "survivor.log")
    servers.extend([victim, survivor])
    await victim.start()
    await survivor.start()
    await database(pg_migrated)
    sims = [
        await phone_sim_factory(f"00AABB20{i:04X}", config_fetch=ftp_fetch(ftp_server))
        for i in range(40)
    ]
    phones = await _fleet(victim.client(), sims)

    queued = (await victim.client().data(BULK))["phonesReprovision"]
    assert queued["jobCount"] == 40

    async def victim_busy() -> bool:
        # Some of the bulk done, and the victim in the middle of a job of it.
        done = await DeployJob.filter(status="SUCCEEDED").count()
        return done >= 1 and await _held_by(victim) >= 1

    await _when(victim_busy, what="the victim to hold jobs mid-bulk")
    await victim.kill()

    jobs = await _all_ended(timeout=120)

    assert {j.status for j in jobs} <= {"SUCCEEDED", "INTERRUPTED"}
    for job in jobs:
        if job.status == "INTERRUPTED":  # only after its restart was sent, never twice
            assert job.restart_sent
            assert (await _events(job.id))[-1] == ("INTERRUPTED", INTERRUPTED_AFTER_EXPIRY)
    assert await DeployJob.filter(running_phone_id__isnull=False).count() == 0
    assert await DeployJob.filter(running_slot__isnull=False).count() == 0
    _assert_each_phone_restarted_at_most_once(sims)
    assert all(s.reboots == 1 for s, j in zip(sims, jobs, strict=True) if j.status == "SUCCEEDED")
    await _assert_configs_whole(phones, ftp_server.root)


@needs_postgres_and_redis
async def test_a_frozen_process_touches_nothing_another_took_over(
    tmp_path: Path,
    ftp_server: FtpServerHandle,
    phone_sim_factory: PhoneSimFactory,
    servers: list[ServerProcess],
    database: Any,
    pg_migrated: str,
) -> None:
    await _truncate_pg(pg_migrated)
    env = shared_env(tmp_path, pg_migrated, ftp_server)
    frozen = ServerProcess(env, tmp_path / "frozen.log")
    servers.append(frozen)
    await frozen.start()
    await database(pg_migrated)
    fetch = ftp_fetch(ftp_server)
    # Three phones slow to answer the CGI (their jobs will be caught before the
    # restart), three slow to come back (caught after it).
    before = [
        await phone_sim_factory(f"00AABB30{i:04X}", config_fetch=fetch, cgi_delay=30)
        for i in range(3)
    ]
    after = [
        await phone_sim_factory(f"00AABB31{i:04X}", config_fetch=fetch, reboot_seconds=30)
        for i in range(3)
    ]
    sims = before + after
    await _fleet(frozen.client(), sims)
    assert (await frozen.client().data(BULK))["phonesReprovision"]["jobCount"] == 6

    async def caught_mid_way() -> bool:
        cgi = sum(1 for s in before if s.cgi_requests)
        waiting = sum(1 for s in after if s.reboots)
        return cgi == 3 and waiting == 3 and await _held_by(frozen) == 6

    await _when(caught_mid_way, what="the jobs to be caught mid-way")
    taker = ServerProcess(env, tmp_path / "taker.log")
    servers.append(taker)
    await taker.start()

    frozen.signal(signal.SIGSTOP)
    for sim in before:
        sim.cgi_delay = 0
    jobs = await _all_ended(timeout=90)  # the other process took them over

    assert sorted(j.status for j in jobs) == ["INTERRUPTED"] * 3 + ["SUCCEEDED"] * 3
    events = {j.id: await _events(j.id) for j in jobs}
    rows = {j.id: (j.status, j.lease_epoch, j.runner_id, j.finished_at) for j in jobs}
    seen = {s.mac: (len(s.sip_messages), len(s.cgi_requests)) for s in sims}

    frozen.signal(signal.SIGCONT)
    # Once it woke up, it found out on its own that it lost all six leases...
    await _when(
        lambda: _at_least(frozen, "phonegraph_deploy_leases_lost_total", 6),
        timeout=30,
        what="the frozen process to notice",
    )
    # ...and neither wrote for those jobs nor sent anything to their phones.
    for job in await DeployJob.all().order_by("id"):
        assert (job.status, job.lease_epoch, job.runner_id, job.finished_at) == rows[job.id]
        assert await _events(job.id) == events[job.id]
    assert {s.mac: (len(s.sip_messages), len(s.cgi_requests)) for s in sims} == seen
    _assert_each_phone_restarted_at_most_once(sims)
    assert (await frozen.client().execute("{ viewer { role } }"))["data"]


async def _at_least(server: ServerProcess, metric: str, value: float) -> bool:
    return await server.metric(metric) >= value


@needs_postgres_and_redis
async def test_a_rolling_restart_during_a_bulk_reprovision_loses_no_job(
    tmp_path: Path,
    phone_sim_factory: PhoneSimFactory,
    servers: list[ServerProcess],
    database: Any,
    pg_migrated: str,
) -> None:
    from tests.support.phone_sim import folder_fetch

    await _truncate_pg(pg_migrated)
    env = shared_env(
        tmp_path,
        pg_migrated,
        None,
        PHONEGRAPH_DEPLOY_CONCURRENCY="16",
        PHONEGRAPH_LOG_LEVEL="error",
    )
    root = tmp_path / "data" / "tftpboot"
    fleet = [ServerProcess(env, tmp_path / f"server{n}.log") for n in range(2)]
    servers.extend(fleet)
    for server in fleet:
        await server.start()
    await database(pg_migrated)
    sims = [
        await phone_sim_factory(
            f"00AABB40{i:04X}", config_fetch=folder_fetch(root), reboot_seconds=1.0
        )
        for i in range(200)
    ]
    phones = await _fleet(fleet[0].client(), sims)
    assert (await fleet[0].client().data(BULK))["phonesReprovision"]["jobCount"] == 200

    # Each process in turn is stopped (SIGTERM) during the bulk, and replaced.
    held_when_stopped = []
    for n, progress in enumerate((30, 90)):
        old = fleet[n]

        async def reached(progress: int = progress) -> bool:
            return await DeployJob.filter(status="SUCCEEDED").count() >= progress

        await _when(reached, what=f"{progress} jobs to be done")
        held_when_stopped.append(await _held_by(old))
        old.signal(signal.SIGTERM)
        new = ServerProcess(env, tmp_path / f"server{n}-again.log")
        servers.append(new)
        await new.start()
        # A clean exit; uvicorn re-raises the SIGTERM once it has shut down.
        assert await old.exited() in (0, -signal.SIGTERM)

    jobs = await _all_ended(timeout=180)

    assert sum(held_when_stopped) > 0  # the stopped processes had jobs to hand over
    assert {j.status for j in jobs} == {"SUCCEEDED"}
    assert len(jobs) == 200
    assert all(s.reboots == 1 for s in sims)
    _assert_each_phone_restarted_at_most_once(sims)
    await _assert_configs_whole(phones, root)


@needs_postgres_and_redis
async def test_a_cut_redis_connection_loses_no_event_for_phone_events(
    tmp_path: Path,
    ftp_server: FtpServerHandle,
    phone_sim_factory: PhoneSimFactory,
    servers: list[ServerProcess],
    database: Any,
    pg_migrated: str,
) -> None:
    import redis.asyncio as redis

    from app.core.ids import to_global_id
    from app.deploy.models import DeployEvent

    await _truncate_pg(pg_migrated)
    env = shared_env(tmp_path, pg_migrated, ftp_server)
    watcher = ServerProcess(env, tmp_path / "watcher.log")
    worker = ServerProcess(env, tmp_path / "worker.log")
    servers.extend([watcher, worker])
    await watcher.start()
    await worker.start()
    await database(pg_migrated)
    sims = [
        await phone_sim_factory(f"00AABB50{i:04X}", config_fetch=ftp_fetch(ftp_server))
        for i in range(10)
    ]
    await _fleet(watcher.client(), sims)
    for sim in sims:
        sim.reboot_seconds = 1.5  # events keep coming for a while
    admin = redis.from_url(REDIS_URL or "")

    async def cut_watcher() -> int:
        """CLIENT KILL every Redis connection of the watching process."""
        clients = await admin.client_list()
        mine = [c for c in clients if c.get("name", "").endswith(f":{watcher.pid}")]
        for client in mine:
            await admin.client_kill_filter(_id=client["id"])
        return len(mine)

    async def watcher_subscribed() -> bool:
        clients = await admin.client_list()
        return any(
            c.get("name", "").endswith(f":{watcher.pid}") and int(c.get("sub", 0)) for c in clients
        )

    # One job first; the stream starts right after its last event.
    warm_up = (await worker.client().data(REBOOT, {"mac": sims[0].mac}))["phoneReboot"]
    await _all_ended(timeout=30)
    last = await DeployEvent.all().order_by("-id").first()
    assert last is not None and warm_up["job"]["id"]
    after = to_global_id("DeployEvent", last.id)

    received: list[str] = []
    query = "subscription($after: ID) { phoneEvents(after: $after) { id step } }"
    try:
        async with Subscription(watcher.ws_url, TOKEN, query, {"after": after}) as sub:
            # Work on the other process, with the watcher's connections cut again and
            # again meanwhile: each time, events go by while it reconnects.
            assert (await worker.client().data(BULK))["phonesReprovision"]["jobCount"] == 10
            for _ in range(5):
                stored_before = await DeployEvent.all().count()
                assert await cut_watcher() >= 1

                async def moved_on(stored_before: int = stored_before) -> bool:
                    if not await watcher_subscribed():
                        return False
                    grew = await DeployEvent.all().count() > stored_before
                    return (
                        grew
                        or not await DeployJob.filter(status__in=["QUEUED", "RUNNING"]).exists()
                    )

                await _when(moved_on, timeout=30, what="events after the cut")
            await _all_ended(timeout=90)
            stored = {
                to_global_id("DeployEvent", e.id)
                for e in await DeployEvent.filter(id__gt=last.id).order_by("id")
            }
            async with asyncio.timeout(30):
                while set(received) != stored:
                    data = await sub.next()
                    assert data is not None
                    received.append(data["phoneEvents"]["id"])
    finally:
        await admin.aclose()

    assert len(received) == len(set(received))  # nothing twice
    assert set(received) == stored  # nothing lost
    assert "subscribed to Redis again" in (tmp_path / "watcher.log").read_text()

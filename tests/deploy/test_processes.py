"""Real server processes: jobs survive a killed process, and several processes sharing
PostgreSQL and Redis act as one."""

from __future__ import annotations

import asyncio
import os
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
from tests.conftest import PG_URL, REDIS_URL, GraphQLClient, _truncate_pg, forget_dialect, free_port
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

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                await self.kill()


def server_env(
    tmp_path: Path, database_url: str, ftp: FtpServerHandle, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONEGRAPH_")}
    env.update(
        PHONEGRAPH_DATABASE_URL=database_url,
        PHONEGRAPH_DATA_DIR=str(tmp_path / "data"),
        PHONEGRAPH_BOOTSTRAP_TOKEN=TOKEN,
        PHONEGRAPH_SECRET_KEY="process-test-key",
        PHONEGRAPH_FTP_URL=ftp.url,
        PHONEGRAPH_PHONE_TIMEOUT="20",
        PHONEGRAPH_RESTART_GRACE="1",
        PHONEGRAPH_OPTIONS_INTERVAL="0.2",
        PHONEGRAPH_DEPLOY_HEARTBEAT="0.5",
        PHONEGRAPH_LOG_LEVEL="warning",
        **extra,
    )
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
        PHONEGRAPH_REDIS_CHANNEL=f"phonegraph-test:{tmp_path.name}",
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

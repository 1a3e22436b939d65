"""Deploy fixtures: a company with SIP users, simulated phones, a real FTP server as the
config target, and a GraphQL-over-WebSocket subscription client."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import websockets

from app.core.crypto import encrypt
from app.core.ids import parse_global_id, to_global_id
from app.deploy.models import DeployJob, DeployJobKind, DeployJobStatus, Rollout
from app.deploy.signals import rollout_ended
from app.devices.models import Phone, PhoneLine, PhoneModel, PhoneStatus
from app.pbx.models import SipDomain, SipUser
from app.settings import Settings, use_settings
from tests.conftest import GraphQLClient, LiveServer, Tenant, create_token
from tests.support.fixtures import (  # noqa: F401  (fixtures used by the tests)
    PhoneSimFactory,
    ftp_server,
    ftp_server_overwrite,
    ftp_server_refusing_login,
    phone_sim_factory,
)
from tests.support.ftp_server import FtpServerHandle
from tests.support.phone_sim import PhoneSimulator

# Small enough to keep failure tests quick, large enough for a loaded CI machine.
PHONE_TIMEOUT = 4.0

CNF_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<device>\n"
    "  <deviceProtocol>SIP</deviceProtocol>\n"
    "  <!-- Ünïcödé survives byte for byte -->\n"
    "  <sipProfile><phoneLabel>Reception</phoneLabel></sipProfile>\n"
    "</device>\n"
)

DEPLOY = """
mutation($profileId: ID!, $mac: MacAddress!, $wait: Boolean) {
  phoneProfileDeploy(profileId: $profileId, mac: $mac, wait: $wait) {
    job { id status kind restart error }
    phoneProfile { id name }
    phone { mac }
    restart
    userErrors { field code message }
  }
}
"""

JOB = """
query($id: ID!) { node(id: $id) { ... on DeployJob {
  id status kind restart error startedAt finishedAt cancelRequested
  events { step message at }
} } }
"""

PROGRESS = """
subscription($jobId: ID!) { deployJobProgress(jobId: $jobId) {
  step message at job { id status restart } } }
"""

CREATE_PROFILE = """
mutation($input: PhoneProfileInput!) { phoneProfileCreate(input: $input) {
  phoneProfile { id name cnfXml compatibleModels softwareType owner { id } }
  userErrors { field code message } } }
"""


def pk_of(global_id: str) -> int:
    parsed = parse_global_id(global_id)
    assert parsed is not None
    return parsed[1]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ftp_password(pw): log in to the test FTP server with this password"
    )
    config.addinivalue_line("markers", "with_settings(**fields): the test's settings changed")


@pytest.fixture
async def settings(
    settings: Settings,
    ftp_server: FtpServerHandle,  # noqa: F811
    request: pytest.FixtureRequest,
) -> AsyncIterator[Settings]:
    """The test settings, uploading to a real aioftp server, with short phone timeouts."""
    marker = request.node.get_closest_marker("ftp_password")
    s = dataclasses.replace(
        settings,
        ftp_url=ftp_server.url_for(password=marker.args[0]) if marker else ftp_server.url,
        phone_timeout=PHONE_TIMEOUT,
        restart_grace=1.0,
        options_interval=0.2,
        deploy_heartbeat=0.5,
        deploy_lease=3.0,
    )
    use_settings(s)
    yield s
    use_settings(settings)


async def hold_lease(job_id: int, seconds: float) -> None:
    """What another server process does for a job it runs: (re)new its lease, which
    then lasts ``seconds`` by the database's clock."""
    from app.deploy.sql import dialect_sql

    sql = dialect_sql()
    await sql.rows(
        f"UPDATE deploy_job SET lease_expires_at = {sql.later(2)} WHERE id = $1",
        [job_id, seconds],
    )


async def foreign_running_job(
    phone: Phone, *, slot: int, lease_seconds: float = 60.0, lease_epoch: int = 1, **fields: Any
) -> DeployJob:
    """A REBOOT job that another server process is running: RUNNING, holding the phone's
    lock and ``slot``, with a lease that lasts ``lease_seconds`` unless renewed."""
    from tortoise.transactions import in_transaction

    async with in_transaction():
        job = await DeployJob.create(
            kind=DeployJobKind.REBOOT,
            status=DeployJobStatus.RUNNING,
            phone_id=phone.id,
            company_id=phone.company_id,  # type: ignore[attr-defined]
            running_phone_id=phone.id,
            running_slot=slot,
            runner_id=fields.pop("runner_id", "another-host:4242:cafe"),
            lease_epoch=lease_epoch,
            started_at=datetime.now(UTC),
            **fields,
        )
        # In the same transaction: no runner ever sees the job without its lease.
        await hold_lease(job.id, lease_seconds)
    return job


def ftp_fetch(server: FtpServerHandle):  # type: ignore[no-untyped-def]
    """What a phone does while it boots: read its config from the phones' file root."""

    async def fetch(name: str) -> bytes | None:
        path: Path = server.root / name
        return path.read_bytes() if path.exists() else None

    return fetch


# ---------------------------------------------------------------- WebSocket client


async def bus_listeners(count: int, timeout: float = 10.0) -> None:
    """Wait until ``count`` subscriptions listen on the event bus (the server runs in
    this process), so events published next reach them."""
    from app.core.events import get_bus

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while get_bus().subscriber_count < count:
        assert loop.time() < deadline, "the subscription did not start listening"
        await asyncio.sleep(0.01)


class Subscription:
    """One GraphQL subscription over ``graphql-transport-ws``."""

    def __init__(self, ws_url: str, token: str, query: str, variables: dict[str, Any]) -> None:
        self.ws_url = ws_url
        self.token = token
        self.query = query
        self.variables = variables
        self.ws: Any = None
        self.completed = False

    async def __aenter__(self) -> Subscription:
        self.ws = await websockets.connect(self.ws_url, subprotocols=["graphql-transport-ws"])
        await self.ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
            )
        )
        ack = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        await self.ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": self.query, "variables": self.variables},
                }
            )
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def next(self, timeout: float = 15.0) -> dict[str, Any] | None:
        """The next result's ``data`` (``None`` once the server completed the stream)."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    raise AssertionError(f"subscription errors: {payload['errors']}")
                return payload["data"]
            if message["type"] == "complete":
                self.completed = True
                return None
            if message["type"] == "error":
                raise AssertionError(f"subscription refused: {message['payload']}")
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))

    async def error(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The errors the server answered the subscription with."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] == "error":
                return message["payload"]
            if message["type"] == "next" and message["payload"].get("errors"):
                return message["payload"]["errors"]
            assert message["type"] not in ("next", "complete"), message

    async def until_complete(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Every result until the server completes the stream."""
        out = []
        async with asyncio.timeout(timeout):
            while (data := await self.next(timeout)) is not None:
                out.append(data)
        return out


async def progress(server: LiveServer, token: str, job_id: str) -> list[dict[str, Any]]:
    """Every event of a job, through ``deployJobProgress``, until it completes."""
    async with Subscription(server.ws_url, token, PROGRESS, {"jobId": job_id}) as sub:
        results = await sub.until_complete()
    return [r["deployJobProgress"] for r in results]


def steps(events: list[dict[str, Any]]) -> list[str]:
    return [e["step"] for e in events]


async def eventually(check: Any, timeout: float = 15.0, what: str = "the condition") -> Any:
    """Poll ``check()`` (sync or async) until it returns something true; return that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------- the world


@dataclass
class DeployWorld:
    """A company with a SIP domain, its admin client, and helpers for phones and users."""

    server: LiveServer
    admin: GraphQLClient
    tenant: Tenant
    company_pk: int
    domain: SipDomain
    ftp: FtpServerHandle
    sims: PhoneSimFactory
    _macs: int = 0
    _users: int = 0
    tokens: dict[int, str] = field(default_factory=dict)

    async def sim(self, **options: Any) -> PhoneSimulator:
        """A simulated phone that fetches its config from the FTP root while rebooting."""
        self._macs += 1
        mac = f"0011223344{self._macs:02X}"
        options.setdefault("config_fetch", ftp_fetch(self.ftp))
        return await self.sims(mac, **options)

    async def cisco_model(self, name: str = "8845") -> PhoneModel:
        model, _ = await PhoneModel.get_or_create(
            vendor="Cisco",
            name=name,
            defaults={
                "line_count": 2,
                "software_types": ["SIP"],
                "config_filename_pattern": "SEP{MAC}.cnf.xml",
            },
        )
        return model

    async def phone(
        self,
        sim: PhoneSimulator | None,
        *,
        model: PhoneModel | None = None,
        company_pk: int | None = None,
        web_password: str | None = None,
        user: SipUser | None = None,
        **fields: Any,
    ) -> Phone:
        """A phone row reaching ``sim`` (or nowhere, without one)."""
        if model is None:
            model = await self.cisco_model()
        if sim is None:
            self._macs += 1
            mac = f"00AA00BB00{self._macs:02X}"
        else:
            mac = sim.mac
        values: dict[str, Any] = {
            "mac": mac,
            "status": PhoneStatus.ACTIVE,
            "company_id": company_pk if company_pk is not None else self.company_pk,
            "model_id": model.id,
            "ip_address": sim.ip if sim else None,
            "http_port": sim.http_port if sim and sim.http_port else 80,
            "sip_port": sim.sip_port if sim else 5060,
            "web_username": sim.web_username if sim else None,
            "web_password_enc": encrypt(web_password) if web_password else None,
        }
        values.update(fields)
        phone = await Phone.create(**values)
        if user is not None:
            await PhoneLine.create(phone=phone, port=1, sip_user=user)
        return phone

    async def user(self, username: str | None = None, **fields: Any) -> SipUser:
        self._users += 1
        name = username or f"user{self._users}"
        return await SipUser.create(
            domain=self.domain,
            username=name,
            display_name=name.title(),
            extension_number=str(200 + self._users),
            **fields,
        )

    async def user_client(self, user: SipUser) -> GraphQLClient:
        """A USER token of ``user``."""
        if user.id not in self.tokens:
            self.tokens[user.id] = await create_token(
                self.admin,
                "USER",
                sip_user_id=to_global_id("SipUser", user.id),
                name=f"user-{user.id}",
            )
        return self.server.client(self.tokens[user.id])

    async def profile(self, owner: SipUser, cnf_xml: str = CNF_XML, **fields: Any) -> str:
        payload = await self.admin.mutate(
            CREATE_PROFILE,
            {
                "input": {
                    "ownerId": to_global_id("SipUser", owner.id),
                    "name": fields.pop("name", "Reception Desk"),
                    "cnfXml": cnf_xml,
                    **fields,
                }
            },
        )
        return payload["phoneProfile"]["id"]

    async def deploy(
        self, profile_id: str, mac: str, *, wait: bool = False, client: GraphQLClient | None = None
    ) -> dict[str, Any]:
        data = await (client or self.admin).data(
            DEPLOY, {"profileId": profile_id, "mac": mac, "wait": wait}
        )
        return data["phoneProfileDeploy"]

    async def job(self, job_id: str) -> dict[str, Any]:
        return (await self.admin.data(JOB, {"id": job_id}))["node"]

    async def wait_step(self, job_id: str, step: str, timeout: float = 15.0) -> dict[str, Any]:
        """The job once it has an event of ``step``."""
        async with asyncio.timeout(timeout):
            while True:
                job = await self.job(job_id)
                if step in steps(job["events"]):
                    return job
                await asyncio.sleep(0.05)

    async def wait_job(self, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The job once it has ended (polling over HTTP)."""
        async with asyncio.timeout(timeout):
            while True:
                job = await self.job(job_id)
                if job["status"] not in ("QUEUED", "RUNNING"):
                    return job
                await asyncio.sleep(0.05)


@pytest.fixture
async def world(
    live_server: LiveServer,
    admin: GraphQLClient,
    tenant_factory: Any,
    ftp_server: FtpServerHandle,  # noqa: F811
    phone_sim_factory: PhoneSimFactory,  # noqa: F811
) -> DeployWorld:
    tenant = await tenant_factory("Acme")
    company_pk = pk_of(tenant.company_id)
    domain = await SipDomain.create(
        company_id=company_pk, name="acme.sip.example.net", display_name="Acme"
    )
    return DeployWorld(
        server=live_server,
        admin=admin,
        tenant=tenant,
        company_pk=company_pk,
        domain=domain,
        ftp=ftp_server,
        sims=phone_sim_factory,
    )


@pytest.fixture
def ended() -> Iterator[list[Rollout]]:
    """The rollouts ``rollout_ended`` was sent for (the server runs in this process)."""
    seen: list[Rollout] = []

    async def receiver(rollout: Rollout) -> None:
        seen.append(rollout)

    rollout_ended.connect(receiver)
    yield seen
    rollout_ended._receivers.remove(receiver)

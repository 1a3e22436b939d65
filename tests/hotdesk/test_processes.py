"""Hot desking with real server processes sharing PostgreSQL: a session expires once, not
once per process; the lockout counts wrong PINs given to any of them; a session that
expired while no server ran ends when one starts."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from app.core.crypto import hash_pin
from app.deploy.models import DeployJob, DeployJobStatus
from app.deploy.sql import dialect_sql
from app.devices.models import Phone, PhoneModel, PhoneStatus, PhoneTemplate
from app.hotdesk.models import HotdeskSession
from app.pbx.models import SipDomain, SipUser
from tests.conftest import PG_URL, REDIS_URL, GraphQLClient, _truncate_pg
from tests.deploy.conftest import ftp_fetch, pk_of
from tests.deploy.test_processes import (  # noqa: F401  (fixtures used by the tests)
    ServerProcess,
    database,
    server_env,
    servers,
)
from tests.hotdesk.conftest import LOGIN, CiscoServices, text_of
from tests.support.fixtures import PhoneSimFactory
from tests.support.ftp_server import FtpServerHandle

pytestmark = pytest.mark.skipif(not PG_URL, reason="PHONEGRAPH_TEST_DATABASE_URL not set")

CREATE_COMPANY = (
    'mutation { companyCreate(input: {name: "Acme"}) { company { id provisioningKey } } }'
)
REPROVISION = "mutation($mac: MacAddress!) { phoneReprovision(mac: $mac) { job { id } } }"
JOB_STATUS = "query($id: ID!) { node(id: $id) { ... on DeployJob { status } } }"


async def _world(client: GraphQLClient, sim: Any) -> tuple[str, SipUser, Phone]:
    """A company with a hot-desk user (PIN 1234) and a hot-desk Cisco phone."""
    company = (await client.data(CREATE_COMPANY))["companyCreate"]["company"]
    domain = await SipDomain.create(
        company_id=pk_of(company["id"]), name="acme.example.net", display_name="Acme"
    )
    user = await SipUser.create(
        domain=domain,
        username="alice",
        display_name="Alice",
        extension_number="201",
        hotdesk_allowed=True,
        pin_hash=hash_pin("1234"),
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
    template = await PhoneTemplate.get(filename="cisco-sip.cnf.xml")
    phone = await Phone.create(
        mac=sim.mac,
        status=PhoneStatus.ACTIVE,
        company_id=pk_of(company["id"]),
        model=model,
        template=template,
        can_hotdesk=True,
        ip_address=sim.ip,
        http_port=sim.http_port,
        sip_port=sim.sip_port,
    )
    return company["provisioningKey"], user, phone


async def _ended_job(client: GraphQLClient, job_id: str, timeout: float = 30) -> str:
    async with asyncio.timeout(timeout):
        while True:
            status = (await client.data(JOB_STATUS, {"id": job_id}))["node"]["status"]
            if DeployJobStatus(status).is_final:
                return status
            await asyncio.sleep(0.1)


async def _until(check: Any, timeout: float = 30, what: str = "the condition") -> Any:
    try:
        async with asyncio.timeout(timeout):
            while not (result := await check()):
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    return result


def _env(tmp_path: Path, ftp: FtpServerHandle, **extra: str) -> dict[str, str]:
    options = {
        "PHONEGRAPH_HOTDESK_TIMEOUT": "3",
        "PHONEGRAPH_HOTDESK_SWEEP_INTERVAL": "0.3",
        **extra,
    }
    if REDIS_URL:
        options.update(
            PHONEGRAPH_REDIS_URL=REDIS_URL, PHONEGRAPH_REDIS_CHANNEL=f"hotdesk:{tmp_path.name}:{secrets.token_hex(4)}"
        )
    return server_env(tmp_path, PG_URL or "", ftp, **options)


async def test_two_processes_expire_a_session_once_and_share_the_lockout(
    tmp_path: Path,
    ftp_server: FtpServerHandle,
    phone_sim_factory: PhoneSimFactory,
    servers: list[ServerProcess],  # noqa: F811
    database: Any,  # noqa: F811
    pg_migrated: str,
) -> None:
    await _truncate_pg(pg_migrated)
    env = _env(tmp_path, ftp_server)
    first = ServerProcess(env, tmp_path / "first.log")
    # Behind a load balancer every process renders the one address phones use: here the
    # first process's, so the phone's Services button leads there.
    env["PHONEGRAPH_PUBLIC_URL"] = first.env["PHONEGRAPH_PUBLIC_URL"] = first.url
    second = ServerProcess(env, tmp_path / "second.log")
    servers.extend([first, second])
    await first.start()  # one after the other: both migrate on start-up
    await second.start()
    await database(pg_migrated)
    sim = await phone_sim_factory("00AABBCC2001", config_fetch=ftp_fetch(ftp_server))
    key, alice, phone = await _world(first.client(), sim)
    job = (await first.client().data(REPROVISION, {"mac": sim.mac}))["phoneReprovision"]["job"]
    assert await _ended_job(first.client(), job["id"]) == "SUCCEEDED"
    own = (ftp_server.root / f"SEP{sim.mac}.cnf.xml").read_bytes()
    # The phone's Services button leads to the first process; the API is the second's.
    services_url = etree.fromstring(own).findtext("servicesURL")
    assert services_url == f"{first.url}/services/{key}/hotdesk?device=#DEVICENAME#"
    at_phone = CiscoServices(services_url, f"SEP{sim.mac}")
    api = second.client()

    # Wrong PINs at the phone (first process) and through the API (second) add up.
    for _ in range(3):
        assert "wrong PIN" in text_of(await at_phone.login("201", "0000"))
    for expected in ("INVALID", "LOCKED"):
        refused = (await api.data(LOGIN, {"mac": sim.mac, "ext": "201", "pin": "0000"}))
        assert refused["hotdeskLogin"]["userErrors"][0]["code"] == expected
    assert "locked" in text_of(await at_phone.login("201", "1234"))
    assert not await HotdeskSession.exists()
    sql = dialect_sql()
    await sql.rows(f"UPDATE hotdesk_lock SET locked_until = {sql.now}", [])

    # A login on one process; both sweep for expired sessions; it ends once.
    answer = await at_phone.login("201", "1234")
    assert "restarts" in text_of(answer)
    session = await HotdeskSession.get(open_user_id=alice.id)

    async def logged_out() -> bool:
        row = await HotdeskSession.get(id=session.id)
        if row.logout_job_id is None:  # type: ignore[attr-defined]
            return False
        job = await DeployJob.get(id=row.logout_job_id)  # type: ignore[attr-defined]
        return DeployJobStatus(job.status).is_final

    await _until(logged_out, what="the expiry's logout job")
    ended = await HotdeskSession.get(id=session.id)
    assert ended.end_reason == "EXPIRED"
    await asyncio.sleep(1.0)  # several more sweeps of both processes
    logouts = await DeployJob.filter(phone_id=phone.id, kind="HOTDESK_LOGOUT")
    assert [j.status for j in logouts] == [DeployJobStatus.SUCCEEDED]
    assert (ftp_server.root / f"SEP{sim.mac}.cnf.xml").read_bytes() == own


async def test_a_session_that_expired_while_no_server_ran_ends_when_one_starts(
    tmp_path: Path,
    ftp_server: FtpServerHandle,
    phone_sim_factory: PhoneSimFactory,
    servers: list[ServerProcess],  # noqa: F811
    database: Any,  # noqa: F811
    pg_migrated: str,
) -> None:
    await _truncate_pg(pg_migrated)
    env = _env(tmp_path, ftp_server, PHONEGRAPH_HOTDESK_TIMEOUT="4")
    first = ServerProcess(env, tmp_path / "first.log")
    servers.append(first)
    await first.start()
    await database(pg_migrated)
    sim = await phone_sim_factory("00AABBCC2101", config_fetch=ftp_fetch(ftp_server))
    _, alice, _ = await _world(first.client(), sim)
    login = (await first.client().data(LOGIN, {"mac": sim.mac, "ext": "201", "pin": None}))
    assert await _ended_job(first.client(), login["hotdeskLogin"]["job"]["id"]) == "SUCCEEDED"
    await first.stop()
    session = await HotdeskSession.get(open_user_id=alice.id)

    async def expired() -> bool:
        sql = dialect_sql()
        rows = await sql.rows(
            f"SELECT id FROM hotdesk_session WHERE id = $1 AND expires_at <= {sql.now}",
            [session.id],
        )
        return bool(rows)

    await _until(expired, what="the session's expiry")
    assert (await HotdeskSession.get(id=session.id)).ended_at is None  # nobody ran

    later = ServerProcess(env, tmp_path / "later.log")
    servers.append(later)
    await later.start()

    async def ended() -> HotdeskSession | None:
        row = await HotdeskSession.get(id=session.id)
        return row if row.end_reason else None

    row = await _until(ended, timeout=10, what="the session to end at start-up")
    assert row.end_reason == "EXPIRED" and row.logout_job_id is not None  # type: ignore[attr-defined]

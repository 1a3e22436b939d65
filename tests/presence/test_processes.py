"""Presence with real server processes sharing PostgreSQL and Redis: each phone is
probed once per interval in all, and a killed process's phones go on being probed."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.devices.models import Phone, PhoneModel, PhoneStatus
from tests.conftest import PG_URL, REDIS_URL, _truncate_pg
from tests.deploy.conftest import Subscription, eventually
from tests.deploy.test_processes import (  # noqa: F401  (fixtures: servers, database)
    TOKEN,
    ServerProcess,
    database,
    server_env,
    servers,
)
from tests.presence.conftest import STATUS
from tests.support.fixtures import PhoneSimFactory
from tests.support.phone_sim import PhoneSimulator

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not (PG_URL and REDIS_URL),
        reason="PHONEGRAPH_TEST_DATABASE_URL and PHONEGRAPH_TEST_REDIS_URL not both set",
    ),
]

INTERVAL = 1.0
PHONES = 6

ONLINE = "{ phones(first: 50) { nodes { mac online } } }"


def probes(sim: PhoneSimulator, since: float = 0.0) -> list[float]:
    return [e.at for e in sim.entries("OPTIONS") if e.at >= since]


def at_most_once_per_interval(times: list[float]) -> bool:
    """Probes spread over ``times`` came no more often than once per interval (one
    more allowed for a probe that ran late): a phone probed by both processes would get
    about twice as many."""
    if len(times) < 2:
        return True
    return len(times) - 1 <= (times[-1] - times[0]) / INTERVAL + 1


async def probes_sent(server: ServerProcess) -> float:
    async with httpx.AsyncClient() as http:
        response = await http.get(
            server.url + "/metrics", headers={"authorization": f"Bearer {TOKEN}"}
        )
    return sum(
        float(line.split()[-1])
        for line in response.text.splitlines()
        if re.match(r"phonegraph_presence_probes_total\{", line)
    )


async def test_two_processes_probe_each_phone_once_per_interval_and_survive_a_kill(
    tmp_path: Path,
    phone_sim_factory: PhoneSimFactory,
    servers: list[ServerProcess],  # noqa: F811
    database: Any,  # noqa: F811
    pg_migrated: str,
) -> None:
    await _truncate_pg(pg_migrated)
    env = server_env(
        tmp_path,
        pg_migrated,
        None,
        PHONEGRAPH_REDIS_URL=REDIS_URL or "",
        PHONEGRAPH_REDIS_CHANNEL=f"phonegraph-test:{tmp_path.name}:{secrets.token_hex(4)}",
        PHONEGRAPH_PRESENCE_INTERVAL=str(INTERVAL),
    )
    first = ServerProcess(env, tmp_path / "first.log")
    second = ServerProcess(env, tmp_path / "second.log")
    servers.extend([first, second])
    await first.start()  # one after the other: both migrate on start-up
    await second.start()
    await database(pg_migrated)
    model, _ = await PhoneModel.get_or_create(
        vendor="Cisco",
        name="8845",
        defaults={
            "line_count": 2,
            "software_types": ["SIP"],
            "config_filename_pattern": "SEP{MAC}.cnf.xml",
        },
    )
    sims = [await phone_sim_factory(f"00AABB0020{i:02X}") for i in range(PHONES)]

    # Changes found by one process reach a subscriber of the other (through Redis).
    async with Subscription(first.ws_url, TOKEN, STATUS, {"mac": None}) as sub:
        for sim in sims:
            await Phone.create(
                mac=sim.mac,
                status=PhoneStatus.ACTIVE,
                model=model,
                ip_address=sim.ip,
                sip_port=sim.sip_port,
            )
        found = set()
        while len(found) < PHONES:
            event = (await sub.next(30))["phoneStatusChanged"]
            assert event["online"] is True
            found.add(event["phone"]["mac"])

    # Each phone once per interval in all, both processes taking part.
    start = asyncio.get_running_loop().time()
    await eventually(
        lambda: all(len(probes(s, start)) >= 6 for s in sims), timeout=60, what="probes"
    )
    for sim in sims:
        assert at_most_once_per_interval(probes(sim, start)), probes(sim, start)
    assert await probes_sent(first) > 0
    assert await probes_sent(second) > 0

    # SIGKILL one: the other probes every phone from then on, still once per interval.
    await second.kill()
    killed = asyncio.get_running_loop().time()
    await eventually(
        lambda: all(len(probes(s, killed)) >= 6 for s in sims), timeout=60, what="takeover"
    )
    for sim in sims:
        # The first interval after the kill may hold a probe the dead process had sent.
        after = probes(sim, killed + INTERVAL)
        assert at_most_once_per_interval(after), after
    # A probe lost with the killed process is no outage.
    nodes = (await first.client().data(ONLINE))["phones"]["nodes"]
    assert sorted(n["mac"] for n in nodes if n["online"]) == sorted(
        ":".join(s.mac[i : i + 2] for i in range(0, 12, 2)) for s in sims
    )

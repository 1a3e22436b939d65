"""Bulk reprovisioning benchmark: 500 simulated phones, one aioftp server, the app.

Run with ``.venv/bin/python bench/reprovision_500.py [--phones N] [--concurrency C]``.

It first reprovisions one phone alone to measure one phone's job time, then asks
``phonesReprovision`` for all of them and prints the wall time against the ideal,
``ceil(N / C) × one phone's time``. The target is a ratio of at most 1.3.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import math
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.settings import Settings, use_settings  # noqa: E402

TOKEN = "bench-admin-token"


async def _graphql(http: httpx.AsyncClient, query: str, variables: dict | None = None) -> dict:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    body = response.json()
    if body.get("errors"):
        raise SystemExit(f"GraphQL errors: {body['errors']}")
    return body["data"]


async def _wait_for_jobs(ids: list[int], poll: float = 0.05) -> float:
    """Seconds until every job in ``ids`` has ended; fails on a job that did not succeed."""
    from app.deploy.models import DeployJob, DeployJobStatus

    start = time.perf_counter()
    while True:
        rows = await DeployJob.filter(id__in=ids).values("status", "error")
        open_jobs = [
            r for r in rows if r["status"] in (DeployJobStatus.QUEUED, DeployJobStatus.RUNNING)
        ]
        if not open_jobs:
            failed = [r for r in rows if r["status"] != DeployJobStatus.SUCCEEDED]
            if failed:
                raise SystemExit(f"{len(failed)} job(s) did not succeed, e.g. {failed[0]}")
            return time.perf_counter() - start
        await asyncio.sleep(poll)


async def main(phones: int, concurrency: int, reboot: float) -> None:
    from tortoise import Tortoise

    from app.core.ids import parse_global_id
    from app.db import migrate
    from app.devices.models import Phone, PhoneModel, PhoneStatus, PhoneTemplate
    from tests.conftest import start_server, stop_server
    from tests.support.ftp_server import run_ftp_server
    from tests.support.phone_sim import PhoneSimulator

    work = Path(tempfile.mkdtemp(prefix="phonegraph-bench-"))
    db_url = f"sqlite://{work / 'bench.sqlite3'}"
    await migrate(db_url)
    await Tortoise.close_connections()

    async with run_ftp_server(work / "tftp") as ftp:
        settings = Settings(
            data_dir=work / "data",
            database_url=db_url,
            bootstrap_token=TOKEN,
            secret_key="bench-secret",
            ftp_url=ftp.url,
            deploy_concurrency=concurrency,
            phone_timeout=60.0,
            # The simulated phones live on loopback (CONTRACT §12).
            phone_networks=(ipaddress.ip_network("127.0.0.0/8"),),
        )
        use_settings(settings)

        async def fetch(name: str) -> bytes | None:
            path = ftp.root / name
            return path.read_bytes() if path.exists() else None

        sims = []
        for i in range(phones):
            sim = PhoneSimulator(f"0A0B0C{i:06X}", config_fetch=fetch, reboot_seconds=reboot)
            await sim.start()
            sims.append(sim)

        server, task, url = await start_server(settings)
        try:
            async with httpx.AsyncClient(
                base_url=url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=120
            ) as http:
                company = await _graphql(
                    http, 'mutation { companyCreate(input: {name: "Bench"}) { company { id } } }'
                )
                company_pk = parse_global_id(company["companyCreate"]["company"]["id"])[1]  # type: ignore[index]
                model = await PhoneModel.get(vendor="Cisco", name="8845")
                template = await PhoneTemplate.create(
                    filename="bench-8845.cnf.xml",
                    content="<device><name>SEP{{ 1 }}</name></device>\n",
                    model=model,
                )
                await Phone.bulk_create(
                    [
                        Phone(
                            mac=sim.mac,
                            status=PhoneStatus.ACTIVE,
                            company_id=company_pk,
                            model_id=model.id,
                            template_id=template.id,
                            ip_address=sim.ip,
                            http_port=sim.http_port,
                            sip_port=sim.sip_port,
                        )
                        for sim in sims
                    ]
                )

                one = await _graphql(
                    http,
                    "mutation($mac: MacAddress!) { phoneReprovision(mac: $mac) { job { id } } }",
                    {"mac": sims[0].mac},
                )
                start = time.perf_counter()
                await _wait_for_jobs([parse_global_id(one["phoneReprovision"]["job"]["id"])[1]])  # type: ignore[index]
                single = time.perf_counter() - start
                await sims[0].wait_until_online()

                start = time.perf_counter()
                bulk = await _graphql(
                    http,
                    "mutation { phonesReprovision { jobCount jobs(first: 500) { nodes { id } } } }",
                )
                from app.deploy.models import DeployJob

                ids = [
                    j.id
                    for j in await DeployJob.filter(kind="REPROVISION")
                    .order_by("-id")
                    .limit(phones)
                ]
                await _wait_for_jobs(ids)
                wall = time.perf_counter() - start
        finally:
            await stop_server(server, task)
            for sim in sims:
                await sim.stop()

    count = bulk["phonesReprovision"]["jobCount"]
    ideal = math.ceil(count / concurrency) * single
    fetched = sum(1 for s in sims if s.fetched_configs)
    print(f"phones:                 {count} (reboot {reboot:g} s each)")
    print(f"phones that fetched:    {fetched}")
    print(f"concurrency:            {concurrency}")
    print(f"one phone's job:        {single:.2f} s")
    print(f"ideal ceil({count}/{concurrency}) x one: {ideal:.2f} s")
    print(f"wall time:              {wall:.2f} s")
    print(f"ratio:                  {wall / ideal:.2f} (target <= 1.3)")
    print(f"FTP logins:             {ftp.logins}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phones", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--reboot", type=float, default=1.0, help="seconds a phone takes to reboot")
    args = parser.parse_args()
    asyncio.run(main(args.phones, args.concurrency, args.reboot))

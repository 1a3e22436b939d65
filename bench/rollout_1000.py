"""Rollout benchmark: 1,000 simulated phones in batches of 100, one aioftp server, the app.

Run with ``.venv/bin/python bench/rollout_1000.py [--phones N] [--batch B] [--pause S]
[--kind reprovision|reboot]``.

It first runs one phone's job alone to measure one phone's time, then asks for a rollout
of every phone (``phonesReprovision`` or ``phonesReboot`` with ``rollout: {batchSize: B,
batchPauseSeconds: S}``), with ``PHONEGRAPH_DEPLOY_CONCURRENCY`` = B so a batch runs at
once, and prints the wall time until the rollout ended against the ideal,
``batches × one phone's time + (batches − 1) × pause``, and what each batch boundary
costs beyond it. Not run by ``make test``.
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
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.settings import Settings, use_settings  # noqa: E402

TOKEN = "bench-admin-token"

ONE = {
    "reprovision": "mutation($mac: MacAddress!) { phoneReprovision(mac: $mac) { job { id } } }",
    "reboot": "mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } } }",
}
ALL = {
    "reprovision": "phonesReprovision",
    "reboot": "phonesReboot",
}


async def _graphql(http: httpx.AsyncClient, query: str, variables: dict | None = None) -> dict:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    body = response.json()
    if body.get("errors"):
        raise SystemExit(f"GraphQL errors: {body['errors']}")
    return body["data"]


async def _job_ended(job_id: int, poll: float = 0.02) -> None:
    from app.deploy.models import DeployJob, DeployJobStatus

    while True:
        job = await DeployJob.get(id=job_id)
        if DeployJobStatus(job.status).is_final:
            if job.status != DeployJobStatus.SUCCEEDED:
                raise SystemExit(f"the single job did not succeed: {job.error}")
            return
        await asyncio.sleep(poll)


async def _rollout_ended(rollout_id: int, poll: float = 0.05) -> str:
    from app.deploy.models import Rollout, RolloutStatus

    while True:
        rollout = await Rollout.get(id=rollout_id)
        if RolloutStatus(rollout.status).is_final:
            return str(rollout.status)
        await asyncio.sleep(poll)


async def _batch_times(rollout_id: int, batch: int) -> tuple[list[float], list[float]]:
    """Per batch, seconds from its first job's start to its last job's end; between
    batches, seconds from one's last end to the next one's first start, beyond the pause."""
    from app.deploy.models import DeployJob, Rollout, RolloutPhone

    rollout = await Rollout.get(id=rollout_id)
    position = dict(
        await RolloutPhone.filter(rollout_id=rollout_id).values_list("phone_id", "position")
    )
    windows: dict[int, list[Any]] = {}
    for job in await DeployJob.filter(rollout_id=rollout_id).values(
        "phone_id", "started_at", "finished_at"
    ):
        k = position[job["phone_id"]] // batch
        window = windows.setdefault(k, [job["started_at"], job["finished_at"]])
        window[0] = min(window[0], job["started_at"])
        window[1] = max(window[1], job["finished_at"])
    ordered = [windows[k] for k in sorted(windows)]
    spans = [(end - begin).total_seconds() for begin, end in ordered]
    gaps = [
        (ordered[i + 1][0] - ordered[i][1]).total_seconds() - rollout.batch_pause_seconds
        for i in range(len(ordered) - 1)
    ]
    return spans, gaps


async def main(phones: int, batch: int, pause: int, kind: str, reboot: float) -> None:
    from tortoise import Tortoise

    from app.core.ids import parse_global_id
    from app.db import migrate
    from app.deploy.models import DeployJob, DeployJobStatus
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
            deploy_concurrency=batch,
            phone_timeout=60.0,
            # The simulated phones live on loopback (CONTRACT §12).
            phone_networks=(ipaddress.ip_network("127.0.0.0/8"),),
        )
        use_settings(settings)

        async def fetch(name: str) -> bytes | None:
            path = ftp.root / name
            return path.read_bytes() if path.exists() else None

        sims = []
        for i in range(phones + 1):  # one more: the single job is timed on a phone of its own
            sim = PhoneSimulator(f"0A0C0D{i:06X}", config_fetch=fetch, reboot_seconds=reboot)
            await sim.start()
            sims.append(sim)
        solo = sims[-1]

        server, task, url = await start_server(settings)
        try:
            async with httpx.AsyncClient(
                base_url=url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=300
            ) as http:
                company = await _graphql(
                    http, 'mutation { companyCreate(input: {name: "Bench"}) { company { id } } }'
                )
                company_pk = parse_global_id(company["companyCreate"]["company"]["id"])[1]  # type: ignore[index]
                other = await _graphql(
                    http, 'mutation { companyCreate(input: {name: "Solo"}) { company { id } } }'
                )
                other_pk = parse_global_id(other["companyCreate"]["company"]["id"])[1]  # type: ignore[index]
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
                            company_id=other_pk if sim is solo else company_pk,
                            model_id=model.id,
                            template_id=template.id,
                            ip_address=sim.ip,
                            http_port=sim.http_port,
                            sip_port=sim.sip_port,
                        )
                        for sim in sims
                    ]
                )

                one = await _graphql(http, ONE[kind], {"mac": solo.mac})
                job = next(iter(one.values()))["job"]["id"]
                start = time.perf_counter()
                await _job_ended(parse_global_id(job)[1])  # type: ignore[index]
                single = time.perf_counter() - start
                await solo.wait_until_online()

                start = time.perf_counter()
                field = ALL[kind]
                bulk = await _graphql(
                    http,
                    f"mutation($f: PhoneFilter, $r: RolloutInput) {{ {field}(filter: $f, "
                    "rollout: $r) { jobCount rollout { id batchCount } "
                    "userErrors { field message } } }",
                    {
                        "f": {"companyId": company["companyCreate"]["company"]["id"]},
                        "r": {"batchSize": batch, "batchPauseSeconds": pause},
                    },
                )
                queued_in = time.perf_counter() - start
                payload = bulk[field]
                if payload["userErrors"]:
                    raise SystemExit(f"refused: {payload['userErrors']}")
                rollout_pk = parse_global_id(payload["rollout"]["id"])[1]  # type: ignore[index]
                status = await _rollout_ended(rollout_pk)
                wall = time.perf_counter() - start
                succeeded = await DeployJob.filter(
                    rollout_id=rollout_pk, status=DeployJobStatus.SUCCEEDED
                ).count()
                spans, gaps = await _batch_times(rollout_pk, batch)
        finally:
            await stop_server(server, task)
            for sim in sims:
                await sim.stop()

    count = payload["jobCount"]
    batches = payload["rollout"]["batchCount"]
    assert batches == math.ceil(count / batch)
    ideal = batches * single + (batches - 1) * pause
    print(f"kind:                   {kind} (phones reboot in {reboot:g} s)")
    print(f"phones:                 {count}, rollout {status}, jobs succeeded {succeeded}")
    print(f"batches:                {batches} of {batch} (concurrency {batch}), pause {pause} s")
    print(f"first batch queued in:  {queued_in:.2f} s (the mutation's answer)")
    print(f"one phone's job:        {single:.2f} s")
    print(f"ideal {batches} x one + {batches - 1} x {pause}: {ideal:.2f} s")
    print(f"wall time:              {wall:.2f} s")
    print(f"ratio:                  {wall / ideal:.2f}")
    print(f"per batch beyond ideal: {(wall - ideal) / batches:.2f} s")
    print(
        f"a batch's jobs took:    {sum(spans) / len(spans):.2f} s on average "
        f"(first start to last end; max {max(spans):.2f} s)"
    )
    if gaps:
        print(
            f"between batches:        {sum(gaps) / len(gaps):.2f} s on average beyond the "
            f"pause (last end to next first start; max {max(gaps):.2f} s)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phones", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pause", type=int, default=1)
    parser.add_argument("--kind", choices=sorted(ONE), default="reprovision")
    parser.add_argument("--reboot", type=float, default=1.0, help="seconds a phone takes to reboot")
    args = parser.parse_args()
    asyncio.run(main(args.phones, args.batch, args.pause, args.kind, args.reboot))

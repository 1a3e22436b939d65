"""Claim throughput: deploy jobs started per second by 1, 2 and 3 server processes
sharing one PostgreSQL database.

Run with ``.venv/bin/python bench/claim_throughput.py --database-url postgres://…/db``
(the database is emptied first: give it one of its own). ``--redis-url`` adds Redis, as
in a real installation (each run uses a channel of its own).

Each round starts the processes (``python -m app serve``), queues ``--jobs`` REBOOT jobs
in one statement, one per phone, and waits until every job has ended. The phones have no
address, so a job is its claim, one fenced event (RESTARTING) and its fenced end (FAILED)
— what is measured is the queue: claiming with ``FOR UPDATE SKIP LOCKED``, leases and
fencing, not the phones. The rate is the number of jobs over the time between the first
and the last ``started_at``, both taken from the database's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

import asyncpg
from support import Server, dsn, fresh_database

TOKEN = "bench-claim-token"
KEPT_TABLES = ("aerich", "phone_model", "phone_template")


async def _empty(conn: asyncpg.Connection) -> None:
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND NOT (tablename = ANY($1::text[]))",
        list(KEPT_TABLES),
    )
    if tables:
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


async def _seed(url: str, phones: int) -> None:
    """A company and ``phones`` ACTIVE phones without an address."""
    from tortoise import Tortoise

    from app.core.models import Company
    from app.db import tortoise_config
    from app.devices.models import Phone, PhoneStatus

    await Tortoise.init(config=tortoise_config(url))
    try:
        company = await Company.create(
            name="Bench", provisioning_key_hash=secrets.token_hex(16), provisioning_key_enc="-"
        )
        await Phone.bulk_create(
            [
                Phone(mac=f"0B{n:010X}", status=PhoneStatus.ACTIVE, company_id=company.id)
                for n in range(phones)
            ],
            batch_size=1000,
        )
    finally:
        await Tortoise.close_connections()


async def one_round(
    url: str, redis_url: str | None, processes: int, jobs: int, concurrency: int, work: Path
) -> dict:
    conn = await asyncpg.connect(dsn(url))
    try:
        await _empty(conn)
    finally:
        await conn.close()
    await _seed(url, jobs)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONEGRAPH_")}
    env.update(
        PHONEGRAPH_DATABASE_URL=url,
        PHONEGRAPH_DATA_DIR=str(work / "data"),
        PHONEGRAPH_BOOTSTRAP_TOKEN=TOKEN,
        PHONEGRAPH_SECRET_KEY="bench-secret",
        PHONEGRAPH_DEPLOY_CONCURRENCY=str(concurrency),
        PHONEGRAPH_LOG_LEVEL="warning",
    )
    if redis_url:
        env["PHONEGRAPH_REDIS_URL"] = redis_url
        env["PHONEGRAPH_REDIS_CHANNEL"] = f"phonegraph-bench:{secrets.token_hex(6)}"
    servers = [Server(env, work / f"round{processes}-{n}.log") for n in range(processes)]
    try:
        for server in servers:
            await server.start()
        conn = await asyncpg.connect(dsn(url))
        try:
            queued_at = time.perf_counter()
            await conn.execute(
                "INSERT INTO deploy_job (kind, status, phone_id, company_id, cancel_requested, "
                "created_at, lease_epoch, restart_sent) "
                "SELECT 'REBOOT', 'QUEUED', id, company_id, FALSE, now(), 0, FALSE FROM phone"
            )
            while await conn.fetchval(
                "SELECT count(*) FROM deploy_job WHERE status IN ('QUEUED', 'RUNNING')"
            ):
                await asyncio.sleep(0.1)
            wall = time.perf_counter() - queued_at
            span = await conn.fetchrow(
                "SELECT count(*) AS n, min(started_at) AS first, max(started_at) AS last, "
                "count(*) FILTER (WHERE status <> 'FAILED') AS odd FROM deploy_job"
            )
            shares = await conn.fetch(
                "SELECT split_part(runner_id, ':', 2) AS pid, count(*) AS n FROM deploy_job "
                "GROUP BY 1 ORDER BY 2 DESC"
            )
        finally:
            await conn.close()
    finally:
        for server in servers:
            await server.stop()
    seconds = (span["last"] - span["first"]).total_seconds()
    return {
        "processes": processes,
        "jobs": span["n"],
        "unexpected": span["odd"],
        "seconds": seconds,
        "rate": span["n"] / seconds if seconds > 0 else float("inf"),
        "wall": wall,
        "shares": [row["n"] for row in shares],
    }


async def main(url: str, redis_url: str | None, jobs: int, concurrency: int, rounds: int) -> None:
    await fresh_database(url)

    work = Path(tempfile.mkdtemp(prefix="phonegraph-claims-"))
    print(
        f"{jobs} jobs per round, PHONEGRAPH_DEPLOY_CONCURRENCY={concurrency}, "
        f"{os.cpu_count()} CPUs, Redis {'on' if redis_url else 'off'}"
    )
    print(
        f"{'processes':>9}  {'jobs':>5}  {'first→last start':>16}  {'started/s':>9}  "
        f"{'queue drained':>13}  jobs per process"
    )
    for processes in (1, 2, 3):
        for _ in range(rounds):
            r = await one_round(url, redis_url, processes, jobs, concurrency, work)
            note = f"  ({r['unexpected']} did not fail as expected)" if r["unexpected"] else ""
            print(
                f"{r['processes']:>9}  {r['jobs']:>5}  {r['seconds']:>14.2f} s  "
                f"{r['rate']:>9.0f}  {r['wall']:>11.2f} s  {r['shares']}{note}"
            )
    print(f"server logs: {work}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True, help="postgres://… (emptied!)")
    parser.add_argument("--redis-url")
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="rounds per process count")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("the benchmark is for PostgreSQL")
    asyncio.run(main(args.database_url, args.redis_url, args.jobs, args.concurrency, args.rounds))

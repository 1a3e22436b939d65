"""The GraphQL layer against a hand-written endpoint, and 1,000 subscribers.

Run by ``make bench`` (or ``.venv/bin/python bench/graphql_vs_handwritten.py
--database-url postgres://…/db``; the database is created if missing and emptied: give
it one of its own). It seeds 10,000 phones (16,660 lines) in 20 companies, 20,000 SIP
users and 500 groups, then starts one PhoneGraph process (``python -m app serve``) and
one process of the yardstick (``bench/handwritten_app.py``: the same JSON written by
hand with Starlette + Tortoise), and for each query below drives each server in turn
(A, B, A, B, …) with ``--concurrency`` clients for ``--seconds`` a round. It checks
that both return the same JSON, then prints requests/s, p50/p99 latency and the CPU
the server process used per request, and the ratio PhoneGraph / hand-written.

Last, ``--subscribers`` websocket clients (graphql-transport-ws) subscribe to
``phoneEvents`` with ``job { status kind phone { mac } }``; ``--jobs`` reboots of
phones without an address each send their events to every subscriber. It prints the
delivery latency (the event's time to its arrival at a client) p50/p99 and the server's
RSS growth per delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import websockets
from support import ROOT, Server, cpu_seconds, fresh_database, rss_bytes

TOKEN = "bench-graphql-token"
COMPANIES = 20
PHONES = 10_000
TWO_LINE_PHONES = 6_660  # 16,660 lines in all
USERS = 20_000
GROUPS = 500
GROUPS_PER_USER = 2

QUERIES = {
    "nested": (
        "phones(first:100){nodes{mac name model{name} lines{sipUser{username groups{groupName}}}}}",
        "{ phones(first: 100) { nodes { mac name model { name } "
        "lines { sipUser { username groups { groupName } } } } } }",
        100,
    ),
    "flat": (
        "phones(first:100){nodes{mac name}}",
        "{ phones(first: 100) { nodes { mac name } } }",
        100,
    ),
    "companies": (
        "companies(first:20){nodes{name phones(first:10){nodes{mac name}}}}",
        "{ companies(first: 20) { nodes { name phones(first: 10) { nodes { mac name } } } } }",
        10,
    ),
}

SUBSCRIPTION = (
    "subscription { phoneEvents { step message at job { status kind phone { mac } } } }"
)


async def seed(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    from tortoise import Tortoise

    from app.core.models import Company
    from app.db import tortoise_config
    from app.devices.models import Phone, PhoneLine, PhoneModel, PhoneStatus
    from app.pbx.models import SipDomain, SipGroup, SipGroupMember, SipUser

    await Tortoise.init(config=tortoise_config(url))
    try:
        model = await PhoneModel.filter(line_count__gte=2, is_dect=False).first()
        companies = [
            await Company.create(
                name=f"Company {c:02d}", provisioning_key_hash=f"bench{c}", provisioning_key_enc="-"
            )
            for c in range(COMPANIES)
        ]
        domains = [
            await SipDomain.create(
                company_id=co.id, name=f"c{n}.bench.example", display_name=co.name
            )
            for n, co in enumerate(companies)
        ]
        users_per, groups_per = USERS // COMPANIES, GROUPS // COMPANIES
        await SipUser.bulk_create(
            [
                SipUser(
                    domain_id=d.id,
                    username=f"user{n:05d}",
                    display_name=f"User {n}",
                    extension_number=str(10000 + n),
                )
                for d in domains
                for n in range(users_per)
            ],
            batch_size=2000,
        )
        await SipGroup.bulk_create(
            [
                SipGroup(
                    domain_id=d.id,
                    group_name=f"group{n:03d}",
                    display_name=f"Group {n}",
                    extension_number=str(500 + n),
                )
                for d in domains
                for n in range(groups_per)
            ],
            batch_size=2000,
        )
        users = await SipUser.all().order_by("id").values_list("id", "domain_id")
        groups: dict[int, list[int]] = {}
        for gid, did in await SipGroup.all().order_by("id").values_list("id", "domain_id"):
            groups.setdefault(did, []).append(gid)
        await SipGroupMember.bulk_create(
            [
                SipGroupMember(group_id=groups[did][(uid + k * 7) % groups_per], user_id=uid)
                for uid, did in users
                for k in range(GROUPS_PER_USER)
            ],
            batch_size=5000,
        )
        phones_per = PHONES // COMPANIES
        await Phone.bulk_create(
            [
                Phone(
                    mac=f"0B{c:02X}{n:08X}",
                    name=f"Desk {c}-{n}",
                    status=PhoneStatus.ACTIVE,
                    company_id=co.id,
                    model_id=model.id if model else None,
                )
                for c, co in enumerate(companies)
                for n in range(phones_per)
            ],
            batch_size=2000,
        )
        user_ids_of: dict[int, list[int]] = {}
        for uid, did in users:
            user_ids_of.setdefault(did, []).append(uid)
        domain_of = {d.company_id: d.id for d in domains}
        phones = await Phone.all().order_by("id").values_list("id", "company_id")
        lines = []
        for n, (pid, cid) in enumerate(phones):
            pool = user_ids_of[domain_of[cid]]
            lines.append(PhoneLine(phone_id=pid, port=1, sip_user_id=pool[n % len(pool)]))
            if n < TWO_LINE_PHONES:
                lines.append(
                    PhoneLine(phone_id=pid, port=2, sip_user_id=pool[(n * 3 + 1) % len(pool)])
                )
        await PhoneLine.bulk_create(lines, batch_size=5000)
    finally:
        await Tortoise.close_connections()


def _summary(latencies: list[float], requests: int, seconds: float, cpu: float) -> dict:
    latencies.sort()
    return {
        "rps": requests / seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "cpu": cpu / requests * 1000,
    }


async def drive(
    server: Server, send, concurrency: int, seconds: float
) -> tuple[list[float], int, float, float]:
    """``concurrency`` clients sending requests for ``seconds``: latencies, count, wall
    time and the server's CPU seconds meanwhile."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                response = await send(http)
                latencies.append(time.perf_counter() - t0)
                response.raise_for_status()

    cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, len(latencies), time.perf_counter() - t0, cpu_seconds(server.pid) - cpu0


async def compare(
    graphql: Server, yardstick: Server, concurrency: int, seconds: float, rounds: int
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    print(
        f"\n{'request':<72} {'PhoneGraph':>26}   {'hand-written':>26}   ratio\n"
        f"{'':<72} {'req/s  p50  p99 ms  CPU ms':>26}   {'req/s  p50  p99 ms  CPU ms':>26}"
    )
    for name, (label, document, first) in QUERIES.items():

        async def ask_graphql(http: httpx.AsyncClient, document: str = document) -> httpx.Response:
            return await http.post("/graphql", json={"query": document}, headers=headers)

        async def ask_yardstick(
            http: httpx.AsyncClient, name: str = name, first: int = first
        ) -> httpx.Response:
            return await http.post("/", json={"query": name, "first": first})

        async with httpx.AsyncClient(timeout=60) as http:
            a = (
                await http.post(graphql.url + "/graphql", json={"query": document}, headers=headers)
            ).json()
            b = (await http.post(yardstick.url + "/", json={"query": name, "first": first})).json()
        if a != b:
            raise SystemExit(f"{name}: the two servers answer differently:\n{a}\n{b}")
        for server, send in ((graphql, ask_graphql), (yardstick, ask_yardstick)):
            await drive(server, send, concurrency, min(seconds, 2.0))  # warm up
        totals = {"graphql": [[], 0, 0.0, 0.0], "yardstick": [[], 0, 0.0, 0.0]}
        for _ in range(rounds):
            for key, server, send in (
                ("graphql", graphql, ask_graphql),
                ("yardstick", yardstick, ask_yardstick),
            ):
                lat, n, wall, cpu = await drive(server, send, concurrency, seconds)
                total = totals[key]
                total[0] += lat
                total[1] += n
                total[2] += wall
                total[3] += cpu
        g, y = (_summary(*totals[k]) for k in ("graphql", "yardstick"))
        print(
            f"{label:<72} {g['rps']:>6.1f} {g['p50']:>4.0f} {g['p99']:>4.0f} {g['cpu']:>10.1f}"
            f"   {y['rps']:>6.1f} {y['p50']:>4.0f} {y['p99']:>4.0f} {y['cpu']:>10.1f}"
            f"   {g['rps'] / y['rps']:.2f}×"
        )


async def _graphql(http: httpx.AsyncClient, query: str) -> dict:
    response = await http.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise SystemExit(f"{query}: {body['errors']}")
    return body["data"]


async def subscribers(graphql: Server, count: int, jobs: int) -> None:
    ws_url = graphql.url.replace("http://", "ws://") + "/graphql"
    arrivals: list[float] = []
    subscribed = [0]
    all_subscribed = asyncio.Event()

    async def subscriber(n: int) -> None:
        async with websockets.connect(
            ws_url, subprotocols=["graphql-transport-ws"], max_queue=None, open_timeout=120
        ) as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {TOKEN}"}}
                )
            )
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                raise SystemExit(f"subscriber {n}: {ack}")
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
            )
            subscribed[0] += 1
            if subscribed[0] == count:
                all_subscribed.set()
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "next":
                    at = message["payload"]["data"]["phoneEvents"]["at"]
                    arrivals.append(time.time() - datetime.fromisoformat(at).timestamp())
                elif message.get("type") in ("error", "complete"):
                    raise SystemExit(f"subscriber {n}: {message}")

    tasks = [asyncio.create_task(subscriber(n)) for n in range(count)]
    await asyncio.wait_for(all_subscribed.wait(), 300)
    async with httpx.AsyncClient(base_url=graphql.url, timeout=60) as http:
        # One event through to every subscriber first: each subscription has reached
        # the event bus before the measured jobs start.
        page = await _graphql(http, f"{{ phones(first: {jobs + 1}) {{ nodes {{ mac }} }} }}")
        macs = [n["mac"] for n in page["phones"]["nodes"]]
        await _graphql(http, f'mutation {{ phoneReboot(mac: "{macs.pop()}") {{ job {{ id }} }} }}')
        deadline = time.monotonic() + 120
        while len(arrivals) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)
        arrivals.clear()
        rss0 = rss_bytes(graphql.pid)
        t0 = time.perf_counter()
        ids = [
            (await _graphql(http, f'mutation {{ phoneReboot(mac: "{mac}") {{ job {{ id }} }} }}'))[
                "phoneReboot"
            ]["job"]["id"]
            for mac in macs
        ]
        events = 0
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            nodes = (
                await _graphql(
                    http,
                    f"{{ nodes(ids: {json.dumps(ids)}) "
                    "{ ... on DeployJob { status events { step } } } }",
                )
            )["nodes"]
            if all(n["status"] not in ("QUEUED", "RUNNING") for n in nodes):
                events = sum(len(n["events"]) for n in nodes)
                break
            await asyncio.sleep(0.2)
        while len(arrivals) < count * events and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        wall = time.perf_counter() - t0
        rss1 = rss_bytes(graphql.pid)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if not arrivals:
        raise SystemExit("no event arrived")
    missing = count * events - len(arrivals)
    arrivals.sort()
    p50 = statistics.median(arrivals) * 1000
    p99 = arrivals[int(len(arrivals) * 0.99)] * 1000
    print(
        f"\n{count} subscribers on phoneEvents {{ job {{ status kind phone {{ mac }} }} }}, "
        f"{len(ids)} jobs, {events} events: {len(arrivals)} deliveries in {wall:.1f} s"
        f"{f' ({missing} missing)' if missing else ''}; latency p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms; server RSS {rss0 / 2**20:.0f} → {rss1 / 2**20:.0f} MB "
        f"({(rss1 - rss0) / len(arrivals):+.0f} B per delivery)"
    )


async def main(args: argparse.Namespace) -> None:
    await fresh_database(args.database_url)
    t0 = time.perf_counter()
    await seed(args.database_url)
    print(
        f"seeded {PHONES} phones (16,660 lines), {USERS} SIP users, {GROUPS} groups in "
        f"{time.perf_counter() - t0:.0f} s; {os.cpu_count()} CPUs, concurrency "
        f"{args.concurrency}, {args.rounds} rounds of {args.seconds:g} s each, alternating"
    )
    work = Path(tempfile.mkdtemp(prefix="phonegraph-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONEGRAPH_")}
    env.update(
        PHONEGRAPH_DATABASE_URL=args.database_url,
        PHONEGRAPH_DATA_DIR=str(work / "data"),
        PHONEGRAPH_BOOTSTRAP_TOKEN=TOKEN,
        PHONEGRAPH_SECRET_KEY="bench-secret",
        PHONEGRAPH_LOG_LEVEL="warning",
        PYTHONPATH=str(ROOT),
    )
    graphql = Server(env, work / "phonegraph.log")
    yardstick = Server(
        env,
        work / "handwritten.log",
        argv=(
            "-m", "uvicorn", "bench.handwritten_app:app", "--port", "{port}",
            "--log-level", "warning", "--no-access-log",
        ),
    )
    try:
        await graphql.start()
        await yardstick.start()
        if args.rounds:
            await compare(graphql, yardstick, args.concurrency, args.seconds, args.rounds)
        await yardstick.stop()
        if args.subscribers:
            await subscribers(graphql, args.subscribers, args.jobs)
    finally:
        await yardstick.stop()
        await graphql.stop()
    print(f"server logs: {work}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PHONEGRAPH_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_graphql"
        ),
        help="postgres://… (created if missing, emptied!)",
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds per server and query (0: none)"
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=20, help="jobs whose events they get")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("the benchmark is for PostgreSQL")
    asyncio.run(main(args))

"""Presence at scale: 10,000 simulated phones probed by one server process.

Run with ``.venv/bin/python bench/presence_10000.py`` (SQLite in a temporary folder), or
``--database-url postgres://…/db`` (the database is emptied first: give it one of its
own). ``--phones``, ``--interval`` (seconds, default 60) and ``--intervals`` (how many
intervals are measured, default 2) change the run.

The phones share one UDP responder: each has an address of its own on loopback
(``127.1.x.y``, one port for all), and one socket bound to every address answers every
OPTIONS ``200 OK``, telling the phones apart by the request URI. The server is a real
``python -m app serve`` with ``PHONEGRAPH_PRESENCE_INTERVAL``; what is reported:

- probes per second sustained (OPTIONS the responder received over the measured
  intervals, after every phone was probed once);
- the server process's CPU time over those intervals (user + system, from /proc), as a
  share of one core;
- how late probes went out against their schedule: p50/p99 of the server's own
  ``phonegraph_presence_probe_lateness_seconds`` histogram (interpolated in its
  buckets), and, seen from the phones, p50/p99 of how far each phone's gap between two
  probes was from the interval.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.phone_sim import _response, parse_request  # noqa: E402

TOKEN = "bench-presence-token"
KEPT_TABLES = ("aerich", "phone_model", "phone_template")
_URI_HOST = re.compile(r"^sip:(?:[^@]*@)?([0-9.]+):\d+")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def phone_address(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


class Responder(asyncio.DatagramProtocol):
    """Every phone at once: answers each OPTIONS 200 and notes when it came."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.transport: Any = None
        self.total = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        request = parse_request(data, (str(addr[0]), int(addr[1])))
        if request is None or request.method != "OPTIONS":
            return
        found = _URI_HOST.match(request.uri)
        if found:
            self.arrivals[found.group(1)].append(time.monotonic())
            self.total += 1
        self.transport.sendto(_response(request, 200, "bench"), addr)


async def _prepare_database(url: str, phones: int, sip_port: int) -> None:
    """Migrate, empty (PostgreSQL) and add ``phones`` ACTIVE phones on loopback."""
    from tortoise import Tortoise

    from app.db import migrate, tortoise_config

    await migrate(url)
    await Tortoise.close_connections()
    await Tortoise.init(config=tortoise_config(url))
    try:
        from app.devices.models import Phone, PhoneStatus

        if url.startswith("postgres"):
            conn = Tortoise.get_connection("default")
            rows = await conn.execute_query_dict(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
            names = [r["tablename"] for r in rows if r["tablename"] not in KEPT_TABLES]
            if names:
                joined = ", ".join(f'"{n}"' for n in names)
                await conn.execute_script(f"TRUNCATE {joined} RESTART IDENTITY CASCADE")
        batch = [
            Phone(
                mac=f"0B{i:010X}",
                status=PhoneStatus.ACTIVE,
                ip_address=phone_address(i),
                sip_port=sip_port,
            )
            for i in range(phones)
        ]
        await Phone.bulk_create(batch, batch_size=1000)
    finally:
        await Tortoise.close_connections()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


async def _lateness(url: str) -> tuple[float, float, int]:
    """p50 and p99 (seconds) of the server's probe lateness histogram, and its count."""
    async with httpx.AsyncClient() as http:
        text = (
            await http.get(url + "/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        ).text
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        found = re.match(
            r'phonegraph_presence_probe_lateness_seconds_bucket\{le="([^"]+)"\} (\S+)', line
        )
        if found:
            buckets.append((float(found.group(1)), float(found.group(2))))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0

    def quantile(q: float) -> float:
        rank = q * total
        low_bound, low_count = 0.0, 0.0
        for bound, count in buckets:
            if count >= rank:
                if bound == float("inf"):
                    return low_bound
                share = (rank - low_count) / (count - low_count) if count > low_count else 0.0
                return low_bound + (bound - low_bound) * share
            low_bound, low_count = bound, count
        return low_bound

    return quantile(0.5), quantile(0.99), int(total)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="presence-bench-"))
    url = args.database_url or f"sqlite://{work / 'phonegraph.sqlite3'}"
    loop = asyncio.get_running_loop()
    # Bound to every address: it receives what is sent to any 127.1.x.y.
    transport, responder = await loop.create_datagram_endpoint(
        Responder, local_addr=("0.0.0.0", 0)
    )
    sip_port = int(transport.get_extra_info("sockname")[1])
    print(f"seeding {args.phones} phones into {url.split('@')[-1]} …", flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONEGRAPH_")}
    env.update(
        PHONEGRAPH_DATABASE_URL=url,
        PHONEGRAPH_DATA_DIR=str(work / "data"),
        PHONEGRAPH_BOOTSTRAP_TOKEN=TOKEN,
        PHONEGRAPH_SECRET_KEY="bench-secret",
        PHONEGRAPH_LOG_LEVEL="warning",
        PHONEGRAPH_PHONE_NETWORKS="127.0.0.0/8",
        PHONEGRAPH_PRESENCE_INTERVAL=str(args.interval),
        PHONEGRAPH_PRESENCE_CONCURRENCY=str(args.concurrency),
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("PHONEGRAPH_")})
    await _prepare_database(url, args.phones, sip_port)
    port = _free_port()
    env["PHONEGRAPH_PORT"] = str(port)
    base = f"http://127.0.0.1:{port}"
    log = (work / "server.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "serve", cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                try:
                    if (await http.get(base + "/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        print("server up; waiting until every phone was probed once …", flush=True)
        # The first interval: each phone's first probe, spread over it.
        deadline = time.monotonic() + args.interval * 2 + 30
        while len(responder.arrivals) < args.phones and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        print(f"{len(responder.arrivals)} phones probed; measuring {args.intervals} interval(s)")
        start, cpu_start, count_start = time.monotonic(), _cpu_seconds(proc.pid), responder.total
        await asyncio.sleep(args.interval * args.intervals)
        wall = time.monotonic() - start
        cpu = _cpu_seconds(proc.pid) - cpu_start
        received = responder.total - count_start
        p50, p99, observed = await _lateness(base)
        gaps = [
            abs((b - a) - args.interval)
            for times in responder.arrivals.values()
            for a, b in zip(times, times[1:], strict=False)
            if a >= start
        ]
        window = [
            [t for t in times if start <= t < start + wall] for times in responder.arrivals.values()
        ]
        counts = [len(times) for times in window]
        per_interval = statistics.mean(counts) / args.intervals
        lines = [
            f"phones: {args.phones}, interval {args.interval:g} s, "
            f"concurrency {args.concurrency}, database {url.split(':')[0]}",
            f"probes per second sustained: {received / wall:.1f} "
            f"(the schedule asks for {args.phones / args.interval:.1f})",
            f"probes per phone per interval: mean {per_interval:.3f}, "
            f"most {max(counts)} in {args.intervals} interval(s)",
            f"server CPU: {cpu:.1f} s over {wall:.0f} s = {100 * cpu / wall:.1f} % of one core",
            f"lateness vs schedule (server histogram, {observed} probes): "
            f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms",
            "a phone's gap between two probes minus the interval (at the phones): "
            f"p50 {_percentile(gaps, 0.5) * 1000:.1f} ms, "
            f"p99 {_percentile(gaps, 0.99) * 1000:.1f} ms",
        ]
        print("\n" + "\n".join(lines))
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
        transport.close()
        log.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--phones", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--intervals", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=200)
    asyncio.run(main(parser.parse_args()))

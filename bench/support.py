"""What the benchmarks share: free ports, a server process to start and stop, PostgreSQL
set-up, and the CPU time a process has used."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dsn(url: str) -> str:
    """A Tortoise ``postgres://`` URL as asyncpg takes it."""
    return url.replace("postgres://", "postgresql://", 1)


async def fresh_database(url: str) -> None:
    """Create the database ``url`` names if it is missing, then empty it and apply the
    migrations (the benchmarks own their database: give them one of their own)."""
    base, _, name = dsn(url).rpartition("/")
    try:
        conn = await asyncpg.connect(dsn(url))
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(f"{base}/postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(dsn(url))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    sys.path.insert(0, str(ROOT))
    from tortoise import Tortoise

    from app.db import migrate

    await migrate(url)
    await Tortoise.close_connections()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class Server:
    """A server process (``python -m app serve`` unless ``argv`` says otherwise) on a
    port of its own, ready once ``/healthz`` (or ``ready_path``) answers 200."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        argv: Sequence[str] = ("-m", "app", "serve"),
        ready_path: str = "/healthz",
    ) -> None:
        self.port = free_port()
        self.env = {**env, "PHONEGRAPH_PORT": str(self.port)}
        self.log = log
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.ready_path = ready_path
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=out
            )
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise SystemExit(f"server exited: {self.log.read_text()[-2000:]}")
                try:
                    if (await http.get(self.url + self.ready_path)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise SystemExit("server did not start")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

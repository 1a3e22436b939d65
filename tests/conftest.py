"""Shared fixtures: a real server on loopback per test, over SQLite (always) and
PostgreSQL (when PHONEGRAPH_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import uvicorn
from tortoise import Tortoise

from app.settings import Settings, use_settings

ADMIN_TOKEN = "test-bootstrap-admin-token"
# With pytest-xdist (``make test`` runs the suite on every CPU), each worker gets a
# database of its own next to the one named: <name>_gw0, <name>_gw1, ... (created when
# missing). Redis is shared: tests that use it take channels of their own.
_PG_BASE_URL = os.environ.get("PHONEGRAPH_TEST_DATABASE_URL")
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
PG_URL = (
    urlunsplit(urlsplit(_PG_BASE_URL)._replace(path=f"{urlsplit(_PG_BASE_URL).path}_{_WORKER}"))
    if _PG_BASE_URL and _WORKER
    else _PG_BASE_URL
)
REDIS_URL = os.environ.get("PHONEGRAPH_TEST_REDIS_URL")

# The simulated phones live on loopback; the other networks are the documentation and
# private ranges tests give phones that are never contacted (CONTRACT §12). Server
# processes the tests start get the same through the environment.
TEST_PHONE_NETWORKS = "127.0.0.0/8,::1/128,10.0.0.0/8,192.0.2.0/24,2001:db8::/32"
os.environ.setdefault("PHONEGRAPH_PHONE_NETWORKS", TEST_PHONE_NETWORKS)


def phone_networks_for_tests() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n) for n in TEST_PHONE_NETWORKS.split(","))


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=pytest.mark.skipif(not PG_URL, reason="PHONEGRAPH_TEST_DATABASE_URL not set"),
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for every test (migrating once is enough)."""

    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(_migrate_and_close(f"sqlite://{path}"))
    return path


def forget_dialect() -> None:
    """Tortoise caches SQL per table name, not per dialect; tests switch dialects."""
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    EXECUTOR_CACHE.clear()


async def _migrate_and_close(url: str) -> list[str]:
    from app.db import migrate

    forget_dialect()
    try:
        return await migrate(url)
    finally:
        await Tortoise.close_connections()


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    """The test PostgreSQL database, emptied and migrated once per session."""
    assert PG_URL
    asyncio.run(_create_worker_database())
    asyncio.run(_reset_pg(PG_URL))
    asyncio.run(_migrate_and_close(PG_URL))
    return PG_URL


async def _create_worker_database() -> None:
    """This worker's database, created through the one named (see PG_URL)."""
    import asyncpg

    if PG_URL == _PG_BASE_URL or not _PG_BASE_URL:
        return
    name = urlsplit(PG_URL).path.lstrip("/")
    conn = await asyncpg.connect(_PG_BASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _reset_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


# The catalogue (phone models and built-in templates) is data the migrations ship:
# kept between tests, while every other row goes.
KEPT_TABLES = ("aerich", "phone_model", "phone_template")


async def _truncate_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        # Kept tables referencing company (custom templates) would be emptied by a
        # TRUNCATE ... CASCADE of it: companies are deleted row by row instead.
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' "
            "AND NOT (tablename = ANY($1::text[]))",
            [*KEPT_TABLES, "company"],
        )
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        async with conn.transaction():
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            await conn.execute("DELETE FROM phone_template WHERE is_custom")
            await conn.execute("DELETE FROM company")
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('company', 'id'), 1, false)"
            )
    finally:
        await conn.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "phonegraph.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite://{path}"
    url = request.getfixturevalue("pg_migrated")
    return url


# ---------------------------------------------------------------- settings and server


@pytest.fixture
async def settings(database_url: str, tmp_path: Path) -> AsyncIterator[Settings]:
    if database_url.startswith("postgres"):
        await _truncate_pg(database_url)
    forget_dialect()
    s = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        bootstrap_token=ADMIN_TOKEN,
        secret_key="test-secret-key",
        deploy_concurrency=4,
        phone_timeout=10.0,
        # A test that ends with a job still running must not wait long for it.
        shutdown_grace=3.0,
        phone_networks=phone_networks_for_tests(),
        # Presence probes (OPTIONS every interval) would add to what the simulated
        # phones log; tests of presence turn it on with an interval of their own.
        presence_interval=0.0,
    )
    use_settings(s)
    yield s
    use_settings(None)


@dataclass
class LiveServer:
    url: str
    settings: Settings
    server: uvicorn.Server
    clients: list[GraphQLClient] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def client(self, token: str | None = ADMIN_TOKEN) -> GraphQLClient:
        return GraphQLClient(self.url, token)


async def start_server(settings: Settings) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    from app.web import create_app, server_options

    use_settings(settings)
    port = free_port()
    config = uvicorn.Config(
        create_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        **server_options(settings),  # as `serve` has them (proxy headers off, ...)
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("server did not start")
    return server, task, f"http://127.0.0.1:{port}"


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    try:
        await asyncio.wait_for(task, timeout=15)
    except TimeoutError:
        server.force_exit = True
        task.cancel()


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """The whole application, served by uvicorn on a free loopback port."""
    server, task, url = await start_server(settings)
    try:
        yield LiveServer(url=url, settings=settings, server=server)
    finally:
        await stop_server(server, task)


# ---------------------------------------------------------------- GraphQL client


class GraphQLError(AssertionError):
    pass


class GraphQLClient:
    """A tiny GraphQL-over-HTTP client for tests."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.token = token

    def with_token(self, token: str | None) -> GraphQLClient:
        return GraphQLClient(self.base_url, token)

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as client:
            return await client.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole response body (``data`` and ``errors``)."""
        response = await self.post(query, variables)
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """``data``, failing the test on any top-level error."""
        body = await self.execute(query, variables)
        if body.get("errors"):
            raise GraphQLError(f"unexpected errors: {body['errors']}")
        return body["data"]

    async def mutate(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        """The payload of a one-field mutation, failing on userErrors."""
        data = await self.data(query, variables)
        payload = data[key] if key else next(iter(data.values()))
        if payload.get("userErrors"):
            raise GraphQLError(f"unexpected userErrors: {payload['userErrors']}")
        return payload


@pytest.fixture
def admin(live_server: LiveServer) -> GraphQLClient:
    """A SYSTEM_ADMIN client (the bootstrap token)."""
    return live_server.client()


@pytest.fixture
def anonymous(live_server: LiveServer) -> GraphQLClient:
    return live_server.client(None)


# ---------------------------------------------------------------- common objects

CREATE_COMPANY = """
mutation($name: String!) { companyCreate(input: {name: $name}) {
  company { id name } userErrors { field code message } } }
"""
CREATE_TOKEN = """
mutation($input: ApiTokenInput!) { apiTokenCreate(input: $input) {
  token apiToken { id name role } userErrors { field code message } } }
"""


async def create_company(client: GraphQLClient, name: str) -> str:
    payload = await client.mutate(CREATE_COMPANY, {"name": name})
    return payload["company"]["id"]


async def create_token(
    client: GraphQLClient,
    role: str,
    *,
    company_id: str | None = None,
    sip_user_id: str | None = None,
    name: str = "test",
) -> str:
    payload = await client.mutate(
        CREATE_TOKEN,
        {
            "input": {
                "name": name,
                "role": role,
                "companyId": company_id,
                "sipUserId": sip_user_id,
            }
        },
    )
    return payload["token"]


@dataclass
class Tenant:
    """A company with a COMPANY_ADMIN client."""

    company_id: str
    client: GraphQLClient


@pytest.fixture
async def tenant_factory(admin: GraphQLClient, live_server: LiveServer):  # type: ignore[no-untyped-def]
    async def make(name: str) -> Tenant:
        company_id = await create_company(admin, name)
        token = await create_token(admin, "COMPANY_ADMIN", company_id=company_id, name=name)
        return Tenant(company_id, live_server.client(token))

    return make


# ---------------------------------------------------------------- SQL query counting


class QueryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The server runs in this process: its background work (the deploy runner polling
        # the queue every second, the hot-desk expiry sweep, webhook deliveries, presence
        # probes, the rollout worker, audit retention) is not the request being measured.
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        if task is not None and task.get_name().startswith(
            ("deploy-", "hotdesk-", "webhooks-", "presence-", "rollout-", "audit-")
        ):
            return
        self.statements.append(record.getMessage())

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries() -> Iterator[QueryCounter]:
    """Counts the SQL statements Tortoise sends (the server runs in this process)."""
    logger = logging.getLogger("tortoise.db_client")
    counter = QueryCounter()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(old_level)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop SQLite worker threads still open at the end (a connection opened from a test's
    own context outlives the server that closed its own); the interpreter would otherwise
    wait for those non-daemon threads forever."""
    import gc

    import aiosqlite

    for obj in gc.get_objects():
        try:
            if isinstance(obj, aiosqlite.Connection) and getattr(obj, "_running", False):
                obj.stop()
        except ReferenceError:  # a dead weak proxy
            continue

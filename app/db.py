"""Tortoise configuration (also read by aerich) and the migration runner."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.settings import get_settings

MODEL_MODULES = [
    "app.core.models",
    "app.pbx.models",
    "app.devices.models",
    "app.profiles.models",
    "app.deploy.models",
    "app.hotdesk.models",
    "app.webhooks.models",
    "app.presence.models",
    "aerich.models",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# The SQLite the deploy queue's SQL needs: RETURNING (3.35) and UPDATE ... FROM (3.33).
SQLITE_MINIMUM = (3, 35, 0)


async def _settled(step: asyncio.Future[object]) -> bool:
    """Wait for ``step`` to end, whatever cancellations arrive meanwhile; whether it
    succeeded."""
    while not step.done():
        with contextlib.suppress(BaseException):
            await asyncio.shield(step)
    return not step.cancelled() and step.exception() is None


def _cancel_safe_sqlite_transactions() -> None:
    """Make a cancelled start of an SQLite transaction give the connection back.

    Tortoise runs every SQLite transaction on one connection under one lock, taken in the
    transaction's ``__aenter__`` and released in its ``__aexit__``. A task cancelled while
    ``__aenter__`` waits for ``BEGIN`` (a deploy job stopped at a shutdown, a subscription
    whose client left) never reaches ``__aexit__``: the lock stays taken and every later
    query of the process waits forever. Here the ``BEGIN`` is left to finish (aiosqlite
    runs what it was handed anyway), undone, and the lock released before the
    cancellation goes on.
    """
    from tortoise.backends.sqlite.client import SqliteTransactionContext
    from tortoise.connection import get_connections

    if getattr(SqliteTransactionContext, "_cancel_safe", False):
        return

    async def __aenter__(self: SqliteTransactionContext) -> object:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            begin = asyncio.ensure_future(self.connection.begin())
            try:
                await asyncio.shield(begin)
            except BaseException:
                if await _settled(begin):
                    await _settled(asyncio.ensure_future(self.connection._connection.rollback()))
                raise
        except BaseException:
            self._trxlock.release()
            raise
        self.token = get_connections().set(self.connection_name, self.connection)
        return self.connection

    SqliteTransactionContext.__aenter__ = __aenter__  # type: ignore[method-assign]
    SqliteTransactionContext._cancel_safe = True  # type: ignore[attr-defined]


_cancel_safe_sqlite_transactions()


def tortoise_config(db_url: str | None = None) -> dict[str, Any]:
    """The Tortoise config for ``db_url`` (default: the configured database)."""
    url = db_url or get_settings().database_url
    return {
        "connections": {"default": url},
        "apps": {"models": {"models": MODEL_MODULES, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite://`` URL (``None`` for other URLs and ``:memory:``)."""
    if not url.startswith("sqlite://") or ":memory:" in url:
        return None
    return Path(url.removeprefix("sqlite://").split("?", 1)[0])


def describe_database(url: str) -> str:
    """The database of ``url`` for a message: the SQLite file, or host and name (no password)."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _ensure_sqlite_dir(url: str) -> None:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


class DatabaseUnusable(RuntimeError):
    """The configured database cannot hold PhoneGraph's data (the message says why)."""


def sqlite_too_old() -> str | None:
    """Why this Python's SQLite cannot hold a PhoneGraph database, if it cannot."""
    if sqlite3.sqlite_version_info >= SQLITE_MINIMUM:
        return None
    need = ".".join(map(str, SQLITE_MINIMUM))
    return (
        f"this Python's SQLite is {sqlite3.sqlite_version}; PhoneGraph needs SQLite {need} "
        "or newer (use a newer Python build, or PostgreSQL)"
    )


async def database_problem(db_url: str | None = None) -> str | None:
    """Why ``db_url`` (default: the configured database) is not a PhoneGraph database yet:
    no such file or database, or never migrated; ``None`` when it is one. Creates nothing
    (asked with the drivers themselves: Tortoise's own state is left for what follows)."""
    url = db_url or get_settings().database_url
    if url.startswith("sqlite://"):
        too_old = sqlite_too_old()
        if too_old:
            return too_old
        path = sqlite_path(url)
        if path is None:
            return None
        if not path.is_file():
            return f"there is no database file {path}"
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'aerich'"
            ).fetchone()
    else:
        import asyncpg
        from tortoise.backends.base.config_generator import expand_db_url

        credentials = expand_db_url(url)["credentials"]
        keys = ("host", "port", "user", "password", "database", "ssl")
        try:
            conn = await asyncpg.connect(**{k: credentials[k] for k in keys if k in credentials})
        except asyncpg.InvalidCatalogNameError:
            return f"the database {describe_database(url)} does not exist"
        try:
            found = await conn.fetchval("SELECT to_regclass('aerich') IS NOT NULL")
        finally:
            await conn.close()
    return None if found else f"the database {describe_database(url)} has never been migrated"


async def migrate(db_url: str | None = None) -> list[str]:
    """Apply every migration in ``migrations/`` not yet applied; return their names."""
    from aerich import Command

    config = tortoise_config(db_url)
    if config["connections"]["default"].startswith("sqlite://"):
        too_old = sqlite_too_old()
        if too_old:
            raise DatabaseUnusable(too_old)
    _ensure_sqlite_dir(config["connections"]["default"])
    command = Command(tortoise_config=config, app="models", location=str(MIGRATIONS_DIR))
    async with command:
        applied = await command.upgrade(run_in_transaction=True)
        from app.devices.catalogue import sync_catalogue

        await sync_catalogue()
        return applied


TORTOISE_ORM = tortoise_config()

"""Tortoise configuration (also read by aerich) and the migration runner."""

from __future__ import annotations

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
    "aerich.models",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


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


async def database_problem(db_url: str | None = None) -> str | None:
    """Why ``db_url`` (default: the configured database) is not a PhoneGraph database yet:
    no such file or database, or never migrated; ``None`` when it is one. Creates nothing
    (asked with the drivers themselves: Tortoise's own state is left for what follows)."""
    url = db_url or get_settings().database_url
    if url.startswith("sqlite://"):
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
    _ensure_sqlite_dir(config["connections"]["default"])
    command = Command(tortoise_config=config, app="models", location=str(MIGRATIONS_DIR))
    async with command:
        applied = await command.upgrade(run_in_transaction=True)
        from app.devices.catalogue import sync_catalogue

        await sync_catalogue()
        return applied


TORTOISE_ORM = tortoise_config()

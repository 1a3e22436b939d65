"""Tortoise configuration (also read by aerich) and the migration runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.settings import get_settings

MODEL_MODULES = [
    "app.core.models",
    "app.pbx.models",
    "app.devices.models",
    "app.profiles.models",
    "app.deploy.models",
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


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite://") and ":memory:" not in url:
        path = Path(url.removeprefix("sqlite://").split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)


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

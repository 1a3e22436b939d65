"""The migrations and the models agree, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tortoise import Tortoise

from app.db import MIGRATIONS_DIR, tortoise_config

ROOT = Path(__file__).resolve().parents[2]


def _last_migration_state() -> dict:
    from aerich.utils import decompress_dict

    files = sorted(
        (MIGRATIONS_DIR / "models").glob("*.py"), key=lambda p: int(p.name.split("_")[0])
    )
    assert files, "no migrations"
    spec = importlib.util.spec_from_file_location("last_migration", files[-1])
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return decompress_dict(module.MODELS_STATE)


async def test_models_match_the_last_migration(database_url: str) -> None:
    """What aerich would diff: a model change without a migration fails here."""
    from aerich.utils import get_models_describe

    await Tortoise.init(config=tortoise_config(database_url))
    try:
        current = get_models_describe("models")
    finally:
        await Tortoise.close_connections()
    # Compare as JSON: the recorded state has lists where the live one has tuples.
    current = json.loads(json.dumps(current, default=str))
    recorded = json.loads(json.dumps(_last_migration_state(), default=str))
    assert sorted(current) == sorted(recorded), "models added or removed without a migration"
    for name, describe in current.items():
        assert describe == recorded[name], f"{name} changed without a migration"


async def test_migrated_database_has_every_column_of_the_models(database_url: str) -> None:
    """The test database was built by running the migrations; every model column is there."""
    from tests.conftest import forget_dialect

    forget_dialect()
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        conn = Tortoise.get_connection("default")
        for model in Tortoise.apps["models"].values():
            columns = ", ".join(f'"{c}"' for c in model._meta.db_fields)
            await conn.execute_query(f'SELECT {columns} FROM "{model._meta.db_table}" LIMIT 0')
    finally:
        await Tortoise.close_connections()


def test_every_migration_has_sql_for_both_engines() -> None:
    for path in (MIGRATIONS_DIR / "models").glob("*.py"):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert set(module.SQL) == {"sqlite", "postgres"}, path.name

"""The command line: migrate, token create, export-schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PHONEGRAPH_DATA_DIR": str(tmp_path / "data"),
        "PHONEGRAPH_DATABASE_URL": f"sqlite://{tmp_path}/cli.sqlite3",
        "PHONEGRAPH_SECRET_KEY": "cli-test-key",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_applies_once_then_reports_up_to_date(tmp_path: Path) -> None:
    first = run(["migrate"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "init" in first.stdout
    again = run(["migrate"], tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout


async def test_token_create_prints_a_working_secret_once(tmp_path: Path) -> None:
    assert run(["migrate"], tmp_path).returncode == 0  # the server's database exists
    created = run(["token", "create", "--name", "ops", "--role", "system-admin"], tmp_path)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("pgt_")

    from tortoise import Tortoise

    from app.core.auth import authenticate
    from app.core.crypto import hash_token
    from app.core.models import ApiToken, Role
    from app.db import tortoise_config
    from tests.conftest import forget_dialect

    forget_dialect()
    await Tortoise.init(config=tortoise_config(f"sqlite://{tmp_path}/cli.sqlite3"))
    try:
        viewer = await authenticate(secret)
        assert viewer is not None and viewer.role == Role.SYSTEM_ADMIN
        stored = await ApiToken.get(name="ops")
        assert stored.secret_hash == hash_token(secret) != secret
    finally:
        await Tortoise.close_connections()


def test_company_admin_token_needs_an_existing_company(tmp_path: Path) -> None:
    assert run(["migrate"], tmp_path).returncode == 0
    refused = run(
        ["token", "create", "--name", "x", "--role", "company-admin", "--company", "42"], tmp_path
    )
    assert refused.returncode != 0
    assert "--company" in refused.stderr


@pytest.mark.parametrize("role", ["root", ""])
def test_unknown_role_is_refused(tmp_path: Path, role: str) -> None:
    refused = run(["token", "create", "--name", "x", "--role", role], tmp_path)
    assert refused.returncode == 2
    assert "invalid choice" in refused.stderr


def test_token_create_refuses_to_create_a_database_that_does_not_exist(tmp_path: Path) -> None:
    refused = run(["token", "create", "--name", "ops", "--role", "system-admin"], tmp_path)

    assert refused.returncode == 1
    assert refused.stdout == ""  # no secret printed
    assert f"there is no database file {tmp_path}/cli.sqlite3" in refused.stderr
    assert "--create-database" in refused.stderr
    assert "PHONEGRAPH_DATA_DIR" in refused.stderr
    assert not (tmp_path / "cli.sqlite3").exists()


def test_token_create_refuses_a_database_never_migrated(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "cli.sqlite3").close()  # an empty file, no tables
    refused = run(["token", "create", "--name", "ops", "--role", "system-admin"], tmp_path)

    assert refused.returncode == 1
    assert "has never been migrated" in refused.stderr


def test_token_create_makes_a_new_database_when_asked(tmp_path: Path) -> None:
    created = run(
        ["token", "create", "--name", "ops", "--role", "system-admin", "--create-database"],
        tmp_path,
    )

    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("pgt_")
    assert f"stored in {tmp_path}/cli.sqlite3" in created.stderr
    assert (tmp_path / "cli.sqlite3").is_file()


def test_token_create_run_elsewhere_uses_the_projects_paths_not_the_current_directory(
    tmp_path: Path,
) -> None:
    # Relative paths in the settings are the project's: the server (run from the project
    # by make serve) and the command line run from anywhere mean the same files.
    assert run(["migrate"], tmp_path).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative_db = os.path.relpath(tmp_path / "cli.sqlite3", ROOT)
    created = subprocess.run(
        [sys.executable, "-m", "app", "token", "create", "--name", "ops", "--role", "system-admin"],
        cwd=elsewhere,
        env={
            **os.environ,
            "PHONEGRAPH_DATA_DIR": os.path.relpath(tmp_path / "data", ROOT),
            "PHONEGRAPH_DATABASE_URL": f"sqlite://{relative_db}",
            "PHONEGRAPH_SECRET_KEY": "cli-test-key",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert created.returncode == 0, created.stderr
    assert f"stored in {tmp_path}/cli.sqlite3" in created.stderr
    assert list(elsewhere.iterdir()) == []  # nothing made in the current directory


def test_default_data_folder_is_the_projects_whatever_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import load_settings

    for name in ("PHONEGRAPH_DATA_DIR", "PHONEGRAPH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    settings = load_settings()

    assert settings.data_dir == ROOT / "data"
    assert settings.database_url == f"sqlite://{ROOT}/data/phonegraph.sqlite3"


@pytest.mark.parametrize("command", [["migrate"], ["serve"]])
def test_an_sqlite_too_old_for_the_queue_is_refused_with_a_clear_message(
    tmp_path: Path, command: list[str]
) -> None:
    # Python builds linked against an SQLite older than 3.35 (no RETURNING) exist; this
    # machine's is newer, so the process is told it has such an SQLite.
    code = (
        "import sqlite3, sys; sqlite3.sqlite_version_info = (3, 31, 1); "
        "sqlite3.sqlite_version = '3.31.1'; "
        "from app.__main__ import main; main(sys.argv[1:])"
    )
    environment = {
        **os.environ,
        "PHONEGRAPH_DATA_DIR": str(tmp_path / "data"),
        "PHONEGRAPH_DATABASE_URL": f"sqlite://{tmp_path}/old.sqlite3",
        "PHONEGRAPH_SECRET_KEY": "cli-test-key",
        "PHONEGRAPH_PORT": "0",
    }
    result = subprocess.run(
        [sys.executable, "-c", code, *command],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "SQLite is 3.31.1; PhoneGraph needs SQLite 3.35.0 or newer" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "old.sqlite3").exists()

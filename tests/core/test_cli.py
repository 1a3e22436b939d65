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

"""Dependencies run one way: core <- pbx <- devices <- profiles <- deploy.

The contract lives in pyproject.toml ([tool.importlinter]) and is checked by
import-linter, the same check `make lint` runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", "pyproject.toml", "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_contract_is_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_import_against_the_order_breaks_the_contract(tmp_path: Path) -> None:
    """The check is real: core reaching up into a domain fails it, naming the edge."""
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    scope = tmp_path / "app" / "core" / "scope.py"
    scope.write_text(scope.read_text() + "\nfrom app.devices.models import Phone  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "app.core.scope -> app.devices.models" in result.stdout

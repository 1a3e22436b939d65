"""Helpers for the web tests: Node.js tools from package.json and a headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ARTIFACTS = REPO / "test-artifacts"


def node() -> str | None:
    return shutil.which("node")


def node_package(name: str) -> Path | None:
    """A package installed by `npm ci` (make test runs it), or None."""
    path = REPO / "node_modules" / name / "package.json"
    return path.parent if path.is_file() else None


def chromium() -> str | None:
    """Debian's Chromium (or another Chrome) to drive headless; PHONEGRAPH_CHROMIUM wins."""
    explicit = os.environ.get("PHONEGRAPH_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_node_package(name: str) -> None:
    if node() is None:
        pytest.skip("node is not installed (Node.js 20 runs the graphql-http and browser tools)")
    if node_package(name) is None:
        pytest.skip(f"npm package {name} is not installed: run `npm ci` (make test does)")


async def run_node(script: str, *args: str, timeout: float = 120) -> str:
    """Run a script from this folder with node, the server staying responsive meanwhile."""
    process = await asyncio.create_subprocess_exec(
        node() or "node",
        str(HERE / script),
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{script} did not finish within {timeout} s") from None
    if process.returncode != 0:
        raise AssertionError(
            f"{script} failed ({process.returncode}):\n{stderr.decode()}\n{stdout.decode()}"
        )
    return stdout.decode()


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]

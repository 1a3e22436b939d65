"""GraphiQL's files without Node.js: app/static/install_graphiql_assets.py fetches the
pinned GraphiQL, React and ReactDOM packages from the addresses package-lock.json
records, checks their integrity hashes and installs what the page loads; `make assets`
uses it when npm is not on PATH. Here the "registry" is a loopback HTTP server serving
tarballs the test builds."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.core.graphql_view import GRAPHIQL_VENDOR_FILES
from tests.web.conftest import REPO

SCRIPT = REPO / "app" / "static" / "install_graphiql_assets.py"

# What each fake package holds: path inside the package -> content.
PACKAGES = {
    "react": {"umd/react.production.min.js": "/* react */\nwindow.React={};\n"},
    "react-dom": {"umd/react-dom.production.min.js": "/* react-dom */\nwindow.ReactDOM={};\n"},
    "graphiql": {
        "graphiql.min.js": "/* graphiql */\nwindow.GraphiQL={};\n",
        "graphiql.min.css": ".graphiql-container{}\n",
    },
}
VERSIONS = {"react": "18.3.1", "react-dom": "18.3.1", "graphiql": "4.1.2"}


def tarball(name: str, files: dict[str, str]) -> bytes:
    """An npm-style package tarball: everything under ``package/``."""
    contents = {
        **{
            path: f"{text}//# sourceMappingURL={Path(path).name}.map\n"
            for path, text in files.items()
        },
        "LICENSE": f"MIT License ({name})\n",
        "package.json": json.dumps({"name": name, "version": VERSIONS[name]}),
        "README.md": "not copied\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in contents.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@dataclass
class Registry:
    """A loopback HTTP server holding package tarballs, noting what was asked for."""

    url: str
    tarballs: dict[str, bytes]
    requested: list[str] = field(default_factory=list)

    def lock(self, *, integrity: dict[str, str] | None = None) -> dict:
        """A package-lock.json pinning the fake packages at this registry (and a dev tool
        that must never be fetched)."""
        packages: dict = {"": {"name": "fake", "dependencies": VERSIONS}}
        for name, data in self.tarballs.items():
            packages[f"node_modules/{name}"] = {
                "version": VERSIONS.get(name, "1.0.0"),
                "resolved": f"{self.url}/{name}/-/{name}.tgz",
                "integrity": (integrity or {}).get(name, sri(data)),
            }
        packages["node_modules/playwright-core"] = {
            "version": "1.0.0",
            "resolved": f"{self.url}/playwright-core/-/playwright-core-1.0.0.tgz",
            "integrity": sri(b"never fetched"),
            "dev": True,
        }
        return {"name": "fake", "lockfileVersion": 3, "packages": packages}


@pytest.fixture
def registry() -> Iterator[Registry]:
    tarballs = {name: tarball(name, files) for name, files in PACKAGES.items()}
    state = Registry(url="", tarballs=tarballs)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state.requested.append(self.path)
            name = self.path.split("/-/", 1)[0].lstrip("/")
            body = state.tarballs.get(name)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_script(lock: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    # -I -S: no site-packages, no environment: the standard library is all it may use.
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), "--lock", str(lock), "--dest", str(dest)],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
    )


def test_the_fetcher_installs_the_served_files_checked_against_the_lock(
    registry: Registry, tmp_path: Path
) -> None:
    lock = tmp_path / "package-lock.json"
    lock.write_text(json.dumps(registry.lock()))
    dest = tmp_path / "vendor"

    done = run_script(lock, dest)

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [*GRAPHIQL_VENDOR_FILES, "LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom", "versions.json"]
    )
    assert (dest / "graphiql.min.js").read_text() == "/* graphiql */\nwindow.GraphiQL={};\n"
    assert "sourceMappingURL" not in (dest / "react.production.min.js").read_text()
    assert (dest / "LICENSE.react-dom").read_text() == "MIT License (react-dom)\n"
    assert json.loads((dest / "versions.json").read_text()) == VERSIONS
    # The three packages the page needs, nothing else (no dev tools).
    assert sorted(registry.requested) == sorted(f"/{n}/-/{n}.tgz" for n in PACKAGES)


def test_a_download_that_does_not_match_its_hash_installs_nothing(
    registry: Registry, tmp_path: Path
) -> None:
    lock = tmp_path / "package-lock.json"
    lock.write_text(json.dumps(registry.lock(integrity={"graphiql": sri(b"something else")})))
    dest = tmp_path / "vendor"
    dest.mkdir()
    (dest / "graphiql.min.js").write_text("the files installed before")

    done = run_script(lock, dest)

    assert done.returncode == 1
    assert "graphiql 4.1.2: the download does not match package-lock.json's sha512 hash" in done.stderr
    assert [p.name for p in dest.iterdir()] == ["graphiql.min.js"]
    assert (dest / "graphiql.min.js").read_text() == "the files installed before"


def test_an_unreachable_registry_is_reported_plainly(tmp_path: Path) -> None:
    from tests.conftest import free_port

    lock = tmp_path / "package-lock.json"
    unreachable = Registry(url=f"http://127.0.0.1:{free_port()}", tarballs={n: b"" for n in PACKAGES})
    lock.write_text(json.dumps(unreachable.lock()))

    done = run_script(lock, tmp_path / "vendor")

    assert done.returncode == 1
    assert "could not fetch http://127.0.0.1:" in done.stderr
    assert not (tmp_path / "vendor").exists()


def _path_without_npm(tmp_path: Path) -> str:
    """A PATH with every program of the current one but npm and node."""
    hidden = {"npm", "npx", "node", "nodejs", "corepack"}
    bin_dir = tmp_path / "bin-without-npm"
    bin_dir.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or not Path(directory).is_dir():
            continue
        for program in Path(directory).iterdir():
            target = bin_dir / program.name
            if program.name in hidden or target.exists() or target.is_symlink():
                continue
            if program.is_file() and os.access(program, os.X_OK):
                target.symlink_to(program)
    return str(bin_dir)


def test_make_assets_without_npm_on_path_fetches_with_python(
    registry: Registry, tmp_path: Path
) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # A project folder with what `make assets` reads, its lock pointing at the registry.
    project = tmp_path / "project"
    (project / "app" / "static").mkdir(parents=True)
    for name in ("Makefile", "package.json"):
        shutil.copy(REPO / name, project / name)
    for name in ("install_graphiql_assets.py", "install-graphiql-assets.mjs"):
        shutil.copy(REPO / "app" / "static" / name, project / "app" / "static" / name)
    (project / "package-lock.json").write_text(json.dumps(registry.lock()))
    path = _path_without_npm(tmp_path)

    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(
        ["make", "--no-print-directory", "assets", f"PYTHON={sys.executable}"],
        cwd=project,
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "make: fetching GraphiQL's browser files from the npm registry with Python "
        "(npm not found; pinned in package-lock.json)"
    ]
    vendor = project / "app" / "static" / "graphiql" / "vendor"
    assert all((vendor / name).is_file() for name in GRAPHIQL_VENDOR_FILES)
    assert json.loads((vendor / "versions.json").read_text()) == VERSIONS
    assert not (project / "node_modules").exists()


def test_the_python_and_node_installers_copy_the_same_files() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("install_graphiql_assets", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    node_script = (REPO / "app" / "static" / "install-graphiql-assets.mjs").read_text()
    node_files = re.findall(r'\["([^"]+)", "([^"]+)", "([^"]+)"\]', node_script)

    assert [tuple(f) for f in module.FILES] == node_files
    assert sorted(target for _, _, target in module.FILES) == sorted(GRAPHIQL_VENDOR_FILES)


def test_the_lock_records_where_each_served_package_comes_from() -> None:
    lock = json.loads((REPO / "package-lock.json").read_text())
    for name in ("graphiql", "react", "react-dom"):
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["resolved"].startswith("https://registry.npmjs.org/"), name
        assert entry["integrity"].startswith("sha512-"), name
        assert "dev" not in entry, name
    for tool in ("playwright-core", "graphql-http"):
        assert lock["packages"][f"node_modules/{tool}"]["dev"] is True, tool

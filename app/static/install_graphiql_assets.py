"""Install GraphiQL's browser files without Node.js: the GraphiQL, React and ReactDOM
packages at the versions package-lock.json pins, fetched from the address (``resolved``)
the lock records and checked against its ``integrity`` hash, then the served files
copied into app/static/graphiql/vendor/ — the files install-graphiql-assets.mjs copies
from node_modules after ``npm ci``. Python's standard library only: it runs before any
virtual environment exists (``make assets`` uses it when npm is not installed).

usage: python3 app/static/install_graphiql_assets.py [--lock FILE] [--dest DIR] [--quiet]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# (package, file inside the package, name served under /graphiql/static/vendor/)
FILES = [
    ("react", "umd/react.production.min.js", "react.production.min.js"),
    ("react-dom", "umd/react-dom.production.min.js", "react-dom.production.min.js"),
    ("graphiql", "graphiql.min.js", "graphiql.min.js"),
    ("graphiql", "graphiql.min.css", "graphiql.min.css"),
]
DEFAULT_REGISTRY = "https://registry.npmjs.org"
MAX_TARBALL_BYTES = 64 * 1024 * 1024
TIMEOUT_SECONDS = 60
# Strongest first (Subresource Integrity: the strongest algorithm given is the one checked).
_ALGORITHMS = ("sha512", "sha384", "sha256")
_SOURCE_MAP = re.compile(r"\n/[/*]# sourceMappingURL=\S+(\s*\*/)?\s*$")

Fetch = Callable[[str], bytes]


class InstallError(Exception):
    """Why the files could not be installed (said to the person running ``make``)."""


def locked_package(lock: dict, name: str) -> tuple[str, str, str]:
    """``(version, tarball URL, integrity)`` of ``name`` in a package-lock.json (v2/v3)."""
    entry = lock.get("packages", {}).get(f"node_modules/{name}")
    if not entry or "version" not in entry:
        raise InstallError(f"{name} is not in package-lock.json (run npm install once to pin it)")
    version = entry["version"]
    integrity = entry.get("integrity")
    if not integrity:
        raise InstallError(f"package-lock.json records no integrity hash for {name}")
    url = entry.get("resolved")
    if not url:
        # A lock written with omit-lockfile-registry-resolved: npm's default registry.
        registry = os.environ.get("npm_config_registry", DEFAULT_REGISTRY).rstrip("/")
        url = f"{registry}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"
    return version, url, integrity


def check_integrity(data: bytes, integrity: str, what: str) -> None:
    """Raise unless ``data`` matches ``integrity`` (``sha512-<base64>``, possibly several)."""
    given: dict[str, list[str]] = {}
    for item in integrity.split():
        algorithm, _, digest = item.partition("-")
        given.setdefault(algorithm.lower(), []).append(digest.split("?", 1)[0])
    for algorithm in _ALGORITHMS:
        if algorithm in given:
            actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
            if actual not in given[algorithm]:
                raise InstallError(
                    f"{what}: the download does not match package-lock.json's {algorithm} "
                    "hash; nothing was installed"
                )
            return
    raise InstallError(f"{what}: package-lock.json has no sha256/384/512 hash to check")


def download(url: str) -> bytes:
    """The body at ``url`` (proxies from the usual environment variables)."""
    if not url.startswith(("https://", "http://")):
        raise InstallError(f"refusing to fetch {url!r}: not an http(s) address")
    request = urllib.request.Request(url, headers={"User-Agent": "phonegraph-install"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            data = response.read(MAX_TARBALL_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InstallError(f"could not fetch {url}: {reason}") from None
    if len(data) > MAX_TARBALL_BYTES:
        raise InstallError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes")
    return data


def package_files(tarball: bytes, wanted: list[str], what: str) -> dict[str, bytes]:
    """The files ``wanted`` (paths inside the package) of an npm tarball. npm tarballs
    hold one top folder (usually ``package/``); nothing is extracted to disk."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            for member in archive:
                inner = member.name.lstrip("./").split("/", 1)
                if len(inner) != 2 or inner[1] not in wanted or not member.isfile():
                    continue
                extracted = archive.extractfile(member)
                if extracted is not None:
                    found[inner[1]] = extracted.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InstallError(f"{what}: not a readable npm package ({exc})") from None
    missing = [name for name in wanted if name not in found]
    if missing:
        raise InstallError(f"{what}: the package has no {', '.join(missing)}")
    return found


def without_source_map(data: bytes) -> bytes:
    """The source maps are not shipped: drop the reference so browsers do not ask for them."""
    return _SOURCE_MAP.sub("\n", data.decode("utf-8")).encode("utf-8")


def install(lock_path: Path, dest: Path, fetch: Fetch = download) -> dict[str, str]:
    """Fetch, check and install the files; returns the versions installed. ``dest`` is
    replaced as a whole, and only once every package checked out."""
    lock = json.loads(lock_path.read_text(encoding="utf-8"))
    packages = list(dict.fromkeys(package for package, _, _ in FILES))
    staged: dict[str, bytes] = {}
    versions: dict[str, str] = {}
    for package in packages:
        version, url, integrity = locked_package(lock, package)
        what = f"{package} {version}"
        tarball = fetch(url)
        check_integrity(tarball, integrity, what)
        wanted = [inner for name, inner, _ in FILES if name == package]
        files = package_files(tarball, [*wanted, "LICENSE"], what)
        for name, inner, target in FILES:
            if name == package:
                staged[target] = without_source_map(files[inner])
        staged[f"LICENSE.{package}"] = files["LICENSE"]
        versions[package] = version
    # versions.json is what make checks: written last, so a failed run is retried.
    staged["versions.json"] = (json.dumps(versions, indent=2) + "\n").encode()

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".vendor-", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        work.chmod(0o777 & ~umask)  # mkdtemp's folder is private; the server reads this one
        for target, data in staged.items():
            (work / target).write_bytes(data)
        old = dest.with_name(dest.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            dest.rename(old)
        work.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "package-lock.json")
    parser.add_argument("--dest", type=Path, default=HERE / "graphiql" / "vendor")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    args = parser.parse_args(argv)
    try:
        versions = install(args.lock, args.dest)
    except InstallError as exc:
        print(f"GraphiQL's files were not installed: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"GraphiQL assets installed in {args.dest}: {json.dumps(versions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

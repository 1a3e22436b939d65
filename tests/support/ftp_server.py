"""aioftp's own FTP server on loopback, in the variants the deploy tests need.

* stock: refuses to rename onto an existing name (like ProFTPD without ``AllowOverwrite``);
* ``overwrite=True``: renaming onto an existing name replaces it (``AllowOverwrite on``);
* ``refuse_login=True``: every login is refused;
* ``read_only=True``: logins work, storing is refused;
* ``ssl=context``: FTPS with implicit TLS.

Each server counts successful logins, so tests can see connections being reused.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import aioftp
from aioftp.server import ConnectionConditions, PathPermissions


class CountingUserManager(aioftp.MemoryUserManager):
    """Counts successful logins; with ``refuse_all`` every password is wrong."""

    def __init__(self, users: list[aioftp.User], *, refuse_all: bool = False) -> None:
        super().__init__(users)
        self.refuse_all = refuse_all
        self.logins = 0
        self.refused = 0

    async def authenticate(self, user: aioftp.User, password: str) -> bool:
        ok = not self.refuse_all and await super().authenticate(user, password)
        if ok:
            self.logins += 1
        else:
            self.refused += 1
        return ok


class OverwritingServer(aioftp.Server):
    """RNTO replaces an existing destination, as ProFTPD does with ``AllowOverwrite on``."""

    @ConnectionConditions(
        ConnectionConditions.login_required,
        ConnectionConditions.rename_from_required,
    )
    @PathPermissions(PathPermissions.writable)
    async def rnto(self, connection: aioftp.Connection, rest: str | PurePosixPath) -> bool:
        real_path, _ = self.get_paths(connection, rest)
        rename_from = connection.rename_from
        del connection.rename_from
        # PathIO.rename is Path.rename, which replaces the destination on POSIX.
        await connection.path_io.rename(rename_from, real_path)
        connection.response("250", "")
        return True


@dataclass
class FtpServerHandle:
    """A running server: where it is, how to log in, and what it holds."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    users: CountingUserManager
    server: aioftp.Server
    tls: bool = False

    @property
    def url(self) -> str:
        """``ftp://user:password@host:port/`` (``ftps://`` with TLS), credentials quoted."""
        return self.url_for()

    def url_for(
        self, *, user: str | None = None, password: str | None = None, directory: str = ""
    ) -> str:
        scheme = "ftps" if self.tls else "ftp"
        login = quote(user if user is not None else self.user, safe="")
        secret = quote(password if password is not None else self.password, safe="")
        return f"{scheme}://{login}:{secret}@{self.host}:{self.port}/{directory}"

    @property
    def logins(self) -> int:
        return self.users.logins

    def files(self) -> list[str]:
        """Names in the root folder, sorted (temporary files included)."""
        return sorted(p.name for p in self.root.iterdir())


@asynccontextmanager
async def run_ftp_server(
    root: Path,
    *,
    user: str = "phones",
    password: str = "s3cret",
    overwrite: bool = False,
    refuse_login: bool = False,
    read_only: bool = False,
    ssl: ssl_module.SSLContext | None = None,
) -> AsyncIterator[FtpServerHandle]:
    """Serve ``root`` over FTP on 127.0.0.1 (ephemeral port) while the block runs."""
    root.mkdir(parents=True, exist_ok=True)
    account = aioftp.User(
        user,
        password,
        base_path=root,
        permissions=[aioftp.Permission("/", readable=True, writable=not read_only)],
    )
    users = CountingUserManager([account], refuse_all=refuse_login)
    server_class = OverwritingServer if overwrite else aioftp.Server
    server = server_class(users, ssl=ssl, socket_timeout=30, idle_timeout=60)
    await server.start("127.0.0.1", 0)
    try:
        yield FtpServerHandle(
            host="127.0.0.1",
            port=server.address[1],
            user=user,
            password=password,
            root=root,
            users=users,
            server=server,
            tls=ssl is not None,
        )
    finally:
        await server.close()

"""Config targets: where phone configs are stored for the phones to fetch (CONTRACT §5.1).

Every upload is atomic: the bytes go to a temporary name in the same directory, which is
then renamed over the final name, so a phone never reads half a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

import aioftp

from app.deploy.wire.errors import Guard, PhoneStepError, guarded

if TYPE_CHECKING:
    from app.settings import Settings


class ConfigTarget(Protocol):
    """Somewhere phones fetch their configs from."""

    async def upload(self, filename: str, data: bytes, *, guard: Guard | None = None) -> None:
        """Store ``data`` as ``filename``, atomically; raise :class:`PhoneStepError`.

        ``guard`` runs before the upload starts and again right before the temporary file
        is renamed over ``filename``: when it raises, ``filename`` is left as it was.
        """
        ...

    async def fetch(self, filename: str, max_bytes: int) -> bytes | None:
        """The stored bytes of ``filename`` (``None`` when there is no such file); raise
        :class:`PhoneStepError` when it cannot be read or is larger than ``max_bytes``."""
        ...

    async def close(self) -> None:
        """Release connections; the target may be used again afterwards."""
        ...


def check_filename(filename: str) -> None:
    """Config files live directly in the target's directory: no paths, no tricks."""
    if (
        not filename
        or filename in (".", "..")
        or "/" in filename
        or "\\" in filename
        or ".." in filename
        or any(ord(c) < 32 for c in filename)
    ):
        raise PhoneStepError(f"invalid config file name {filename!r}")


# ---------------------------------------------------------------- local folder


class LocalFolderTarget:
    """Configs written to a folder (the embedded default, the phones' TFTP root)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    async def upload(self, filename: str, data: bytes, *, guard: Guard | None = None) -> None:
        check_filename(filename)
        check = guarded(guard)
        check()
        temp: str | None = None
        try:
            temp = await asyncio.to_thread(self._write_temp, filename, data)
            check()
            await asyncio.to_thread(os.replace, temp, self.directory / filename)
            temp = None
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise PhoneStepError(
                f"could not write config {filename} to the config folder: {reason}",
                f"could not write config {filename} to {self.directory}: {reason}",
            ) from None
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)  # the rename did not happen

    def _write_temp(self, filename: str, data: bytes) -> str:
        """The bytes, synced to a temporary file next to ``filename``; its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=f".{filename}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            # mkstemp makes the file private; the TFTP server must be able to read it.
            os.chmod(temp, 0o644)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return temp

    async def fetch(self, filename: str, max_bytes: int) -> bytes | None:
        check_filename(filename)

        def read() -> bytes | None:
            try:
                with open(self.directory / filename, "rb") as fh:
                    data = fh.read(max_bytes + 1)
            except FileNotFoundError:
                return None
            if len(data) > max_bytes:
                raise PhoneStepError(f"config {filename} is larger than {max_bytes} bytes")
            return data

        try:
            return await asyncio.to_thread(read)
        except OSError as exc:
            raise PhoneStepError(
                f"could not read config {filename} from {self.directory}: "
                f"{exc.strerror or exc.__class__.__name__}"
            ) from None

    async def close(self) -> None:
        return None


# ---------------------------------------------------------------- FTP / FTPS


@dataclass(frozen=True)
class FtpLocation:
    """The parts of an ``ftp://`` or ``ftps://`` URL."""

    host: str
    port: int
    user: str
    password: str
    directory: str  # relative to the login directory, as in RFC 1738; "" = login directory
    tls: bool

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_ftp_url(url: str) -> FtpLocation:
    """Read ``ftp://user:password@host:port/dir`` (or ``ftps://``, implicit TLS).

    User and password are percent-decoded, so ``p%40ss`` is ``p@ss``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ftp", "ftps") or not parts.hostname:
        raise ValueError(f"not an ftp:// or ftps:// URL: {url!r}")
    tls = parts.scheme == "ftps"
    return FtpLocation(
        host=parts.hostname,
        port=parts.port or (990 if tls else 21),
        user=unquote(parts.username) if parts.username else "anonymous",
        password=unquote(parts.password) if parts.password else "anonymous@",
        directory=unquote(parts.path).strip("/"),
        tls=tls,
    )


# Errors that mean "this connection is gone", as opposed to "the server said no".
_CONNECTION_LOST = (ConnectionError, EOFError, asyncio.IncompleteReadError, BrokenPipeError)


def _code(exc: aioftp.StatusCodeError) -> str:
    """The server's reply code alone, e.g. ``550`` (its text stays in the server log)."""
    return str(exc.received_codes[-1]) if exc.received_codes else "?"


def _reply(exc: aioftp.StatusCodeError) -> str:
    """The server's answer, e.g. ``550 permission denied``."""
    code = str(exc.received_codes[-1]) if exc.received_codes else "?"
    info = exc.info if isinstance(exc.info, str) else " ".join(exc.info)
    text = " ".join(part.strip(" -") for part in info.split()) if info else ""
    return f"{code} {text}".strip()


class FtpTarget:
    """Configs uploaded to an FTP server (``ftp://``) or FTPS with implicit TLS (``ftps://``).

    Logged-in connections are kept in a small pool and reused across uploads: opening a
    connection per file would make bulk reprovisioning crawl. A pooled connection the
    server has dropped in the meantime is replaced transparently.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        timeout: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.location = parse_ftp_url(url)
        self.pool_size = max(1, pool_size)
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._idle: list[aioftp.Client] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _fail(self, what: str, detail: str | None = None) -> PhoneStepError:
        """A failure as tenants read it (``what``: no address, no reply text) and, for the
        server log, with ``detail`` (the config server's address and answer)."""
        return PhoneStepError(
            f"FTP upload failed: {what}",
            f"FTP upload to {self.location.address} failed: {detail or what}",
        )

    def _bind_to_loop(self) -> asyncio.Semaphore:
        # Connections belong to the event loop that opened them; a new loop starts afresh.
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            for client in self._idle:
                with contextlib.suppress(Exception):
                    client.close()
            self._idle.clear()
            self._loop = loop
            self._slots = asyncio.Semaphore(self.pool_size)
        return self._slots

    async def upload(self, filename: str, data: bytes, *, guard: Guard | None = None) -> None:
        check_filename(filename)
        check = guarded(guard)
        check()
        async with self._bind_to_loop():
            client = self._idle.pop() if self._idle else None
            reused = client is not None
            while True:
                if client is None:
                    client = await self._connect()
                try:
                    async with asyncio.timeout(self.timeout):
                        await self._store(client, filename, data, check)
                except PhoneStepError:
                    client.close()
                    raise
                except (*_CONNECTION_LOST, aioftp.StatusCodeError) as exc:
                    client.close()
                    if reused and self._looks_dropped(exc):
                        client, reused = None, False  # stale pooled connection: once more
                        continue
                    raise self._explain(exc, filename) from None
                except TimeoutError:
                    client.close()
                    raise self._fail(
                        f"no answer from the config server within {self.timeout:g} s "
                        f"while storing {filename}"
                    ) from None
                except OSError as exc:
                    client.close()
                    raise self._fail(f"{exc.strerror or exc} while storing {filename}") from None
                except BaseException:  # the guard stopped it, or the task was cancelled
                    client.close()
                    raise
                self._idle.append(client)
                return

    async def fetch(self, filename: str, max_bytes: int) -> bytes | None:
        check_filename(filename)
        async with self._bind_to_loop():
            client = self._idle.pop() if self._idle else None
            reused = client is not None
            while True:
                if client is None:
                    client = await self._connect()
                try:
                    async with asyncio.timeout(self.timeout):
                        data = await self._read(client, filename, max_bytes)
                except aioftp.StatusCodeError as exc:
                    if any(str(code) == "550" for code in exc.received_codes):
                        self._idle.append(client)  # no such file: the session is fine
                        return None
                    client.close()
                    if reused and self._looks_dropped(exc):
                        client, reused = None, False
                        continue
                    raise PhoneStepError(
                        f"FTP download failed: the server refused to send {filename}: "
                        f"{_reply(exc)}"
                    ) from None
                except _CONNECTION_LOST:
                    client.close()
                    if reused:
                        client, reused = None, False
                        continue
                    raise PhoneStepError(
                        f"FTP download failed: connection to {self.location.address} lost "
                        f"while reading {filename}"
                    ) from None
                except TimeoutError:
                    client.close()
                    raise PhoneStepError(
                        f"FTP download failed: no answer from {self.location.address} within "
                        f"{self.timeout:g} s while reading {filename}"
                    ) from None
                except PhoneStepError:
                    client.close()
                    raise
                except OSError as exc:
                    client.close()
                    raise PhoneStepError(
                        f"FTP download failed: {exc.strerror or exc} while reading {filename}"
                    ) from None
                except BaseException:
                    client.close()
                    raise
                self._idle.append(client)
                return data

    @staticmethod
    async def _read(client: aioftp.Client, filename: str, max_bytes: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async with client.download_stream(filename) as stream:
            async for block in stream.iter_by_block():
                size += len(block)
                if size > max_bytes:
                    raise PhoneStepError(f"config {filename} is larger than {max_bytes} bytes")
                chunks.append(block)
        return b"".join(chunks)

    @staticmethod
    def _looks_dropped(exc: BaseException) -> bool:
        if isinstance(exc, aioftp.StatusCodeError):
            return any(str(code) == "421" for code in exc.received_codes)
        return True

    def _explain(self, exc: BaseException, filename: str) -> PhoneStepError:
        if isinstance(exc, aioftp.StatusCodeError):
            return self._fail(
                f"the server refused to store {filename} ({_code(exc)})",
                f"the server refused to store {filename}: {_reply(exc)}",
            )
        return self._fail(f"connection to the config server lost while storing {filename}")

    async def _connect(self) -> aioftp.Client:
        """A new logged-in connection, in the configured directory."""
        loc = self.location
        ssl_option: ssl.SSLContext | bool | None = None
        if loc.tls:
            ssl_option = self._ssl_context or ssl.create_default_context()
        client = aioftp.Client(
            socket_timeout=self.timeout,
            connection_timeout=self.timeout,
            path_timeout=self.timeout,
            ssl=ssl_option,
        )
        try:
            async with asyncio.timeout(self.timeout):
                await client.connect(loc.host, loc.port)
                try:
                    await client.login(loc.user, loc.password)
                except aioftp.StatusCodeError as exc:
                    raise self._fail(f"login refused ({_code(exc)})", _reply(exc)) from None
                if loc.directory:
                    try:
                        await client.change_directory(loc.directory)
                    except aioftp.StatusCodeError as exc:
                        raise self._fail(
                            f"cannot open the config directory ({_code(exc)})",
                            f"cannot open directory {loc.directory!r}: {_reply(exc)}",
                        ) from None
        except PhoneStepError:
            client.close()
            raise
        except TimeoutError:
            client.close()
            raise self._fail(
                f"no answer from the config server within {self.timeout:g} s",
                f"no answer from {loc.address} within {self.timeout:g} s",
            ) from None
        except ConnectionRefusedError:
            raise self._fail(
                "the config server refused the connection", f"connection refused by {loc.address}"
            ) from None
        except socket.gaierror:
            raise self._fail(
                "the config server's host name is unknown", f"unknown host {loc.host!r}"
            ) from None
        except ssl.SSLError as exc:
            client.close()
            raise self._fail(
                "TLS with the config server failed",
                f"TLS with {loc.address} failed: {exc.reason or exc}",
            ) from None
        except aioftp.StatusCodeError as exc:  # e.g. "421 Too many connections"
            client.close()
            raise self._fail(
                f"the config server refused the session ({_code(exc)})",
                f"{loc.address} refused the session: {_reply(exc)}",
            ) from None
        except _CONNECTION_LOST:
            client.close()
            raise self._fail(
                "the config server closed the connection", f"{loc.address} closed the connection"
            ) from None
        except OSError as exc:
            client.close()
            raise self._fail(
                "cannot connect to the config server",
                f"cannot connect to {loc.address}: {exc.strerror or exc}",
            ) from None
        return client

    async def _store(
        self, client: aioftp.Client, filename: str, data: bytes, check: Guard
    ) -> None:
        temp = f".{filename}.{secrets.token_hex(4)}.part"
        try:
            async with client.upload_stream(temp) as stream:
                await stream.write(data)
            check()
            try:
                await client.rename(temp, filename)
            except aioftp.StatusCodeError as refused:
                # Servers without "allow overwrite" refuse to rename onto an existing
                # name: delete the old file, then rename. If there was nothing to delete,
                # the rename failed for another reason: report that one.
                try:
                    await client.remove_file(filename)
                except aioftp.StatusCodeError:
                    raise refused from None
                await client.rename(temp, filename)
        except BaseException:
            # Best effort: leave no temporary file behind on a connection still usable.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(min(self.timeout, 2.0)):
                    await client.remove_file(temp)
            raise

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(min(self.timeout, 2.0)):
                    await client.quit()
            client.close()


def config_target_from_settings(settings: Settings) -> ConfigTarget:
    """FTP when ``PHONEGRAPH_FTP_URL`` is set, else the local folder ``data/tftpboot``."""
    if settings.ftp_url:
        return FtpTarget(settings.ftp_url)
    return LocalFolderTarget(settings.tftp_dir)

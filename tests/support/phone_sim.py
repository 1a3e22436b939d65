"""A phone on loopback that speaks CONTRACT §5: SIP over UDP and the Cisco CGI over HTTP.

On ``NOTIFY`` ``check-sync;reboot=true`` it answers, then "reboots": it stops answering
``OPTIONS`` for ``reboot_seconds``, fetches its config ``SEP{MAC}.cnf.xml`` meanwhile
(through ``config_fetch``), and answers again. Everything it sees goes into an ordered
``log`` so tests can check what happened, and in which order.

It is cheap (one UDP socket and, for Cisco phones, one small HTTP server), so hundreds
can run at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, Self, cast
from urllib.parse import unquote, urlsplit

import aioftp
from aiohttp import web
from lxml import etree

ConfigFetch = Callable[[str], Awaitable[bytes | None]]
SipBehaviour = Literal[
    "normal", "ignore_notify", "reject_notify", "no_restart", "never_back", "drop_first_notify"
]
LogKind = Literal["CGI", "NOTIFY", "OPTIONS", "FETCH", "REBOOT"]

REASONS = {
    100: "Trying",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    489: "Bad Event",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    603: "Decline",
}


class LogEntry(NamedTuple):
    """One thing the phone saw or did: ``(kind, detail, at)``."""

    kind: LogKind
    detail: str
    at: float  # time.monotonic()


@dataclass
class SipRequest:
    """A SIP request as received, raw bytes included."""

    raw: bytes
    method: str
    uri: str
    headers: dict[str, list[str]]  # lower-case name -> every value, in order
    source: tuple[str, int]

    def header(self, name: str) -> str | None:
        """The first value of a header (full or compact name), or ``None``."""
        values = self.headers.get(_canonical(name.lower()))
        return values[0] if values else None

    @property
    def branch(self) -> str | None:
        via = self.header("via") or ""
        found = re.search(r";\s*branch=([^;,\s]+)", via, re.IGNORECASE)
        return found.group(1) if found else None


@dataclass
class CgiRequest:
    """A POST to /CGI/Execute as received."""

    content_type: str
    xml: str
    username: str | None


_COMPACT = {
    "v": "via",
    "i": "call-id",
    "f": "from",
    "t": "to",
    "m": "contact",
    "l": "content-length",
    "o": "event",
    "c": "content-type",
}


def _canonical(name: str) -> str:
    return _COMPACT.get(name, name)


def parse_request(data: bytes, source: tuple[str, int]) -> SipRequest | None:
    """Parse a SIP request; responses and garbage give ``None``."""
    text = data.decode("utf-8", errors="replace")
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    lines = re.split(r"\r?\n", head)
    parts = lines[0].split()
    if len(parts) != 3 or parts[2] != "SIP/2.0":
        return None
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(_canonical(name.strip().lower()), []).append(value.strip())
    return SipRequest(data, parts[0].upper(), parts[1], headers, source)


def _response(request: SipRequest, status: int, tag: str) -> bytes:
    """A response echoing the request's transaction headers (RFC 3261 §8.2.6)."""
    lines = [f"SIP/2.0 {status} {REASONS.get(status, 'Rejected')}"]
    lines += [f"Via: {via}" for via in request.headers.get("via", [])]
    to = request.header("to") or ""
    if ";tag=" not in to.replace(" ", ""):
        to = f"{to};tag={tag}"
    lines += [
        f"From: {request.header('from') or ''}",
        f"To: {to}",
        f"Call-ID: {request.header('call-id') or ''}",
        f"CSeq: {request.header('cseq') or ''}",
        "User-Agent: PhoneSimulator",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _cisco_error(number: int) -> web.Response:
    return web.Response(
        text=f'<?xml version="1.0" encoding="utf-8"?>\n<CiscoIPPhoneError Number="{number}" />',
        content_type="text/xml",
    )


class _SipSocket(asyncio.DatagramProtocol):
    def __init__(self, phone: PhoneSimulator) -> None:
        self.phone = phone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        source = (str(addr[0]), int(addr[1]))
        request = parse_request(data, source)
        if request is not None:
            self.phone._on_sip(request)

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)


class PhoneSimulator:
    """A simulated SIP phone (Cisco by default) listening on 127.0.0.1 ephemeral ports.

    ``sip_behaviour`` picks how it treats the restart ``NOTIFY``:

    * ``normal``: answers 200, goes down for ``reboot_seconds``, fetches its config, comes back;
    * ``drop_first_notify``: as normal, but the first NOTIFY datagram is lost;
    * ``ignore_notify``: never answers the NOTIFY (still answers OPTIONS);
    * ``reject_notify``: answers ``reject_code``;
    * ``no_restart``: answers 200 but never goes down;
    * ``never_back``: answers 200, goes down and never answers again.

    With ``notify_delay`` the NOTIFY is first answered ``100 Trying`` and finally only
    after that many seconds. With ``cgi_delay`` the CGI answers only after that many
    seconds (the request is in ``cgi_requests`` as soon as it arrives).
    """

    ip = "127.0.0.1"

    def __init__(
        self,
        mac: str,
        *,
        config_fetch: ConfigFetch | None = None,
        web_username: str | None = None,
        web_password: str | None = None,
        reboot_seconds: float = 0.5,
        sip_behaviour: SipBehaviour = "normal",
        reject_code: int = 486,
        cgi_error: int | None = None,
        cisco: bool = True,
        notify_delay: float = 0.0,
        cgi_delay: float = 0.0,
    ) -> None:
        self.mac = re.sub(r"[^0-9A-Fa-f]", "", mac).upper()
        self.config_fetch = config_fetch
        self.web_username = web_username
        self.web_password = web_password
        self.reboot_seconds = reboot_seconds
        self.sip_behaviour = sip_behaviour
        self.reject_code = reject_code
        self.cgi_error = cgi_error
        self.cisco = cisco
        self.notify_delay = notify_delay
        self.cgi_delay = cgi_delay

        self.online = True
        self.reboots = 0
        self.log: list[LogEntry] = []
        self.sip_messages: list[SipRequest] = []
        self.cgi_requests: list[CgiRequest] = []
        self.fetched_configs: list[bytes] = []
        self.sip_port = 0
        self.http_port = 0

        self._tag = f"sim{self.mac[-6:].lower()}"
        self._answered: dict[str, bytes] = {}  # NOTIFY branch -> response, for retransmissions
        self._notifies_seen = 0
        self._sip: _SipSocket | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _SipSocket(self), local_addr=(self.ip, 0)
        )
        self._sip = protocol
        self.sip_port = int(transport.get_extra_info("sockname")[1])
        if self.cisco:
            app = web.Application()
            app.router.add_post("/CGI/Execute", self._cgi)
            # Stopping cancels a CGI answer still being delayed instead of awaiting it.
            self._runner = web.AppRunner(
                app, access_log=None, handle_signals=False, shutdown_timeout=1.0
            )
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.ip, 0)
            await site.start()
            self.http_port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._sip is not None and self._sip.transport is not None:
            self._sip.transport.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ what tests read

    @property
    def config_name(self) -> str:
        return f"SEP{self.mac}.cnf.xml"

    def kinds(self) -> list[str]:
        """The log's kinds in order, e.g. ``["CGI", "NOTIFY", "OPTIONS", ...]``."""
        return [entry.kind for entry in self.log]

    def entries(self, kind: LogKind) -> list[LogEntry]:
        return [entry for entry in self.log if entry.kind == kind]

    def requests(self, method: str) -> list[SipRequest]:
        return [m for m in self.sip_messages if m.method == method.upper()]

    async def wait_until_online(self, timeout: float = 10.0) -> None:
        """Wait until a reboot in progress (if any) is over."""
        async with asyncio.timeout(timeout):
            while not self.online or self._tasks:
                await asyncio.sleep(0.01)

    # ------------------------------------------------------------ SIP

    def _note(self, kind: LogKind, detail: str) -> None:
        self.log.append(LogEntry(kind, detail, time.monotonic()))

    def _reply(self, request: SipRequest, status: int) -> bytes:
        data = _response(request, status, self._tag)
        assert self._sip is not None
        self._sip.send(data, request.source)
        return data

    def _on_sip(self, request: SipRequest) -> None:
        self.sip_messages.append(request)
        if request.method == "NOTIFY":
            self._on_notify(request)
        elif request.method == "OPTIONS":
            if self.online:
                self._note("OPTIONS", "200")
                self._reply(request, 200)
            else:
                self._note("OPTIONS", "unanswered")
        elif request.method != "ACK":
            self._reply(request, 501)

    def _on_notify(self, request: SipRequest) -> None:
        self._notifies_seen += 1
        branch = request.branch or ""
        if not self.online:
            self._note("NOTIFY", "unanswered")
            return
        if branch in self._answered:  # a retransmission: same answer, no second reboot
            self._note("NOTIFY", "retransmission")
            assert self._sip is not None
            self._sip.send(self._answered[branch], request.source)
            return
        behaviour = self.sip_behaviour
        if behaviour == "drop_first_notify" and self._notifies_seen == 1:
            self._note("NOTIFY", "dropped")
            return
        if behaviour == "ignore_notify":
            self._note("NOTIFY", "ignored")
            return
        event = (request.header("event") or "").replace(" ", "").lower()
        if not event.startswith("check-sync"):
            self._note("NOTIFY", f"489 for event {event!r}")
            self._answered[branch] = self._reply(request, 489)
            return
        if behaviour == "reject_notify":
            self._note("NOTIFY", str(self.reject_code))
            self._answered[branch] = self._reply(request, self.reject_code)
            return
        if self.notify_delay > 0:
            self._note("NOTIFY", "100")
            self._answered[branch] = self._reply(request, 100)
            self._spawn(self._accept_later(request, event))
        else:
            self._accept(request, event)

    async def _accept_later(self, request: SipRequest, event: str) -> None:
        await asyncio.sleep(self.notify_delay)
        self._accept(request, event)

    def _accept(self, request: SipRequest, event: str) -> None:
        self._note("NOTIFY", "200")
        self._answered[request.branch or ""] = self._reply(request, 200)
        if self.sip_behaviour == "no_restart":
            return
        self._spawn(self._reboot() if "reboot=true" in event else self._fetch())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reboot(self) -> None:
        self.online = False
        self.reboots += 1
        self._note("REBOOT", "down")
        if self.sip_behaviour == "never_back":
            return
        await asyncio.gather(asyncio.sleep(self.reboot_seconds), self._fetch())
        self.online = True
        self._note("REBOOT", "up")

    async def _fetch(self) -> None:
        if self.config_fetch is None:
            return
        name = self.config_name
        try:
            data = await self.config_fetch(name)
        except Exception as exc:  # the phone just boots with its old config
            self._note("FETCH", f"{name} failed: {exc!r}")
            return
        if data is None:
            self._note("FETCH", f"{name} missing")
            return
        self.fetched_configs.append(data)
        self._note("FETCH", f"{name} {len(data)} bytes")

    # ------------------------------------------------------------ CGI

    def _credentials(self, request: web.Request) -> tuple[str | None, str | None]:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None, None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None, None
        return user, password

    async def _cgi(self, request: web.Request) -> web.Response:
        form = await request.post()
        xml = str(form.get("XML", ""))
        user, password = self._credentials(request)
        self.cgi_requests.append(CgiRequest(request.content_type, xml, user))
        if self.cgi_delay > 0:
            await asyncio.sleep(self.cgi_delay)
        if self.web_username is not None and (
            user != self.web_username or (password or "") != (self.web_password or "")
        ):
            self._note("CGI", "credentials refused")
            return _cisco_error(4)
        if self.cgi_error is not None:
            self._note("CGI", f"error {self.cgi_error}")
            return _cisco_error(self.cgi_error)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        try:
            root = etree.fromstring(xml.encode(), parser)
        except etree.XMLSyntaxError:
            self._note("CGI", "unparsable request")
            return _cisco_error(1)
        urls = [item.get("URL", "") for item in root.iter("ExecuteItem")]
        if root.tag != "CiscoIPPhoneExecute" or not urls:
            self._note("CGI", "unparsable request")
            return _cisco_error(1)
        self._note("CGI", ",".join(urls))
        items = "".join(f'<ResponseItem Status="0" Data="Success" URL="{url}"/>' for url in urls)
        return web.Response(
            text=f"<CiscoIPPhoneResponse>{items}</CiscoIPPhoneResponse>",
            content_type="text/xml",
        )


# ---------------------------------------------------------------- config_fetch helpers


def folder_fetch(directory: Path) -> ConfigFetch:
    """The phone fetches its config from a local folder (the TFTP root)."""

    async def fetch(name: str) -> bytes | None:
        path = Path(directory) / name
        return await asyncio.to_thread(lambda: path.read_bytes() if path.is_file() else None)

    return fetch


def ftp_fetch(url: str) -> ConfigFetch:
    """The phone downloads its config from ``ftp://user:password@host:port/dir``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 21
    user = unquote(parts.username or "anonymous")
    password = unquote(parts.password or "anonymous@")
    directory = unquote(parts.path).strip("/")

    async def fetch(name: str) -> bytes | None:
        path = f"{directory}/{name}" if directory else name
        async with aioftp.Client.context(host, port, user, password) as client:
            try:
                async with client.download_stream(path) as stream:
                    return await stream.read()
            except aioftp.StatusCodeError:
                return None

    return fetch

"""SIP OPTIONS probes of many phones over one UDP socket per process.

The request is the deploy pipeline's (``app.deploy.wire.sip``); responses are matched
to their probe by the top Via's branch, as RFC 3261 §17.1.3 does (or, for a peer that
drops the branch, by Call-ID). One socket serves every probe: a dual-stack IPv6 socket
where the host has IPv6 (IPv4 phones are reached through IPv4-mapped addresses), an
IPv4 one otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

from app.deploy.wire.sip import (
    OPTIONS_EXTRA,
    build_request,
    new_branch,
    new_call_id,
    parse_response,
    sip_target,
)

log = logging.getLogger(__name__)

# CONTRACT §9: any final response within this many seconds means the phone is up.
ANSWER_WAIT = 2.0
# Local addresses remembered per phone address (for the Via header), at most.
_ROUTE_CACHE = 65_536


class _Probe:
    __slots__ = ("call_id", "future", "sent_at")

    def __init__(self, call_id: str, future: asyncio.Future[float], sent_at: float) -> None:
        self.call_id = call_id
        self.future = future
        self.sent_at = sent_at


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, prober: OptionsProber) -> None:
        self.prober = prober

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.prober._received(data)

    def error_received(self, exc: Exception) -> None:  # ICMP errors: the probe times out
        pass


class OptionsProber:
    """Sends OPTIONS and waits for their final responses; at most ``concurrency``
    probes await an answer at once."""

    def __init__(self, concurrency: int, wait: float = ANSWER_WAIT) -> None:
        self.wait = wait
        self._slots = asyncio.Semaphore(concurrency)
        self._pending: dict[str, _Probe] = {}  # branch -> probe
        self._by_call_id: dict[str, str] = {}  # call id -> branch
        self._transport: asyncio.DatagramTransport | None = None
        self._dual_stack = False
        self._port = 0
        self._tag = secrets.token_hex(5)
        self._routes: dict[str, str] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = None
        if socket.has_ipv6:
            with contextlib.suppress(OSError):
                sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                sock.bind(("::", 0))
                self._dual_stack = True
        if not self._dual_stack:
            if sock is not None:
                sock.close()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("0.0.0.0", 0))
        assert sock is not None
        sock.setblocking(False)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Socket(self), sock=sock)
        self._transport = transport
        self._port = int(transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for probe in self._pending.values():
            if not probe.future.done():
                probe.future.cancel()
        self._pending.clear()
        self._by_call_id.clear()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def probe(
        self, host: str, port: int, on_send: Callable[[], None] | None = None
    ) -> float | None:
        """The round trip (seconds) of an OPTIONS to ``host:port`` answered by a final
        response within :attr:`wait`, else ``None``. ``on_send`` is called as it goes out
        (after waiting for a free slot)."""
        async with self._slots:
            return await self._probe(host, port, on_send)

    async def _probe(
        self, host: str, port: int, on_send: Callable[[], None] | None
    ) -> float | None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return None
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None  # phones are given by address; nothing is resolved here
        if address.version == 6 and not self._dual_stack:
            return None
        destination = (
            f"::ffff:{address}" if self._dual_stack and address.version == 4 else str(address)
        )
        local = self._local_host(address)
        branch, call_id = new_branch(), new_call_id(local)
        message = build_request(
            "OPTIONS",
            sip_target(str(address), port),
            local,
            self._port,
            tag=self._tag,
            cseq=1,
            call_id=call_id,
            branch=branch,
            extra=OPTIONS_EXTRA,
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        probe = _Probe(call_id, future, time.monotonic())
        self._pending[branch] = probe
        self._by_call_id[call_id] = branch
        try:
            if on_send is not None:
                on_send()
            try:
                transport.sendto(message, (destination, port))
            except OSError:
                return None
            try:
                return await asyncio.wait_for(future, self.wait)
            except TimeoutError:
                return None
        finally:
            self._pending.pop(branch, None)
            self._by_call_id.pop(call_id, None)

    def _received(self, data: bytes) -> None:
        response = parse_response(data)
        if response is None or response.status < 200:
            return  # provisional (or not a response): keep waiting for the final one
        cseq = response.cseq
        if cseq is None or cseq[1] != "OPTIONS":
            return
        branch = response.branch
        if branch is None or branch not in self._pending:
            branch = self._by_call_id.get(response.headers.get("call-id", ""))
        probe = self._pending.get(branch) if branch else None
        if probe is not None and not probe.future.done():
            probe.future.set_result(time.monotonic() - probe.sent_at)

    def _local_host(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
        """This host's address towards the phone, as a SIP URI writes it (for Via and
        Contact): found by routing (a connected UDP socket sends nothing), remembered."""
        key = str(address)
        found = self._routes.get(key)
        if found is not None:
            return found
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((key, 9))
                local = str(s.getsockname()[0])
        except OSError:
            local = "0.0.0.0" if address.version == 4 else "::"
        found = f"[{local}]" if ":" in local else local
        if len(self._routes) >= _ROUTE_CACHE:
            self._routes.clear()
        self._routes[key] = found
        return found

"""Restarting a phone and waiting for it, over SIP on UDP (CONTRACT §5.3 and §5.4).

Only the two requests the pipeline needs are spoken: a ``NOTIFY`` with
``Event: check-sync;reboot=true`` (sent as an RFC 3261 non-INVITE client transaction)
and ``OPTIONS`` probes. Each call uses its own UDP socket on an ephemeral port.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.deploy.wire.errors import Guard, PhoneStepError, guarded

T1 = 0.5  # RFC 3261 round-trip estimate
T2 = 4.0  # cap of the non-INVITE retransmission interval
TIMER_F = 64 * T1  # a non-INVITE transaction gives up after 32 s

USER_AGENT = "PhoneGraph"

# Told of each OPTIONS probe's outcome: the final status (None: unanswered), round trip (s).
ProbeOutcome = Callable[[int | None, float], Awaitable[None]]

RESTARTED = "phone restarted and is back online"
NOT_RESTARTED = "phone kept answering and did not appear to restart"

# RFC 3261 §7.3.3 compact header names.
_COMPACT = {
    "v": "via",
    "i": "call-id",
    "f": "from",
    "t": "to",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "o": "event",
}
_BRANCH = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)
_STATUS_LINE = re.compile(r"^SIP/2\.0\s+(\d{3})\s*(.*)$", re.IGNORECASE)


@dataclass
class SipResponse:
    """A response received from the phone (only what matching needs)."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case name -> first value

    @property
    def branch(self) -> str | None:
        top_via = self.headers.get("via", "").split(",")[0]
        found = _BRANCH.search(top_via)
        return found.group(1) if found else None

    @property
    def cseq(self) -> tuple[int, str] | None:
        parts = self.headers.get("cseq", "").split()
        if len(parts) != 2 or not parts[0].isdigit():
            return None
        return int(parts[0]), parts[1].upper()


def parse_response(datagram: bytes) -> SipResponse | None:
    """Parse a SIP response; anything else (requests, garbage) gives ``None``."""
    try:
        text = datagram.decode("utf-8")
    except UnicodeDecodeError:
        text = datagram.decode("latin-1")
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    lines = re.split(r"\r?\n", head)
    matched = _STATUS_LINE.match(lines[0].strip())
    if not matched:
        return None
    headers: dict[str, str] = {}
    last: str | None = None
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last is not None:
            headers[last] += " " + line.strip()  # folded continuation line
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        key = _COMPACT.get(key, key)
        last = None
        if key not in headers:  # the first (topmost) occurrence is the one that counts
            headers[key] = value.strip()
            last = key
    return SipResponse(int(matched.group(1)), matched.group(2).strip(), headers)


class _Inbox(asyncio.DatagramProtocol):
    """Collects datagrams; notes ICMP "port unreachable" (nothing listens there)."""

    def __init__(self) -> None:
        # None stands for an ICMP "port unreachable": it wakes a waiting response().
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.refused = False

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, ConnectionRefusedError):
            self.refused = True
            self.queue.put_nowait(None)


def _host_in_uri(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def sip_target(host: str, port: int) -> str:
    """``host:port`` as a SIP URI writes it (IPv6 addresses in brackets)."""
    return f"{_host_in_uri(host)}:{port}"


def build_request(
    method: str,
    target: str,
    local_host: str,
    local_port: int,
    *,
    tag: str,
    cseq: int,
    call_id: str,
    branch: str,
    extra: tuple[str, ...] = (),
) -> bytes:
    """A SIP request without a body from ``local_host:local_port`` (as URIs write them)
    to ``target`` (see :func:`sip_target`)."""
    lines = [
        f"{method} sip:{target} SIP/2.0",
        f"Via: SIP/2.0/UDP {local_host}:{local_port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:phonegraph@{local_host}>;tag={tag}",
        f"To: <sip:{target}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:phonegraph@{local_host}:{local_port}>",
        *extra,
        f"User-Agent: {USER_AGENT}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def new_call_id(local_host: str) -> str:
    """A fresh Call-ID (requests outside a dialog each get one, RFC 3261 §8.1.1.4)."""
    return f"{secrets.token_hex(8)}@{local_host}"


# What an OPTIONS probe asks for (RFC 3261 §11.1).
OPTIONS_EXTRA = ("Accept: application/sdp",)


class _SipPeer:
    """A UDP socket connected to one phone, with this side's dialog identifiers."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    async def __aenter__(self) -> _SipPeer:
        loop = asyncio.get_running_loop()
        try:
            transport, inbox = await loop.create_datagram_endpoint(
                _Inbox, remote_addr=(self.host, self.port)
            )
        except socket.gaierror:
            raise PhoneStepError(f"phone unreachable: unknown host {self.host!r}") from None
        except OSError as exc:
            raise PhoneStepError(
                f"phone unreachable: cannot reach {self.host}:{self.port} ({exc.strerror or exc})"
            ) from None
        self.transport = transport
        self.inbox = inbox
        local = transport.get_extra_info("sockname")
        self.local_host = _host_in_uri(str(local[0]))
        self.local_port = int(local[1])
        self.tag = secrets.token_hex(5)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.transport.close()

    @property
    def target(self) -> str:
        return sip_target(self.host, self.port)

    def request(
        self, method: str, cseq: int, call_id: str, branch: str, extra: tuple[str, ...] = ()
    ) -> bytes:
        return build_request(
            method,
            self.target,
            self.local_host,
            self.local_port,
            tag=self.tag,
            cseq=cseq,
            call_id=call_id,
            branch=branch,
            extra=extra,
        )

    def new_call_id(self) -> str:
        return new_call_id(self.local_host)

    def send(self, message: bytes) -> None:
        self.transport.sendto(message)

    async def response(
        self,
        method: str,
        cseq: int,
        call_id: str,
        branch: str,
        wait: float,
        *,
        stop_if_refused: bool = False,
    ) -> SipResponse | None:
        """The next response of this transaction within ``wait`` seconds, else ``None``.

        A response belongs to the transaction when its top Via carries our branch and its
        CSeq method is ours (RFC 3261 §17.1.3); peers that drop the branch are matched by
        Call-ID and CSeq instead. With ``stop_if_refused``, an ICMP "port unreachable"
        ends the wait early (``None``; ``inbox.refused`` tells).
        """
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                datagram = await asyncio.wait_for(self.inbox.queue.get(), left)
            except TimeoutError:
                return None
            if datagram is None:
                if stop_if_refused:
                    return None
                continue
            response = parse_response(datagram)
            if response is None or response.cseq is None:
                continue
            number, cseq_method = response.cseq
            if cseq_method != method:
                continue
            if response.branch is not None:
                if response.branch == branch:
                    return response
            elif response.headers.get("call-id") == call_id and number == cseq:
                return response
        return None


def new_branch() -> str:
    """A branch with the RFC 3261 magic cookie, unique per transaction."""
    return "z9hG4bK" + secrets.token_hex(10)


async def send_reboot_notify(
    host: str, port: int, timeout: float, *, guard: Guard | None = None
) -> int:
    """Ask the phone to restart: ``NOTIFY`` ``check-sync;reboot=true``.

    Retransmits like RFC 3261 Timer E (T1 doubling, capped at T2, every T2 once a
    provisional answer came) until a final response, for at most ``min(32 s, timeout)``.
    An ICMP "port unreachable" is a transport error that ends the transaction at once
    (RFC 3261 §17.1.4): nothing listens there, so retransmitting cannot help.
    Returns the 2xx status; raises :class:`PhoneStepError` on no answer or a refusal.
    ``guard`` runs before every (re)transmission.
    """
    check = guarded(guard)
    limit = min(TIMER_F, timeout)
    async with _SipPeer(host, port) as peer:
        call_id, branch = peer.new_call_id(), new_branch()
        notify = peer.request(
            "NOTIFY",
            1,
            call_id,
            branch,
            ("Event: check-sync;reboot=true", "Subscription-State: terminated"),
        )
        start = time.monotonic()
        deadline = start + limit
        interval = T1
        next_send = start
        while True:
            now = time.monotonic()
            if now >= deadline or peer.inbox.refused:
                hint = f" (nothing listens on {peer.target})" if peer.inbox.refused else ""
                raise PhoneStepError(
                    f"phone unreachable: no answer to NOTIFY after {limit:.1f} s{hint}"
                )
            if now >= next_send:
                check()
                peer.send(notify)
                next_send = now + interval
                interval = min(interval * 2, T2)
            wait = min(next_send, deadline) - now
            response = await peer.response(
                "NOTIFY", 1, call_id, branch, wait, stop_if_refused=True
            )
            if response is None:
                continue
            if response.status < 200:
                interval = T2  # Proceeding: keep retransmitting, every T2
                continue
            if response.status < 300:
                return response.status
            raise PhoneStepError(
                f"phone rejected the NOTIFY: {response.status} {response.reason}".rstrip()
            )


async def wait_for_restart(
    host: str,
    port: int,
    timeout: float,
    *,
    grace: float = 10.0,
    interval: float = 1.0,
    guard: Guard | None = None,
    on_probe: ProbeOutcome | None = None,
) -> str:
    """Probe with ``OPTIONS`` every ``interval`` s until the phone is back; return a message.

    The phone is back when it answers 2xx after having missed at least one probe. If it
    never misses one for ``grace`` seconds it probably ignored the restart: that is still
    a success, with a message saying so. No such answer within ``timeout`` seconds raises
    :class:`PhoneStepError`. ``guard`` runs before every probe; ``on_probe`` is awaited
    after each with the final response's status (``None``: no answer within ``interval``)
    and the round trip in seconds.
    """
    check = guarded(guard)
    start = time.monotonic()
    deadline = start + timeout
    grace = min(grace, timeout)
    missed = False
    last_refusal: SipResponse | None = None
    async with _SipPeer(host, port) as peer:
        while True:
            probe_start = time.monotonic()
            if probe_start >= deadline:
                break
            # Requests outside a dialog each get a fresh Call-ID (RFC 3261 §8.1.1.4).
            call_id, branch = peer.new_call_id(), new_branch()
            check()
            peer.send(peer.request("OPTIONS", 1, call_id, branch, OPTIONS_EXTRA))
            answer: SipResponse | None = None
            while answer is None or answer.status < 200:
                left = min(probe_start + interval, deadline) - time.monotonic()
                answer = await peer.response("OPTIONS", 1, call_id, branch, max(left, 0))
                if answer is None:
                    break
            if on_probe is not None:
                await on_probe(
                    answer.status if answer is not None else None,
                    time.monotonic() - probe_start,
                )
            if answer is not None and 200 <= answer.status < 300:
                if missed:
                    return RESTARTED
                if time.monotonic() - start >= grace:
                    return NOT_RESTARTED
            else:
                # Silence, or a refusal such as 503 from a phone still booting.
                missed = True
                if answer is not None:
                    last_refusal = answer
            pause = probe_start + interval - time.monotonic()
            if pause > 0:
                await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0)))
    detail = ""
    if last_refusal is not None:
        detail = f" (it answered OPTIONS with {last_refusal.status} {last_refusal.reason})"
    raise PhoneStepError(f"phone did not come back within {timeout:g} s{detail}")

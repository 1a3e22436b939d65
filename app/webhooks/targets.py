"""Where a webhook may post (CONTRACT §11): http or https, to a public address.

A host that is — or resolves to — a loopback, link-local, private, reserved,
unspecified or multicast address (or a cloud metadata service) is refused unless
``PHONEGRAPH_WEBHOOK_ALLOW_PRIVATE=1``. Unspecified and multicast addresses are never a
webhook's, whatever the setting. The check is made when the URL is given, and again at
every delivery on the addresses the host resolves to then; the connection goes to an
address just checked (:class:`CheckedResolver`), so a name that changes what it resolves
to between the check and the connection (DNS rebinding) reaches nothing it should not.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from typing import Any
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from aiohttp.resolver import DefaultResolver
from yarl import URL

from app.core.networks import NEVER_BY_DEFAULT, Address
from app.settings import get_settings

# The longest a URL's host may take to resolve, when it is given and at each delivery.
RESOLVE_TIMEOUT = 5.0
URL_MAX_LENGTH = 2048


class TargetRefused(Exception):
    """The URL, or an address its host resolves to, is not one a webhook may reach."""


# IPv6 prefixes that carry an IPv4 address in their last 32 bits and lead to it: NAT64
# (RFC 6052 well-known and local-use) and the deprecated IPv4-compatible ::a.b.c.d.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPATIBLE = ipaddress.ip_network("::/96")


def _plain(address: Address) -> Address:
    """The IPv4 address an IPv6 address leads to (mapped, 6to4, NAT64, compatible), so
    it is judged as that address; any other address as it is."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    if any(address in net for net in _NAT64):
        return embedded
    if address in _COMPATIBLE and int(address) > 1:  # not :: nor ::1
        return embedded
    return address


def address_allowed(address: str, allow_private: bool | None = None) -> bool:
    """Whether a webhook may connect to the IP address ``address`` (text)."""
    if allow_private is None:
        allow_private = get_settings().webhook_allow_private
    try:
        ip = _plain(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return False
    if ip.is_unspecified or ip.is_multicast:
        return False
    if allow_private:
        return True
    if any(ip.version == net.version and ip in net for net in NEVER_BY_DEFAULT):
        return False
    return ip.is_global and not (ip.is_loopback or ip.is_link_local or ip.is_private)


def parse_url(url: str) -> SplitResult:
    """The parts of a webhook URL; :class:`TargetRefused` saying why it is not one."""
    if len(url) > URL_MAX_LENGTH:
        raise TargetRefused(f"url must be at most {URL_MAX_LENGTH} characters")
    if any(ord(c) < 33 for c in url):
        raise TargetRefused("url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as exc:
        raise TargetRefused("url is not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("url must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("url has no host")
    host = client_host(url)
    if is_ip_address(host) and literal_address(host) is None:
        # The HTTP client takes it for an address without a name lookup (2130706433,
        # 0177.0.0.1, 127.1): only plain IPv4 and IPv6 addresses are, here too.
        raise TargetRefused("url's host is not a valid IP address")
    if literal_address(host) is None:
        try:
            host.encode("idna")  # what the name lookup does with it
        except UnicodeError:
            raise TargetRefused(
                "url's host is not a valid host name (empty label, or one over 63 characters)"
            ) from None
    return parts


def client_host(url: str) -> str:
    """The host the HTTP client connects to, as it reads the URL (yarl: IDNA-folded, so
    full-width digits become ASCII; IPv6 brackets removed). Checks look at this host, not
    at another parser's idea of it."""
    try:
        host = URL(url).raw_host
    except ValueError as exc:
        raise TargetRefused("url is not a valid URL") from exc
    if not host:
        raise TargetRefused("url has no host")
    return host


def literal_address(host: str) -> str | None:
    """``host`` when it is an IP address (brackets of IPv6 removed), else ``None``."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (bounded by :data:`RESOLVE_TIMEOUT`)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise TargetRefused(f"the host {host!r} could not be resolved") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_url(url: str) -> str:
    """A webhook URL given by an admin: refused (:class:`TargetRefused`) when it is not
    http(s) or its host is or resolves to an address a webhook may not reach."""
    parts = parse_url(url)
    host = client_host(url)
    literal = literal_address(host)
    addresses = [literal] if literal else await resolve(host, parts.port or 80)
    if not addresses or not all(address_allowed(a) for a in addresses):
        raise TargetRefused(
            "url points to a loopback, link-local, private or otherwise non-public address "
            "(allowed only with PHONEGRAPH_WEBHOOK_ALLOW_PRIVATE=1)"
        )
    return url


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses a webhook may reach: the
    connection goes to an address checked at this very moment."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if address_allowed(r["host"])]
        if not allowed:
            raise OSError(
                errno.EADDRNOTAVAIL,
                "the host resolves to no address a webhook may reach "
                "(PHONEGRAPH_WEBHOOK_ALLOW_PRIVATE)",
            )
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def check_literal_at_delivery(url: str) -> None:
    """aiohttp connects to a host it takes for an IP address without asking the
    resolver: such a host is checked here, at every delivery (the setting may have
    changed), read as aiohttp reads it (:func:`client_host`)."""
    parse_url(url)
    host = client_host(url)
    literal = literal_address(host)
    if is_ip_address(host) and (literal is None or not address_allowed(literal)):
        raise TargetRefused("the url's address is not one a webhook may reach")


def describe(exc: BaseException) -> str:
    """A short account of a failed attempt, for ``lastError`` (never the URL or a secret)."""
    text: Any = getattr(exc, "strerror", None) or getattr(
        getattr(exc, "os_error", None), "strerror", None
    )
    name = type(exc).__name__
    return f"{name}: {text}"[:500] if text else name

"""Which addresses the server may contact as phones, and whose ``X-Forwarded-For`` it
believes (CONTRACT §12).

``PHONEGRAPH_PHONE_NETWORKS`` lists the networks phones live in; by default every
address but loopback, link-local, unspecified and multicast ones. Unspecified and
multicast addresses are never a phone's, whatever the list says (a connection to
``0.0.0.0`` reaches the server's own host). An IPv4-mapped IPv6 address
(``::ffff:127.0.0.1``) is judged as the IPv4 address it stands for.

The default also leaves out what is never a phone but often something worth reaching
from a server: "this network" ``0.0.0.0/8`` (Linux connects ``0.0.0.1`` to the host
itself), the reserved ``240.0.0.0/4`` and broadcast, and the cloud metadata services
that are not link-local (``fd00:ec2::254``, ``100.100.100.200``). Operators should still
name their phone networks: by default every private range is allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from app.settings import Network, get_settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


NEVER_BY_DEFAULT = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "100.100.100.200/32",
        "fd00:ec2::254/128",
    )
)


def _plain(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: str, networks: Iterable[Network]) -> bool:
    """Whether ``address`` (text) is an IP address inside one of ``networks``."""
    try:
        ip = _plain(ipaddress.ip_address(address.strip()))
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def phone_address_allowed(address: str) -> bool:
    """Whether the server may send to a phone at ``address``, by the settings in force."""
    return address_in_phone_networks(address, get_settings().phone_networks)


def address_in_phone_networks(address: str, networks: tuple[Network, ...] | None) -> bool:
    """Whether ``address`` (an IP address as text; a host name never is: what it resolves
    to could change after the check) is in ``networks`` (``None``: the default ones)."""
    try:
        ip = _plain(ipaddress.ip_address(address.strip()))
    except ValueError:
        return False
    if ip.is_unspecified or ip.is_multicast:
        return False
    if networks is None:
        return not (ip.is_loopback or ip.is_link_local or in_networks(str(ip), NEVER_BY_DEFAULT))
    return any(ip.version == net.version and ip in net for net in networks)

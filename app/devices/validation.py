"""Field rules of devices: each cleaner checks one input value and returns it
normalised, or raises a ``UserInputError`` naming the field's GraphQL path."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from app.core.errors import invalid, required
from app.core.networks import phone_address_allowed
from app.core.validation import Path, optional_text

TEMPLATE_FILENAME_MAX = 128
TEMPLATE_CONTENT_MAX = 256 * 1024
_TEMPLATE_FILENAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_CODEC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,31}$")
_EXTENSION = re.compile(r"^[0-9]{3,64}$")
_IPUI = re.compile(r"^[0-9A-Fa-f]{10}$")
CODECS_MAX = 32
HANDSET_INDEX_MAX = 1000


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def ip_address(value: Any, path: Path) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        address = str(ipaddress.ip_address(str(value).strip()))
    except ValueError as exc:
        raise invalid("ipAddress must be an IPv4 or IPv6 address", *path) from exc
    if not phone_address_allowed(address):
        # CONTRACT §12: the server never sends to an address outside the phone networks.
        raise invalid(
            f"{address} is outside the networks phones may be in (PHONEGRAPH_PHONE_NETWORKS)",
            *path,
        )
    return address


def web_username(value: Any, path: Path) -> str | None:
    """The login the server sends to the phone's CGI with HTTP Basic auth, which cannot
    carry a ':' (it separates user and password) nor control characters."""
    text = optional_text(128)(value, path)
    if text is not None and (":" in text or any(ord(c) < 32 or ord(c) == 127 for c in text)):
        raise invalid("webUsername must not contain ':' or control characters", *path)
    return text


def port(value: Any, path: Path) -> int:
    if value is None:
        raise required(*path)
    if not 1 <= int(value) <= 65535:
        raise invalid(f"{path[-1]} must be between 1 and 65535", *path)
    return int(value)


def timezone(value: Any, path: Path, *, nullable: bool = True) -> str | None:
    text = optional_text(64)(value, path)
    if text is None:
        if nullable:
            return None
        raise required(*path)
    if text not in _timezones():
        raise invalid(f"{text!r} is not an IANA time zone (e.g. Europe/London)", *path)
    return text


def codecs(value: Any, path: Path) -> list[str]:
    if value is None:
        return []
    if len(value) > CODECS_MAX:
        raise invalid(f"at most {CODECS_MAX} codecs", *path)
    seen: set[str] = set()
    out: list[str] = []
    for i, codec in enumerate(value):
        name = str(codec).strip()
        if not _CODEC.match(name):
            raise invalid(f"{codec!r} is not a codec name", *path, str(i))
        if name.upper() in seen:
            raise invalid(f"{name} is listed twice", *path, str(i))
        seen.add(name.upper())
        out.append(name)
    return out


def template_filename(value: Any, path: Path) -> str:
    if value is None or value == "":
        raise required(*path)
    name = str(value)
    if len(name) > TEMPLATE_FILENAME_MAX:
        raise invalid(f"filename must be at most {TEMPLATE_FILENAME_MAX} characters", *path)
    if not _TEMPLATE_FILENAME.match(name) or ".." in name:
        raise invalid(
            "filename may hold only letters, digits, '.', '_' and '-', must not start "
            "with '.' and must not contain '..'",
            *path,
        )
    return name


def extension_number(value: Any, path: Path) -> str:
    text = "" if value is None else str(value)
    if not _EXTENSION.match(text):
        raise invalid("extensionNumber must be 3 to 64 digits", *path)
    return text


def handset_index(value: Any, path: Path) -> int | None:
    if value is None:
        return None
    if not 1 <= int(value) <= HANDSET_INDEX_MAX:
        raise invalid(f"handsetIndex must be between 1 and {HANDSET_INDEX_MAX}", *path)
    return int(value)


def ipui(value: Any, path: Path) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not _IPUI.match(text):
        raise invalid("ipui must be 10 hex digits", *path)
    return text.upper()

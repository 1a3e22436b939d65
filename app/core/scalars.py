"""The MacAddress scalar (DateTime is Strawberry's own)."""

from __future__ import annotations

import json
import re
from typing import NewType

import strawberry

_HEX12 = re.compile(r"^[0-9A-Fa-f]{12}$")
_SHOWN = 40  # characters of a refused value repeated in its error message


class InvalidScalarValue(ValueError):
    """A value a custom scalar refuses; its message is complete and meant for the client
    (the API answers it as a top-level error with ``extensions.code`` ``INVALID``)."""


def shown(value: object) -> str:
    """``value`` as a client wrote it, in JSON, cut short if long."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def normalize_mac(value: str) -> str:
    """``aa:bb:cc:dd:ee:01`` / ``AABB.CCDD.EE01`` / ``aabbccddee01`` → ``AABBCCDDEE01``.

    Raises ValueError for anything else.
    """
    if not isinstance(value, str):
        raise InvalidScalarValue(f"{shown(value)} is not a MAC address: {_MAC_FORMS}")
    raw = value.strip()
    if _HEX12.match(raw):
        return raw.upper()
    for sep, group in ((":", 2), ("-", 2), (".", 4)):
        parts = raw.split(sep)
        if len(parts) == 12 // group and all(
            len(p) == group and _HEX12.match(p.rjust(12, "0")) for p in parts
        ):
            return "".join(parts).upper()
    raise InvalidScalarValue(f"{shown(value)} is not a MAC address: {_MAC_FORMS}")


_MAC_FORMS = "give 12 hex digits, bare or separated by ':', '-' or '.' (AA:BB:CC:DD:EE:01)"


def format_mac(mac12: str) -> str:
    """``AABBCCDDEE01`` → ``AA:BB:CC:DD:EE:01``."""
    m = mac12
    return f"{m[0:2]}:{m[2:4]}:{m[4:6]}:{m[6:8]}:{m[8:10]}:{m[10:12]}"


_FORMATTED = re.compile(r"^(?:[0-9A-F]{2}:){5}[0-9A-F]{2}$")


def _serialize_mac(value: str) -> str:
    # Values the server formatted itself go out as they are; anything else is normalized.
    if isinstance(value, str) and _FORMATTED.match(value):
        return value
    return format_mac(normalize_mac(value))


def _parse_mac(value: object) -> str:
    return normalize_mac(value)  # type: ignore[arg-type]


MacAddress = strawberry.scalar(
    NewType("MacAddress", str),
    name="MacAddress",
    description=(
        "A MAC address. Accepted on input as 12 hex digits in any case, bare or separated "
        "by ':', '-' or '.' (AABBCCDDEE01, aa:bb:cc:dd:ee:01, aabb.ccdd.ee01). Always "
        'returned as upper-case colon form: "AA:BB:CC:DD:EE:01". Anything else is a '
        "validation error."
    ),
    serialize=_serialize_mac,
    parse_value=_parse_mac,
)

"""Opaque global IDs: base64 of ``Type:pk``."""

from __future__ import annotations

import base64
import binascii

from app.core.errors import BadRequestError, ErrorCode, UserInputError


def to_global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def parse_global_id(value: str) -> tuple[str, int] | None:
    """``(type name, pk)``, or ``None`` when ``value`` is not one of our ids."""
    if not isinstance(value, str) or not value or len(value) > 200:
        return None
    try:
        padded = value + "=" * (-len(value) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, sep, pk = text.partition(":")
    # ASCII digits only: int() also reads other scripts' digits (a second spelling of an
    # id) and refuses some str.isdigit() accepts (superscripts).
    if not sep or not type_name.isidentifier() or not (pk.isascii() and pk.isdigit()):
        return None
    if len(pk) > 18:
        return None
    return type_name, int(pk)


def decode_id(value: str, expected: str, *field: str) -> int:
    """The pk of an id of type ``expected``; a NOT_FOUND userError otherwise."""
    parsed = parse_global_id(value)
    if parsed is None or parsed[0] != expected:
        raise UserInputError(ErrorCode.NOT_FOUND, f"No {expected} with id {value!r}", field or None)
    return parsed[1]


def decode_arg(value: str, type_name: str, arg: str) -> int:
    """The pk of an id passed to a query argument or filter (malformed: a top-level
    BAD_USER_INPUT error, as queries have no userErrors)."""
    parsed = parse_global_id(str(value))
    if parsed is None or parsed[0] != type_name:
        raise BadRequestError(f"'{arg}' is not a {type_name} id.")
    return parsed[1]

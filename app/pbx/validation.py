"""Field rules of the hosted PBX: the cleaners of its values (see app.core.validation)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from app.core.errors import invalid, required
from app.core.validation import Path, optional_text

EXTENSION_MAX = 64
_DIGITS = re.compile(r"^[0-9]+$")
# Usernames and group/queue names: what SIP URIs and dial plans accept without quoting.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
_PHONE_NUMBER_NOISE = re.compile(r"[\s().-]")

PIN_MIN, PIN_MAX = 4, 16
PASSWORD_MAX = 128
RING_SECS_MAX = 600
RING_ATTEMPTS_MAX = 100

#: The only variables a callerNameFormat may use.
CALLER_NAME_VARIABLES = frozenset({"displayName", "srcPhoneNumber", "dgrpName"})


# ---------------------------------------------------------------- PBX values


def extension_number(value: Any, path: Path) -> str:
    """Digits only (an extension is dialled)."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise required(*path)
    if not _DIGITS.match(text) or len(text) > EXTENSION_MAX:
        raise invalid(f"{path[-1]} must be 1 to {EXTENSION_MAX} digits", *path)
    return text


def sip_name(value: Any, path: Path) -> str:
    """A username, group or queue name: letters, digits, '.', '_' and '-'."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise required(*path)
    if len(text) > 128 or not _NAME.match(text):
        raise invalid(
            f"{path[-1]} may hold only letters, digits, '.', '_' and '-' (at most 128, "
            "starting with a letter or digit)",
            *path,
        )
    return text


def dns_name(value: Any, path: Path) -> str:
    """A fully qualified domain name, returned in lower case without a trailing dot."""
    name = str(value).strip().lower() if value is not None else ""
    if not name:
        raise required(*path)
    name = name.removesuffix(".")
    labels = name.split(".")
    if (
        len(name) > 253
        or len(labels) < 2
        or not all(_DNS_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise invalid(f"{value!r} is not a DNS name such as pbx.example.net", *path)
    return name


def password(value: Any, path: Path) -> str:
    """A SIP password: phones need it back, so it cannot be cleared, only replaced."""
    if value is None or value == "":
        raise required(*path)
    text = str(value)
    if len(text) > PASSWORD_MAX:
        raise invalid(f"password must be at most {PASSWORD_MAX} characters", *path)
    if any(ord(c) < 32 for c in text):
        raise invalid("password may not contain control characters", *path)
    return text


def pin(value: Any, path: Path) -> str | None:
    """A hot-desking PIN: digits; null or empty clears it."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not _DIGITS.match(text) or not PIN_MIN <= len(text) <= PIN_MAX:
        raise invalid(f"pin must be {PIN_MIN} to {PIN_MAX} digits", *path)
    return text


def email(value: Any, path: Path) -> str | None:
    text = optional_text(254)(value, path)
    if text is not None and not _EMAIL.match(text):
        raise invalid(f"{text!r} is not an e-mail address", *path)
    return text


def phone_number(value: Any, path: Path) -> str | None:
    """A dialable number: optional '+', then digits (spaces, dots, dashes, brackets dropped)."""
    text = optional_text(64)(value, path)
    if text is None:
        return None
    compact = _PHONE_NUMBER_NOISE.sub("", text)
    if not _PHONE_NUMBER.match(compact):
        raise invalid(f"{text!r} is not a phone number (digits, optionally a leading '+')", *path)
    return compact


def caller_name_format(value: Any, path: Path) -> str | None:
    """A callerNameFormat such as ``{displayName} - {srcPhoneNumber}``; null or empty clears.

    Only the variables of :data:`CALLER_NAME_VARIABLES` may appear, each in one pair of
    braces; an unknown name or an unbalanced brace is refused.
    """
    text = optional_text(200)(value, path)
    if text is None:
        return None
    i = 0
    while i < len(text):
        c = text[i]
        if c == "}":
            raise invalid("callerNameFormat has a '}' without its '{'", *path)
        if c == "{":
            end = text.find("}", i + 1)
            nested = text.find("{", i + 1)
            if end == -1 or (nested != -1 and nested < end):
                raise invalid("callerNameFormat has a '{' without its '}'", *path)
            name = text[i + 1 : end]
            if name not in CALLER_NAME_VARIABLES:
                allowed = ", ".join("{" + v + "}" for v in sorted(CALLER_NAME_VARIABLES))
                raise invalid(
                    f"callerNameFormat may use only {allowed}; {{{name}}} is unknown", *path
                )
            i = end + 1
            continue
        i += 1
    return text


def network(value: Any, path: Path) -> str:
    """A CIDR network, normalised: host bits cleared (10.0.20.10/24 → 10.0.20.0/24)."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise required(*path)
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError as exc:
        raise invalid(f"{text!r} is not a CIDR network such as 10.0.20.0/24", *path) from exc

"""The one validation style: cleaners, one per input field, collected over an input.

A cleaner takes ``(value, path)`` — ``path`` is the GraphQL path of the field, e.g.
``("input", "extensionNumber")`` — and returns the value normalised, or raises a
``UserInputError`` naming the field. :func:`clean_input` runs a set of them over a
partial input and reports every bad field at once. Each domain keeps the cleaners of its
own values in its ``validation`` module; the generic ones are here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from app.core.errors import UserError, UserInputError, UserInputErrors, invalid, required
from app.core.scalars import normalize_mac

Path = tuple[str, ...]
Cleaner = Callable[[Any, Path], Any]


def camel(name: str) -> str:
    """``extension_number`` → ``extensionNumber`` (GraphQL field names in error paths)."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def clean_input(
    data: Mapping[str, Any],
    cleaners: Mapping[str, Cleaner],
    *,
    prefix: Path = ("input",),
    create: Iterable[str] = (),
) -> dict[str, Any]:
    """Clean the fields of a partial input that were sent.

    ``create`` names fields that must be present (creation): they are cleaned as if sent
    as null when left out, so their cleaners report them REQUIRED. Every problem is
    collected, then raised together.
    """
    wanted = dict(data)
    for name in create:
        wanted.setdefault(name, None)
    out: dict[str, Any] = {}
    errors: list[UserError] = []
    for name, value in wanted.items():
        cleaner = cleaners.get(name)
        if cleaner is None:
            continue
        try:
            out[name] = cleaner(value, (*prefix, camel(name)))
        except UserInputError as exc:
            errors.extend(exc.errors)
    if errors:
        raise UserInputErrors(errors)
    return out


def raise_all(errors: list[UserError]) -> None:
    if errors:
        raise UserInputErrors(errors)


# ---------------------------------------------------------------- generic cleaners


def required_text(max_length: int) -> Cleaner:
    """Non-blank text, trimmed; null or blank is REQUIRED."""

    def clean(value: Any, path: Path) -> str:
        text = str(value).strip() if value is not None else ""
        if not text:
            raise required(*path)
        if len(text) > max_length:
            raise invalid(f"{path[-1]} must be at most {max_length} characters", *path)
        return text

    return clean


def optional_text(max_length: int) -> Cleaner:
    """Text, trimmed; null or blank clears it."""

    def clean(value: Any, path: Path) -> str | None:
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        if len(text) > max_length:
            raise invalid(f"{path[-1]} must be at most {max_length} characters", *path)
        return text

    return clean


def flag(value: Any, path: Path) -> bool:
    """A switch: it is on or off, never unknown."""
    if value is None:
        raise required(*path)
    return bool(value)


def int_between(low: int, high: int | None) -> Cleaner:
    def clean(value: Any, path: Path) -> int:
        if value is None:
            raise required(*path)
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise invalid(f"{path[-1]} must be {bounds}", *path)
        return int(value)

    return clean


def present(value: Any, path: Path) -> Any:
    """Any value but null."""
    if value is None:
        raise required(*path)
    return value


def secret(max_length: int = 128) -> Cleaner:
    """A password as sent (not trimmed: spaces may be part of it); empty or null clears."""

    def clean(value: Any, path: Path) -> str | None:
        if value is None or value == "":
            return None
        if len(value) > max_length:
            raise invalid(f"{path[-1]} must be at most {max_length} characters", *path)
        if any(ord(c) < 32 for c in value):
            raise invalid(f"{path[-1]} must not contain control characters", *path)
        return str(value)

    return clean


def as_sent(value: Any, path: Path) -> Any:
    """A value GraphQL has already typed (an enum), taken as it is; null clears."""
    return value


# ---------------------------------------------------------------- query arguments

# The longest text a list's `search` may hold: longer than any name it could match, short
# enough that no database refuses the LIKE pattern or spends long on it.
SEARCH_MAX_LENGTH = 200


def argument_text(value: str | None, max_length: int, arg: str) -> str | None:
    """A text argument of a query (a filter's field, a lookup key), trimmed (blank: not
    given). Longer than ``max_length`` — more than the column it is compared with holds,
    which the ORM refuses to send — is a top-level error naming the argument, not the
    value (queries have no payload for userErrors)."""
    from app.core.errors import BadRequestError

    text = (value or "").strip()
    if len(text) > max_length:
        raise BadRequestError(f"'{arg}' must be at most {max_length} characters.")
    return text or None


def mac_input(value: str, *field: str) -> str:
    """A MAC address given to a mutation, as stored (12 upper-case hex digits); one that
    is not is a userError ``INVALID`` on ``field``."""
    try:
        return normalize_mac(value)
    except ValueError as exc:
        raise invalid(str(exc), *field) from None


def mac_argument(value: str) -> str:
    """A MAC address given to a query (a filter's ``mac``), as stored; one that is not is
    a top-level error (queries have no payload for userErrors)."""
    from app.core.errors import BadRequestError

    try:
        return normalize_mac(value)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


def search_text(value: str | None, arg: str = "filter.search") -> str | None:
    """A filter's ``search``; every filter's ``search`` goes through it."""
    return argument_text(value, SEARCH_MAX_LENGTH, arg)

"""The one error convention: ``userErrors`` for bad input and refusals, top-level
errors (with ``extensions.code``) for malformed requests and access failures."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Any, ParamSpec, TypeVar

import strawberry
from graphql import GraphQLError
from tortoise.exceptions import IntegrityError


@strawberry.enum(description="Machine-readable reason of a userError.")
class ErrorCode(Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    IN_USE = "IN_USE"
    INCOMPATIBLE = "INCOMPATIBLE"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"
    # Hot-desk login refused for a while after too many wrong PINs.
    LOCKED = "LOCKED"


@strawberry.type(description="A problem with the input of a mutation.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the offending input field, e.g. ["input", "extensionNumber"].'
    )
    message: str
    code: ErrorCode


class UserInputError(Exception):
    """Raised by services; turned into ``userErrors`` by :func:`returns_user_errors`."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        field: Sequence[str] | None = None,
        *,
        more: Sequence[UserError] = (),
    ) -> None:
        super().__init__(message)
        self.errors = [UserError(field=list(field) if field else None, message=message, code=code)]
        self.errors.extend(more)


class UserInputErrors(UserInputError):
    """Several problems found at once."""

    def __init__(self, errors: Sequence[UserError]) -> None:
        Exception.__init__(self, "; ".join(e.message for e in errors))
        self.errors = list(errors)


def invalid(message: str, *field: str) -> UserInputError:
    return UserInputError(ErrorCode.INVALID, message, field or None)


def required(*field: str) -> UserInputError:
    return UserInputError(ErrorCode.REQUIRED, f"{field[-1]} is required", field or None)


def not_found(what: str, *field: str) -> UserInputError:
    return UserInputError(ErrorCode.NOT_FOUND, f"{what} not found", field or None)


def duplicate(message: str, *field: str) -> UserInputError:
    return UserInputError(ErrorCode.DUPLICATE, message, field or None)


def in_use(message: str, *field: str) -> UserInputError:
    return UserInputError(ErrorCode.IN_USE, message, field or None)


def conflict(message: str, *field: str) -> UserInputError:
    return UserInputError(ErrorCode.CONFLICT, message, field or None)


def incompatible(message: str, *field: str) -> UserInputError:
    return UserInputError(ErrorCode.INCOMPATIBLE, message, field or None)


def locked(message: str, *field: str) -> UserInputError:
    return UserInputError(ErrorCode.LOCKED, message, field or None)


def forbidden_input(message: str, *field: str) -> UserInputError:
    return UserInputError(ErrorCode.FORBIDDEN, message, field or None)


class AccessError(GraphQLError):
    """A top-level error: missing/invalid credentials or forbidden access."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, extensions={"code": code})


def unauthenticated(message: str = "A valid API token is required.") -> AccessError:
    return AccessError("UNAUTHENTICATED", message)


def forbidden(message: str = "You may not do this.") -> AccessError:
    return AccessError("FORBIDDEN", message)


class BadRequestError(GraphQLError):
    """A top-level error for malformed arguments of queries (no payload to carry them)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT"})


P = ParamSpec("P")
R = TypeVar("R")


def returns_user_errors(
    payload: Callable[..., R],
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a mutation resolver so domain errors become ``payload(user_errors=…)``.

    An ``IntegrityError`` that slipped past the service's own checks (a race between two
    requests) becomes a DUPLICATE error rather than an internal one.

    Every Mutation field is decorated with this, so it is also where each call made with
    a token is recorded in the audit log, in the transaction of its change
    (:func:`app.core.audit.recorded`).
    """

    def decorator(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await fn(*args, **kwargs)
            except UserInputError as exc:
                return payload(user_errors=exc.errors)
            except IntegrityError:
                return payload(
                    user_errors=[
                        UserError(
                            field=None,
                            message="This would break a uniqueness or reference rule.",
                            code=ErrorCode.DUPLICATE,
                        )
                    ]
                )

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            from app.core.audit import Call, recorded

            info = _info_in(args, kwargs)
            viewer = getattr(getattr(info, "context", None), "viewer", None)
            if info is None or viewer is None:
                # Without a token nothing but introspection runs (RequireAuthentication).
                return await run(*args, **kwargs)
            arguments = {k: v for k, v in kwargs.items() if v is not info}
            call = Call(operation=info.field_name, arguments=arguments, viewer=viewer)
            return await recorded(call, lambda: run(*args, **kwargs))

        wrapper.__audited__ = True  # type: ignore[attr-defined]
        return wrapper

    return decorator


def _info_in(args: tuple[object, ...], kwargs: dict[str, object]) -> Any:
    from strawberry.types import Info

    for value in (*kwargs.values(), *args):
        if isinstance(value, Info):
            return value
    return None


def payload_type(name: str, field: str, of: type, description: str | None = None) -> type:
    """The payload of a mutation that returns one object: ``field`` (the object, null on
    failure) and ``userErrors``. One definition for the many payloads of that shape."""
    namespace = {
        "__annotations__": {field: of | None, "user_errors": list[UserError]},
        "__module__": of.__module__,
        "__doc__": description,
        field: None,
        "user_errors": strawberry.field(default_factory=list),
    }
    return strawberry.type(type(name, (), namespace), description=description)

"""Fields a domain adds to a type of a domain below it.

Dependencies run one way (core ← pbx ← devices ← profiles ← deploy), yet a lower type
often shows what a higher domain knows of it: ``Company.phones`` (devices),
``SipUser.phoneProfiles`` (profiles), ``Phone.deployJobs`` (deploy). The higher domain
contributes such a field with :func:`field_of`; the lower one never imports it. The
schema is assembled (``app.schema``) after every domain has been imported, so every
contribution is in place before the GraphQL types are built; fields appear after the
type's own, in the order the domains are imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types.base import has_object_definition

F = TypeVar("F", bound=Callable[..., Any])


def field_of(
    target: type, *, description: str | None = None, name: str | None = None
) -> Callable[[F], F]:
    """Decorate a resolver ``(self: target, info, ...)`` to add it as a field of ``target``."""
    if not has_object_definition(target):
        raise TypeError(f"{target!r} is not a Strawberry type")

    def decorate(resolver: F) -> F:
        field = strawberry.field(resolver=resolver, description=description)
        field.name = name or resolver.__name__
        definition = target.__strawberry_definition__  # type: ignore[attr-defined]
        if any(f.python_name == field.name for f in definition.fields):
            raise ValueError(f"{target.__name__}.{field.name} is defined already")
        field.origin = target
        definition.fields.append(field)
        return resolver

    return decorate

"""One definition per closed set: the storage enum, exposed to GraphQL as it is."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import strawberry

E = TypeVar("E", bound=type[Enum])


def graphql_enum(enum: E, description: str, **value_descriptions: str) -> E:
    """Expose the storage ``enum`` as a GraphQL enum, with descriptions of its values.

    Rows' values are then returned as they are, and there is no second list of the
    same names to keep in step."""
    exposed = strawberry.enum(enum, description=description)
    unknown = set(value_descriptions) - {m.name for m in enum}
    if unknown:
        raise ValueError(f"{enum.__name__} has no value {sorted(unknown)}")
    for value in exposed.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = value_descriptions.get(value.name, value.description)
    return exposed

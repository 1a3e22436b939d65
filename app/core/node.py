"""The Relay ``Node`` interface and the registry ``node``/``nodes`` resolve through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from tortoise.models import Model

from app.core.auth import Viewer
from app.core.ids import parse_global_id
from app.core.loaders import Loaders
from app.core.scope import visible


@strawberry.interface(description="An object with an opaque global ID.")
class Node:
    id: strawberry.ID


@dataclass(frozen=True)
class NodeKind:
    model: type[Model]
    to_node: Callable[[Any], Any]


_REGISTRY: dict[str, NodeKind] = {}


def register_node(type_name: str, model: type[Model], to_node: Callable[[Any], Any]) -> None:
    """Make ``node(id)`` resolve ids of ``type_name`` (called by each domain's types)."""
    _REGISTRY[type_name] = NodeKind(model, to_node)


async def resolve_nodes(ids: list[str], viewer: Viewer, loaders: Loaders) -> list[Any]:
    """The nodes for ``ids`` in order; ``None`` for unknown or out-of-scope ids.

    One query per object type, however many ids are asked for.
    """
    wanted: dict[str, set[int]] = {}
    parsed = [parse_global_id(i) for i in ids]
    for p in parsed:
        if p is not None and p[0] in _REGISTRY:
            wanted.setdefault(p[0], set()).add(p[1])
    found: dict[tuple[str, int], Any] = {}
    for type_name, pks in wanted.items():
        kind = _REGISTRY[type_name]
        for row in await visible(kind.model, viewer).filter(id__in=pks):
            found[(type_name, row.id)] = kind.to_node(row)
    return [found.get(p) if p else None for p in parsed]

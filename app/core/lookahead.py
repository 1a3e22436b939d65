"""Loading a page's nested fields ahead, from the query's selection.

A list resolver that has its page of rows calls :func:`load_ahead_connection`: for
every field of the selection that a domain registered a *prefetch* for, the values of
the whole page are loaded at once through the same per-request DataLoaders the field's
resolver reads, level by level down the selection. The resolvers then find their values
loaded (:func:`app.core.loaders.now_or_later`) and return them without a task, an await
or a batch of their own — the number of statements is what it was (one per level), the
work per row is not.

A prefetch is ``fn(info, parent_rows, arguments) -> child_rows``: it loads what the
field shows for every parent through the field's own loader (so scoping is exactly the
resolver's) and returns the rows the next level works on, or ``None`` when it cannot
load ahead for these arguments (the resolver then loads as usual). ``arguments`` are
the field's, coerced as its resolver gets them. Fields nobody registered, and
everything under them, load as they always did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import (
    VariableValues,
    get_argument_values,
    get_directive_values,
)

Prefetch = Callable[[Any, list[Any], dict[str, Any]], Awaitable[list[Any] | None]]

_PREFETCH: dict[tuple[str, str], Prefetch] = {}


def prefetch(type_name: str, field: str) -> Callable[[Prefetch], Prefetch]:
    """Register how to load ``type_name.field`` (GraphQL names) for a page of parents."""

    def register(fn: Prefetch) -> Prefetch:
        _PREFETCH[(type_name, field)] = fn
        return fn

    return register


class _Walk:
    def __init__(self, info: Any) -> None:
        raw = info._raw_info  # graphql-core's info: the schema, fragments and variables
        self.info = info
        self.schema = raw.schema
        self.fragments = raw.fragments
        # The coerced variables, as graphql-core's argument coercion takes them.
        self.variables = VariableValues(sources={}, coerced=dict(raw.variable_values or {}))

    def _included(self, node: Any) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip.get("if") is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include and include.get("if") is False)

    def _applies(self, condition: Any, type_: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        name = condition.name.value
        return name == type_.name or any(i.name == name for i in type_.interfaces)

    def fields(
        self, sets: Iterable[SelectionSetNode], type_: GraphQLObjectType
    ) -> Iterator[FieldNode]:
        for selection_set in sets:
            for node in selection_set.selections:
                if not self._included(node):
                    continue
                if isinstance(node, FieldNode):
                    yield node
                elif isinstance(node, InlineFragmentNode):
                    if self._applies(node.type_condition, type_):
                        yield from self.fields([node.selection_set], type_)
                elif isinstance(node, FragmentSpreadNode):
                    fragment = self.fragments.get(node.name.value)
                    if fragment is not None and self._applies(fragment.type_condition, type_):
                        yield from self.fields([fragment.selection_set], type_)

    def object_type(self, type_: Any) -> GraphQLObjectType | None:
        named = get_named_type(type_)
        return named if isinstance(named, GraphQLObjectType) else None

    def connection_nodes(
        self, sets: Iterable[SelectionSetNode], connection: GraphQLObjectType
    ) -> tuple[GraphQLObjectType | None, list[SelectionSetNode]]:
        """The node type of a connection and the selections of its nodes (under
        ``nodes`` and ``edges { node }``)."""
        nodes_field = connection.fields.get("nodes")
        edges_field = connection.fields.get("edges")
        if nodes_field is None or edges_field is None:
            return None, []
        node_type = self.object_type(nodes_field.type)
        edge_type = self.object_type(edges_field.type)
        out: list[SelectionSetNode] = []
        for field in self.fields(sets, connection):
            if field.selection_set is None:
                continue
            if field.name.value == "nodes":
                out.append(field.selection_set)
            elif field.name.value == "edges" and edge_type is not None:
                for edge_field in self.fields([field.selection_set], edge_type):
                    if edge_field.name.value == "node" and edge_field.selection_set:
                        out.append(edge_field.selection_set)
        return node_type, out

    async def level(
        self, type_: GraphQLObjectType, rows: list[Any], sets: list[SelectionSetNode]
    ) -> None:
        if not rows or not sets:
            return
        work = []
        for field in self.fields(sets, type_):
            fetch = _PREFETCH.get((type_.name, field.name.value))
            definition = type_.fields.get(field.name.value)
            if fetch is not None and definition is not None:
                work.append(self._descend(fetch, definition, field, rows))
        if work:
            await asyncio.gather(*work)

    async def _descend(
        self, fetch: Prefetch, definition: Any, field: FieldNode, rows: list[Any]
    ) -> None:
        arguments = get_argument_values(definition, field, self.variables)
        children = await fetch(self.info, rows, arguments)
        child = self.object_type(definition.type)
        if not children or child is None or field.selection_set is None:
            return
        sets = [field.selection_set]
        if child.name.endswith("Connection"):
            child, sets = self.connection_nodes(sets, child)
            if child is None:
                return
        await self.level(child, children, sets)


async def load_ahead_connection(info: Any, rows: list[Any]) -> None:
    """Load ahead, for the page ``rows`` of the connection field being resolved
    (``info`` of its resolver), what the query selects of its nodes."""
    if not rows:
        return
    walk = _Walk(info)
    connection = walk.object_type(info._raw_info.return_type)
    if connection is None:
        return
    sets = [n.selection_set for n in info._raw_info.field_nodes if n.selection_set]
    node_type, below = walk.connection_nodes(sets, connection)
    if node_type is not None:
        await walk.level(node_type, rows, below)


def flatten(lists: Iterable[Iterable[Any] | None]) -> list[Any]:
    return [row for rows in lists if rows for row in rows]


def present(values: Iterable[Any]) -> list[Any]:
    """The distinct non-null values, in their first order."""
    return list(dict.fromkeys(v for v in values if v is not None))

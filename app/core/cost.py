"""What a request may cost (CONTRACT §12): the query node budget (GitHub's node-limit
algorithm), and the bounds every request meets before its validation
(:class:`RequestBounds`).

A query's possible result size is the sum, over its connections, of the connection's
page size (``first``/``last``, or the default page size) times the page sizes of every
connection it is nested in. Plain lists count as one: a list of a connection's
``nodes``/``edges`` is already counted by the connection, and other lists are short —
except ``nodes(ids:)``, which counts as many as its ids.
A query whose possible size is over ``PHONEGRAPH_MAX_QUERY_NODES`` is refused after
validation, before anything runs.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from app.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from app.settings import Settings, get_settings

CODE = "QUERY_TOO_LARGE"
PAGE_ARGUMENTS = ("first", "last")
SKIPPED_FIELDS = {"__schema", "__type", "__typename"}  # introspection stays cheap


def is_connection(type_: GraphQLNamedType | None) -> bool:
    """Whether a field returning ``type_`` is a page of a list (``Connection[T]``)."""
    return isinstance(type_, GraphQLObjectType) and type_.name.endswith("Connection")


class _Counter:
    """Counts one operation's possible nodes.

    The count of a selection is linear in the multiplier it is reached with, so each
    named fragment is counted once per unit multiplier and reused at every spread:
    fragments spreading others several times cost no more to count than to read, and
    a fragment cycle (refused by validation anyway) counts as nothing.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.fragment_costs: dict[str, int] = {}
        self.counting: set[str] = set()

    def selection_set(self, selections: SelectionSetNode | None, parent: Any) -> int:
        """Possible nodes below ``selections`` per item of ``parent``."""
        if selections is None:
            return 0
        total = 0
        for sel in selections.selections:
            if not self.included(sel):
                continue
            if isinstance(sel, FieldNode):
                total += self.field(sel, parent)
            elif isinstance(sel, InlineFragmentNode):
                type_ = self.named_type(sel.type_condition) if sel.type_condition else parent
                total += self.selection_set(sel.selection_set, type_)
            elif isinstance(sel, FragmentSpreadNode):
                total += self.fragment(sel.name.value)
        return total

    def field(self, node: FieldNode, parent: Any) -> int:
        name = node.name.value
        if name in SKIPPED_FIELDS:
            return 0
        field_def = self.field_def(parent, name)
        if field_def is None or node.selection_set is None:
            return 0
        type_ = get_named_type(field_def.type)
        if is_connection(type_):
            size = self.page_size(node, field_def)
            return size + size * self.selection_set(node.selection_set, type_)
        if name == "nodes" and parent is self.schema.query_type:
            # A list as long as its ids (repeats included), each item as costly as its
            # selection: not a short plain list.
            size = self.list_length(node, "ids")
            return size + size * self.selection_set(node.selection_set, type_)
        return self.selection_set(node.selection_set, type_)

    def list_length(self, node: FieldNode, argument: str) -> int:
        for arg in node.arguments or ():
            if arg.name.value != argument:
                continue
            if isinstance(arg.value, ListValueNode):
                return len(arg.value.values)
            if isinstance(arg.value, VariableNode):
                raw = self.variables.get(arg.value.name.value)
                return len(raw) if isinstance(raw, list) else 1
            return 1
        return 1

    def fragment(self, name: str) -> int:
        if name in self.fragment_costs:
            return self.fragment_costs[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.counting:
            return 0
        self.counting.add(name)
        cost = self.selection_set(
            definition.selection_set, self.named_type(definition.type_condition)
        )
        self.counting.discard(name)
        self.fragment_costs[name] = cost
        return cost

    def page_size(self, node: FieldNode, field_def: GraphQLField) -> int:
        sizes = [
            size
            for arg in node.arguments or ()
            if arg.name.value in PAGE_ARGUMENTS and (size := self.int_value(arg.value)) is not None
        ]
        if not sizes:
            default = field_def.args.get("first")
            value = default.default_value if default is not None else None
            sizes = [value if _is_int(value) else DEFAULT_PAGE_SIZE]
        # Negative or larger-than-allowed sizes are refused by the connection itself.
        return min(max(max(sizes), 0), MAX_PAGE_SIZE)

    def int_value(self, value: ValueNode) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            raw = self.variables.get(value.name.value)
            return raw if _is_int(raw) else None
        return None  # null, or a value validation would have refused

    def included(self, node: Any) -> bool:
        """``@skip``/``@include`` as execution will apply them (unknown: included)."""
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            value = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
            if isinstance(value, BooleanValueNode):
                condition = value.value
            elif isinstance(value, VariableNode):
                condition = self.variables.get(value.name.value)
            else:
                continue
            if not isinstance(condition, bool):
                continue
            if condition == (name == "skip"):
                return False
        return True

    def named_type(self, node: Any) -> GraphQLNamedType | None:
        return self.schema.get_type(node.name.value) if node is not None else None

    @staticmethod
    def field_def(parent: Any, name: str) -> GraphQLField | None:
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return parent.fields.get(name)
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _variables(
    operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The operation's variables, with the defaults its definitions give (literals only)."""
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        default = definition.default_value
        if isinstance(default, IntValueNode):
            values[definition.variable.name.value] = int(default.value)
        elif isinstance(default, BooleanValueNode):
            values[definition.variable.name.value] = default.value
    if isinstance(variables, Mapping):
        values.update(variables)
    return values


def possible_nodes(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """How many nodes the operation could return, by GitHub's node-limit algorithm.

    Only the operation to be executed is counted (``operation_name``, or the largest of
    them when no name is given: a document of several needs one to run at all).
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    roots = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }
    costs = [0]
    for op in document.definitions:
        if not isinstance(op, OperationDefinitionNode):
            continue
        if operation_name is not None and (op.name is None or op.name.value != operation_name):
            continue
        counter = _Counter(schema, fragments, _variables(op, variables))
        costs.append(counter.selection_set(op.selection_set, roots.get(op.operation)))
    return max(costs)


def query_too_large(nodes: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"This query could return up to {nodes:,} nodes; the limit is {limit:,} "
        "(PHONEGRAPH_MAX_QUERY_NODES). Ask for fewer items with first/last.",
        extensions={"code": CODE},
    )


# Validation runs here, beside the event loop, so that no document keeps the server from
# answering other requests (/healthz) while it is checked; two at a time at most, so a
# flood of them queues instead of crowding out the event loop's share of the CPU.
_VALIDATION_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="graphql-validate")

# Query texts found valid, with what their rules depended on: a valid document stays
# valid for the same schema and limits, so it is not validated again (frontends send the
# same few documents all day). Only valid texts are kept, at most VALID_CACHE_SIZE, the
# least recently used dropped first: invalid or one-off texts cannot grow it.
VALID_CACHE_SIZE = 512
_valid: OrderedDict[tuple[Any, ...], None] = OrderedDict()


def _valid_key(ctx: Any) -> tuple[Any, ...] | None:
    if not isinstance(ctx.query, str):
        return None
    s = get_settings()
    return (id(ctx.schema), ctx.query, s.max_query_depth, s.max_aliases, s.max_tokens)


def _remember_valid(key: tuple[Any, ...]) -> None:
    _valid[key] = None
    _valid.move_to_end(key)
    while len(_valid) > VALID_CACHE_SIZE:
        _valid.popitem(last=False)


class QueryNodeBudget(SchemaExtension):
    """Refuses an operation whose possible result size is over ``max_nodes``.

    Validation rules cannot see the variables, so this extension runs validation
    itself in ``on_validate`` (with the rules every extension added, as Strawberry
    would; in a worker thread, see ``_VALIDATION_POOL``) and, on a valid document only,
    adds the budget's error: Strawberry then skips its own validation and answers with
    these errors before anything executes, over HTTP and WebSocket alike. (A validation
    cache keyed on the document alone must not come after this extension: the count
    depends on the variables.)
    """

    def __init__(self, max_nodes: int) -> None:
        super().__init__()
        self.max_nodes = max_nodes

    async def on_validate(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None:
            errors = ctx.pre_execution_errors  # validated (or refused) by an earlier extension?
            key = _valid_key(ctx) if errors is None else None
            if key is not None and key in _valid:
                _valid.move_to_end(key)
                errors = []
            elif errors is None:
                errors = await asyncio.get_running_loop().run_in_executor(
                    _VALIDATION_POOL,
                    validate_document,
                    ctx.schema._schema,
                    document,
                    ctx.validation_rules,
                )
                if not errors and key is not None:
                    _remember_valid(key)
            if not errors:
                nodes = possible_nodes(
                    ctx.schema._schema, document, ctx.variables, ctx.operation_name
                )
                if nodes > self.max_nodes:
                    errors = [query_too_large(nodes, self.max_nodes)]
            ctx.pre_execution_errors = errors
        yield


# ---------------------------------------------------------------- bounds before validation

INPUT_TOO_LARGE = "INPUT_TOO_LARGE"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
# Pairs of same-named fields one merged selection set may hold: graphql-core's
# "fields can be merged" rule compares every such pair (and their sub-selections), so
# 1,240 repeated fields cost it seconds; real queries hold a few dozen pairs.
MAX_FIELD_PAIRS = 5_000
# Steps the pre-validation walk may take (fields visited with fragments expanded).
MAX_WALK_STEPS = 50_000
INTROSPECTION_ROOTS = ("__schema",)
# Where introspection starts (below them, each field may be asked for once per selection).
INTROSPECTION_FIELDS = ("__schema", "__type")


def too_large(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": INPUT_TOO_LARGE})


def too_complex(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": QUERY_TOO_COMPLEX})


def check_variables(variables: Any, max_items: int, max_values: int) -> None:
    """Refuse variables holding a list longer than ``max_items`` or more than
    ``max_values`` values in all (the document's own values count as its tokens).
    Walked iteratively, before graphql-core coerces anything."""
    if not isinstance(variables, Mapping):
        return
    stack: list[tuple[Any, str]] = [(v, f"${k}") for k, v in variables.items()]
    seen = 0
    while stack:
        value, path = stack.pop()
        seen += 1
        if seen > max_values:
            raise too_large(f"The variables hold more than {max_values:,} values.")
        if isinstance(value, list):
            if len(value) > max_items:
                raise too_large(
                    f"{path} is a list of {len(value):,} items; at most {max_items:,} "
                    "are accepted (PHONEGRAPH_MAX_LIST_ITEMS)."
                )
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, Mapping):
            stack.extend((v, f"{path}.{k}") for k, v in value.items())


class _DocumentWalk:
    """One pass over a parsed document before validation: list literals within
    ``max_items``, same-named fields of each merged selection set within
    :data:`MAX_FIELD_PAIRS` pairs in all, at most one ``__schema`` per operation. Named
    fragments are expanded (each once per selection set, as graphql-core does), and
    the walk itself stops after :data:`MAX_WALK_STEPS` steps."""

    def __init__(self, document: DocumentNode, max_items: int) -> None:
        self.max_items = max_items
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.steps = 0
        self.pairs = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_WALK_STEPS:
            raise too_complex("This document is too complex to check; send a simpler one.")

    def values(self, node: Any) -> None:
        stack = [node]
        while stack:
            value = stack.pop()
            self.step()
            if isinstance(value, ListValueNode):
                if len(value.values) > self.max_items:
                    raise too_large(
                        f"A list of {len(value.values):,} items; at most {self.max_items:,} "
                        "are accepted (PHONEGRAPH_MAX_LIST_ITEMS)."
                    )
                stack.extend(value.values)
            elif isinstance(value, ObjectValueNode):
                stack.extend(f.value for f in value.fields)

    def fields_of(self, selection_sets: list[SelectionSetNode]) -> dict[str, list[FieldNode]]:
        """The fields of these selection sets by response name, fragments flattened."""
        by_name: dict[str, list[FieldNode]] = {}
        spread: set[str] = set()
        stack = [sel for ss in selection_sets for sel in ss.selections]
        while stack:
            sel = stack.pop()
            self.step()
            if isinstance(sel, FieldNode):
                name = sel.alias.value if sel.alias else sel.name.value
                by_name.setdefault(name, []).append(sel)
                for arg in sel.arguments or ():
                    self.values(arg.value)
            elif isinstance(sel, InlineFragmentNode):
                stack.extend(sel.selection_set.selections)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in spread:
                spread.add(sel.name.value)
                fragment = self.fragments.get(sel.name.value)
                if fragment is not None:
                    stack.extend(fragment.selection_set.selections)
        return by_name

    def operation(self, op: OperationDefinitionNode) -> None:
        for definition in op.variable_definitions or ():
            if definition.default_value is not None:
                self.values(definition.default_value)
        root = self.fields_of([op.selection_set])
        schemas = [name for name, fields in root.items() if fields[0].name.value == "__schema"]
        if len(schemas) > 1:
            raise too_complex(
                f"{len(schemas)} copies of __schema; ask for the schema once per operation."
            )
        self.merged(root)

    def fragment(self, definition: FragmentDefinitionNode) -> None:
        # graphql-core checks each fragment's own selections too, used or not.
        self.merged(self.fields_of([definition.selection_set]))

    def merged(self, root: dict[str, list[FieldNode]]) -> None:
        pending = [(root, False)]
        while pending:
            by_name, introspection = pending.pop()
            if introspection:
                self.introspected_once(by_name)
            for fields in by_name.values():
                k = len(fields)
                self.pairs += k * (k - 1) // 2
                if self.pairs > MAX_FIELD_PAIRS:
                    raise too_complex(
                        "This operation repeats the same fields too often (fields of one "
                        "name in one selection are compared pairwise); ask for each once."
                    )
                subs = [f.selection_set for f in fields if f.selection_set is not None]
                if subs:
                    inside = introspection or fields[0].name.value in INTROSPECTION_FIELDS
                    pending.append((self.fields_of(subs), inside))

    @staticmethod
    def introspected_once(by_name: dict[str, list[FieldNode]]) -> None:
        """Inside introspection each field once per selection: aliased copies of
        ``types`` or ``fields`` would multiply a multi-megabyte answer at no cost in
        tokens (the schema is the same every time it is asked)."""
        seen: set[str] = set()
        for fields in by_name.values():
            name = fields[0].name.value
            if name in seen:
                raise too_complex(
                    f"{name} is asked for more than once in one selection of the schema's "
                    "introspection; ask for it once."
                )
            seen.add(name)


def check_document(document: DocumentNode, max_items: int) -> None:
    """Refuse, before validation, what would make validation or execution costly."""
    walk = _DocumentWalk(document, max_items)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk.operation(definition)
        elif isinstance(definition, FragmentDefinitionNode):
            walk.fragment(definition)


class RequestBounds(SchemaExtension):
    """Bounds every request meets before its validation (and before its variables are
    coerced), with or without a token (CONTRACT §12): the document no bigger than an
    HTTP body and of at most ``PHONEGRAPH_MAX_TOKENS`` tokens (the parser stops there,
    see MaxTokensLimiter), the variables' lists within ``PHONEGRAPH_MAX_LIST_ITEMS`` and
    their values within the token budget, and the document's shape
    (:func:`check_document`). Must come first among the extensions."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def on_validate(self) -> Iterator[None]:
        # Refusals become the request's errors (Strawberry then skips validation): over
        # HTTP and both WebSocket protocols alike, which an exception raised from a
        # hook would not be.
        ctx = self.execution_context
        if ctx.pre_execution_errors is None:
            try:
                self.check(ctx.query, ctx.variables, ctx.graphql_document)
            except GraphQLError as error:
                ctx.pre_execution_errors = [error]
        yield

    def check(self, query: str | None, variables: Any, document: DocumentNode | None) -> None:
        limit = self.settings.max_body_bytes
        if query is not None and len(query) > limit:
            raise GraphQLError(
                f"The document is over {limit:,} bytes (PHONEGRAPH_MAX_BODY_BYTES).",
                extensions={"code": "PAYLOAD_TOO_LARGE"},
            )
        check_variables(variables, self.settings.max_list_items, self.settings.max_tokens)
        if document is not None:
            check_document(document, self.settings.max_list_items)

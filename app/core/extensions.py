"""Schema extensions: authentication gate, abuse limits, error masking."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

from graphql import GraphQLError, OperationDefinitionNode
from graphql.language import FieldNode, FragmentSpreadNode, InlineFragmentNode
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from app.core.cost import QueryNodeBudget, RequestBounds
from app.core.errors import AccessError, BadRequestError, unauthenticated
from app.core.scalars import InvalidScalarValue
from app.settings import get_settings

log = logging.getLogger("app.errors")

INTROSPECTION_FIELDS = {"__schema", "__type", "__typename"}


def _only_introspection(execution_context) -> bool:  # type: ignore[no-untyped-def]
    document = execution_context.graphql_document
    if document is None:
        return False
    fragments = {
        d.name.value: d
        for d in document.definitions
        if hasattr(d, "selection_set") and not isinstance(d, OperationDefinitionNode)
    }
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    name = execution_context.operation_name
    if name:
        ops = [o for o in ops if o.name and o.name.value == name]
    seen: set[str] = set()

    def fields(selection_set) -> Iterator[str]:  # type: ignore[no-untyped-def]
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                yield sel.name.value
            elif isinstance(sel, InlineFragmentNode):
                yield from fields(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                seen.add(sel.name.value)
                frag = fragments.get(sel.name.value)
                if frag is not None:
                    yield from fields(frag.selection_set)

    return all(f in INTROSPECTION_FIELDS for op in ops for f in fields(op.selection_set))


class RequireAuthentication(SchemaExtension):
    """Every operation but introspection needs a valid token (CONTRACT §4).

    Decided before validation, so a caller without a token gets no validation work done
    for it: the refusal is a request error, answered before anything else is checked
    (no ``data``, and 400 under ``application/graphql-response+json``)."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        viewer = getattr(ctx.context, "viewer", None)
        if viewer is None and ctx.pre_execution_errors is None and not _only_introspection(ctx):
            problem = getattr(ctx.context, "auth_problem", None)
            error = unauthenticated(problem) if problem else unauthenticated()
            ctx.pre_execution_errors = [error]
        yield


def _should_mask(error: GraphQLError) -> bool:
    """Mask only internal errors; validation, access and input errors stay readable."""
    original = error.original_error
    if original is None:
        return False  # parse/validation errors
    if isinstance(original, (AccessError, BadRequestError)):
        return False
    if isinstance(original, GraphQLError):
        return False
    # Scalar parse failures (a malformed MacAddress) arrive as ValueError/TypeError
    # during argument coercion: they are the client's, not ours.
    if error.path is None and isinstance(original, (ValueError, TypeError)):
        return False
    log.error("internal error", exc_info=original)
    return True


# graphql-core's wording around a custom scalar's refusal, which repeats the value and
# quotes the scalar's own message again: "Expected value of type 'MacAddress', but
# encountered error ''zz' is not…'; found: "zz"."
_WRAPPED_SCALAR_ERROR = re.compile(
    r"Expected value of type '[^']*', but encountered error '.*'; found: .*\.$", re.DOTALL
)
# The built-in scalars' refusals ("Int cannot represent non-integer value: "x"").
_BUILT_IN_SCALAR_ERROR = re.compile(r"\b(Int|Float|String|Boolean|ID) cannot represent\b")


def _root_error(error: GraphQLError) -> BaseException | None:
    cause: BaseException | None = error.original_error
    seen = 0
    while isinstance(cause, GraphQLError) and cause.original_error is not None and seen < 5:
        cause, seen = cause.original_error, seen + 1
    return cause


def shape_input_error(error: GraphQLError) -> GraphQLError:
    """A refused scalar value (a bad MacAddress, a string for an Int, in the document or a
    variable) as an ``INVALID`` error whose message says it once, plainly."""
    if error.path is not None or (error.extensions or {}).get("code"):
        return error
    root = _root_error(error)
    message = error.message
    if isinstance(root, InvalidScalarValue):
        message = _WRAPPED_SCALAR_ERROR.sub(lambda _: str(root), message)
    elif not _BUILT_IN_SCALAR_ERROR.search(message):
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), "code": "INVALID"},
    )


class ShapeErrors(MaskErrors):
    """Input errors made readable (:func:`shape_input_error`), internal errors masked."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return super()._process_errors([shape_input_error(e) for e in errors])

    def _process_result(self, result: object) -> None:
        # What the base class asks of a runtime-checkable Protocol (an ``errors``
        # attribute), asked directly: that isinstance check cost more than the rest of
        # the masking of a subscription event.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


def schema_extensions() -> list[Callable[[], SchemaExtension] | type[SchemaExtension]]:
    """Factories, not instances: instances would be shared between concurrent requests."""
    return [
        lambda: RequestBounds(get_settings()),
        RequireAuthentication,
        lambda: QueryDepthLimiter(max_depth=get_settings().max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=get_settings().max_aliases),
        lambda: MaxTokensLimiter(max_token_count=get_settings().max_tokens),
        lambda: QueryNodeBudget(max_nodes=get_settings().max_query_nodes),
        lambda: ShapeErrors(should_mask_error=_should_mask, error_message="Internal server error"),
    ]

"""Strawberry's executor, with two changes for subscriptions.

**A fresh memo per event.** graphql-core 3.3 memoizes ``collect_subfields`` per
executor, keyed by the *identity* of the field list it is asked about, and keeps that
list alive with the cached value so the id cannot be reused. A subscription executes
every event with a shallow copy of one executor (``build_per_event_executor``), so all
events share that memo; each event's field lists are new objects, so every event adds
entries that are never hit again: about 1.5 KB per delivery, for as long as the
subscription lives. A fresh memo per event keeps the cache's benefit within the event
(lists of objects) and drops it with the event.

**One execution per event, document and scope.** A thousand dashboards watching
``phoneEvents`` with the same document would each resolve every event — the same job,
phone and company read a thousand times. An event payload that names itself
(``shared_key``) is executed once per (event, document, variables, operation, scope);
the subscribers that asked the same thing get that result. The scope is what the
viewer's visibility depends on (role, company, SIP user, domain), so the result is the
one each of them would have had. A result is shared for :data:`SHARE_SECONDS` (the
subscribers an event reaches at once), then computed afresh; at most
:data:`SHARED_RESULTS` are kept, so memory does not grow with the events delivered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from graphql import ExecutionResult
from graphql.execution import Executor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.core.events import get_bus

T = TypeVar("T")

SHARE_SECONDS = 2.0
SHARED_RESULTS = 256

_shared: OrderedDict[Hashable, tuple[float, asyncio.Future[Any]]] = OrderedDict()


def scope_key(viewer: Any) -> Hashable:
    """What a viewer's visibility depends on: viewers alike in it see alike."""
    return (
        get_bus(),  # the running server: one started anew never sees another's results
        viewer.role,
        viewer.company_id,
        viewer.sip_user_id,
        viewer.domain_id,
        viewer.hotdesk_allowed,
    )


def _scope_of(context: Any) -> Hashable | None:
    viewer = getattr(context, "viewer", None)
    return None if viewer is None else scope_key(viewer)


def _share_key(executor: Executor, payload: Any) -> Hashable | None:
    event = getattr(payload, "shared_key", None)
    scope = _scope_of(executor.context_value)
    loc = executor.operation.loc
    if event is None or scope is None or loc is None:
        return None
    try:
        variables = json.dumps(executor.variable_values, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None
    name = executor.operation.name.value if executor.operation.name else None
    return (event, loc.source.body, name, variables, scope)


def _copy(result: ExecutionResult) -> ExecutionResult:
    return ExecutionResult(
        data=result.data,
        errors=list(result.errors) if result.errors else None,
        extensions=result.extensions,
    )


async def shared(key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
    """``compute()``'s result for ``key``, computed once for all who ask within
    :data:`SHARE_SECONDS` (the subscribers one event reaches); at most
    :data:`SHARED_RESULTS` are kept. ``key`` must hold everything the result depends on
    (the event, the scope): see :func:`scope_key`. A failure is not kept."""
    now = time.monotonic()
    entry = _shared.get(key)
    if entry is not None and now - entry[0] <= SHARE_SECONDS:
        return await asyncio.shield(entry[1])
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _shared[key] = (now, future)
    _shared.move_to_end(key)  # oldest first: expired ones go from the front
    while _shared and (
        len(_shared) > SHARED_RESULTS or now - next(iter(_shared.values()))[0] > SHARE_SECONDS
    ):
        _shared.popitem(last=False)
    try:
        result = await compute()
    except BaseException as exc:
        if _shared.get(key, (0, None))[1] is future:
            del _shared[key]
        future.set_exception(exc)
        future.exception()  # retrieved: the waiters re-raise it
        raise
    future.set_result(result)
    return result


class _SharedEventExecutor:
    """Runs one event's executor, or waits for the same execution another subscriber
    started."""

    def __init__(self, executor: Executor, key: Hashable) -> None:
        self.executor = executor
        self.key = key
        self.serially: bool | None = None

    async def _execute(self) -> ExecutionResult:
        result = self.executor.execute_operation(self.serially)
        if self.executor.is_awaitable(result):
            result = await result  # type: ignore[misc]
        return result  # type: ignore[return-value]

    async def _run(self) -> ExecutionResult:
        return _copy(await shared(self.key, self._execute))

    def execute_operation(self, serially: bool | None = None) -> Awaitable[ExecutionResult]:
        self.serially = serially
        return self._run()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.executor, name)


class PhoneGraphExecutor(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> Executor:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        key = _share_key(executor, payload)
        if key is None:
            return executor
        return _SharedEventExecutor(executor, key)  # type: ignore[return-value]

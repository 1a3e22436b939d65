"""Strawberry's executor, with one correction for long-lived subscriptions.

graphql-core 3.3 memoizes ``collect_subfields`` per executor, keyed by the *identity* of
the field list it is asked about, and keeps that list alive with the cached value so the
id cannot be reused. A subscription executes every event with a shallow copy of one
executor (``build_per_event_executor``), so all events share that memo; each event's
field lists are new objects, so every event adds entries that are never hit again: about
1.5 KB per delivery, for as long as the subscription lives. A fresh memo per event keeps
the cache's benefit within the event (lists of objects) and drops it with the event.
"""

from __future__ import annotations

from typing import Any

from graphql.execution import Executor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class PhoneGraphExecutor(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> Executor:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor

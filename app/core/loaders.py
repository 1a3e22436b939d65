"""Per-request DataLoaders, so nested fields cost one query per level, not per row.

Every loader reads through the caller's scope (:func:`app.core.scope.visible`): a
domain's batch function is handed the rows the viewer may see, never the table. The
one way around it, :meth:`Loaders.unscoped_one`, takes the reason as an argument.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model
from tortoise.queryset import QuerySet

from app.core.auth import Viewer
from app.core.errors import unauthenticated
from app.core.pagination import MAX_PAGE_SIZE, OrderKey, PageArgs, paginate_nested
from app.core.scope import visible

M = TypeVar("M", bound=Model)

BatchLoad = Callable[[QuerySet[Any], list[Any]], Awaitable[Sequence[Any]]]


# A plain (unpaged) nested list shows at most this many items: every read is bounded.
LIST_CAP = MAX_PAGE_SIZE


async def capped_lists(
    rows: QuerySet[Any], parent: str, parent_ids: list[int], order: Sequence[str]
) -> list[list[Any]]:
    """The first :data:`LIST_CAP` of ``rows`` under each parent, by ``order``: one
    statement for all parents (``parent`` as :func:`paginate_nested` takes it)."""
    keys = [OrderKey(o.lstrip("-"), o.startswith("-")) for o in order]
    pages = await paginate_nested(
        rows, parent, parent_ids, PageArgs(first=LIST_CAP), keys, lambda row: row
    )
    return [page.nodes for page in pages]


class _SharedLoader(DataLoader[Any, Any]):
    """A DataLoader whose futures survive the cancellation of one of their waiters.

    One future serves every field that asked for the same key. When a field fails,
    graphql-core cancels its siblings; a sibling cancelled while awaiting the shared
    future would cancel that future too, and every other field waiting on it would get
    ``CancelledError`` — not an error of the query but the end of the request (a 500).
    """

    def load(self, key: Any) -> asyncio.Future[Any]:
        return asyncio.shield(super().load(key))

    def peek(self, key: Any) -> Any:
        """The value loaded for ``key`` already, or :data:`MISSING` (not asked for yet,
        still loading, or failed: then :meth:`load` gives the outcome)."""
        future = self.cache_map.get(key)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return MISSING
        return future.result()


MISSING: Any = object()


def now_or_later(loader: DataLoader[Any, Any], key: Any, convert: Callable[[Any], Any]) -> Any:
    """``convert`` of ``loader``'s value for ``key``: at once when it is loaded already
    (a list resolver loaded the level ahead), else an awaitable of it. A resolver that
    returns this is resolved without a task when the value is there."""
    value = loader.peek(key) if isinstance(loader, _SharedLoader) else MISSING
    if value is not MISSING:
        return convert(value)

    async def later() -> Any:
        return convert(await loader.load(key))

    return later()


class Loaders:
    """A registry of DataLoaders, one set per request (or per subscription event)."""

    def __init__(self, viewer: Viewer | None = None) -> None:
        self._viewer = viewer
        self._loaders: dict[Hashable, DataLoader[Any, Any]] = {}

    @property
    def viewer(self) -> Viewer:
        if self._viewer is None:
            raise unauthenticated()
        return self._viewer

    def _get(
        self, key: Hashable, load: Callable[[list[Any]], Awaitable[Sequence[Any]]]
    ) -> DataLoader[Any, Any]:
        loader = self._loaders.get(key)
        if loader is None:
            loader = _SharedLoader(load_fn=load)
            self._loaders[key] = loader
        return loader

    def batch(self, key: Hashable, model: type[Model], load: BatchLoad) -> DataLoader[Any, Any]:
        """The loader registered under ``key``; ``load(rows, keys)`` gets the queryset
        of ``model`` rows the viewer may see and returns one value per key."""
        viewer = self.viewer

        async def run(keys: list[Any]) -> Sequence[Any]:
            return await load(visible(model, viewer), keys)

        return self._get(("batch", model, key), run)

    def one_loader(self, model: type[M], purpose: str = "") -> DataLoader[int, M | None]:
        """The loader behind :meth:`one`."""

        async def load(rows: QuerySet[Any], ids: list[int]) -> list[Any]:
            found = {r.id: r for r in await rows.filter(id__in=ids)}
            return [found.get(i) for i in ids]

        return self.batch(("one", purpose), model, load)

    def children_loader(
        self, model: type[M], fk: str, order: Sequence[str] = ("id",)
    ) -> DataLoader[int, list[M]]:
        """The loader behind :meth:`children`."""

        async def load(rows: QuerySet[Any], keys: list[int]) -> list[list[Any]]:
            return await capped_lists(rows, fk, keys, order)

        return self.batch(("children", fk, tuple(order)), model, load)

    async def one(self, model: type[M], pk: int | None, purpose: str = "") -> M | None:
        """Row ``pk`` of ``model`` if the viewer may see it (``None`` otherwise).

        ``purpose`` keeps fields resolved at different moments in batches of their own,
        so a query costs the same number of statements every time."""
        if pk is None:
            return None
        return await self.one_loader(model, purpose).load(pk)

    async def children(
        self, model: type[M], fk: str, parent_id: int, order: Sequence[str] = ("id",)
    ) -> list[M]:
        """The visible rows of ``model`` whose ``fk`` is ``parent_id``, by ``order``
        (``-name`` for descending): at most :data:`LIST_CAP`, paged in the database."""
        return await self.children_loader(model, fk, order).load(parent_id)

    async def unscoped_one(self, model: type[M], pk: int | None, *, reason: str) -> M | None:
        """Row ``pk`` of ``model`` whatever the viewer's scope.

        For the rare field whose parent, already scoped, vouches for the child (a job the
        caller may see names its phone); ``reason`` says why at the call site. The
        caller must not show more of the row than the parent's scope allows."""
        if pk is None:
            return None
        del reason  # documentation at the call site; nothing to enforce here

        async def load(ids: list[int]) -> list[Any]:
            found = {r.id: r for r in await model.filter(id__in=ids)}
            return [found.get(i) for i in ids]

        return await self._get(("unscoped", model), load).load(pk)

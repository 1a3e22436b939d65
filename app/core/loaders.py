"""Per-request DataLoaders, so nested fields cost one query per level, not per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

if TYPE_CHECKING:
    from app.core.context import Info

M = TypeVar("M", bound=Model)


class Loaders:
    """A registry of DataLoaders, one set per request (or per subscription event)."""

    def __init__(self) -> None:
        self._loaders: dict[Hashable, DataLoader[Any, Any]] = {}

    def get(
        self, key: Hashable, load: Callable[[list[Any]], Awaitable[Sequence[Any]]]
    ) -> DataLoader[Any, Any]:
        """The loader registered under ``key``, made from ``load`` on first use."""
        loader = self._loaders.get(key)
        if loader is None:
            loader = DataLoader(load_fn=load)
            self._loaders[key] = loader
        return loader

    def by_id(self, model: type[Model]) -> DataLoader[int, Any]:
        """Rows of ``model`` by primary key (``None`` where missing)."""

        async def load(ids: list[int]) -> list[Any]:
            rows = {r.id: r for r in await model.filter(id__in=ids)}
            return [rows.get(i) for i in ids]

        return self.get(("by_id", model), load)

    def children(
        self, model: type[Model], fk: str, order: Sequence[str] = ("id",)
    ) -> DataLoader[int, list[Any]]:
        """Lists of ``model`` rows whose ``fk`` is each key, ordered by ``order``."""

        async def load(keys: list[int]) -> list[list[Any]]:
            groups: dict[int, list[Any]] = defaultdict(list)
            for row in await model.filter(**{f"{fk}__in": keys}).order_by(*order):
                groups[getattr(row, fk)].append(row)
            return [groups.get(k, []) for k in keys]

        return self.get(("children", model, fk, tuple(order)), load)

    async def one(self, model: type[Model], pk: int | None) -> Any:
        """Convenience: ``by_id(model).load(pk)``, ``None`` for a ``None`` key."""
        if pk is None:
            return None
        return await self.by_id(model).load(pk)


async def visible_one(info: Info, model: type[M], pk: int | None, purpose: str = "") -> M | None:
    """The row ``pk`` of ``model`` if the caller may see it (batched per request).

    ``purpose`` keeps fields resolved at different moments in batches of their own, so
    a query costs the same number of statements every time."""
    from app.core.scope import visible

    if pk is None:
        return None
    viewer = info.context.require_viewer()

    async def load(ids: list[int]) -> list[Any]:
        rows = {r.id: r for r in await visible(model, viewer).filter(id__in=ids)}
        return [rows.get(i) for i in ids]

    return await info.context.loaders.get(("visible", model, purpose), load).load(pk)

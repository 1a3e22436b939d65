"""Per-request DataLoaders, so nested fields cost one query per level, not per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from strawberry.dataloader import DataLoader
from tortoise.models import Model


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

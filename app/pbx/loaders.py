"""DataLoaders of the hosted PBX: each nested list is loaded for all parents of a level
in one or two queries, always through the caller's scope. Nested connections load one
page per parent (a loader per page arguments and filter), paged in the database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model
from tortoise.queryset import QuerySet

from app.core.context import Info, loaders_of
from app.core.loaders import capped_lists
from app.core.pagination import Connection, OrderKey, PageArgs, paginate_nested
from app.pbx import models
from app.pbx.filters import UserQuery

M = TypeVar("M", bound=Model)
T = TypeVar("T")


def _grouped(keys: list[int], rows: Iterable[M], parent: Callable[[M], int]) -> list[list[M]]:
    groups: dict[int, list[M]] = defaultdict(list)
    for row in rows:
        groups[parent(row)].append(row)
    return [groups.get(k, []) for k in keys]


def _loader(
    info: Info,
    key: Hashable,
    model: type[Model],
    load: Callable[[QuerySet[Any], list[int]], Awaitable[list[Any]]],
) -> DataLoader[int, Any]:
    """A loader whose ``load(rows, keys)`` reads ``model`` rows the caller may see."""
    return loaders_of(info).batch(("pbx", key), model, load)


def _pages(
    info: Info,
    key: Hashable,
    model: type[M],
    parent: str,
    args: PageArgs,
    order: list[OrderKey],
    to_node: Callable[[M], T],
    refine: Callable[[QuerySet[M]], QuerySet[M]] = lambda rows: rows,
) -> DataLoader[int, Connection[T]]:
    """A page of the visible ``model`` rows (``refine``d) of each parent: one statement
    for all parents."""

    async def load(visible_rows: QuerySet[M], keys: list[int]) -> list[Connection[T]]:
        return await paginate_nested(refine(visible_rows), parent, keys, args, order, to_node)

    return _loader(info, (key, args), model, load)


def company_domains(
    info: Info, args: PageArgs, to_node: Callable[[models.SipDomain], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each company's visible domains, by name."""
    return _pages(
        info, "company_domains", models.SipDomain, "company_id", args, [OrderKey("name")], to_node
    )


def domain_users(
    info: Info, query: UserQuery, args: PageArgs, to_node: Callable[[models.SipUser], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each domain's visible users matching ``query``, in its order."""
    return _pages(
        info,
        ("domain_users", query),
        models.SipUser,
        "domain_id",
        args,
        query.order_keys(),
        to_node,
        refine=query.apply,
    )


def domain_groups(
    info: Info, args: PageArgs, to_node: Callable[[models.SipGroup], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each domain's visible groups, by group name."""
    return _pages(
        info, "domain_groups", models.SipGroup, "domain_id", args, [OrderKey("group_name")], to_node
    )


def domain_queues(
    info: Info, args: PageArgs, to_node: Callable[[models.SipQueue], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each domain's visible queues, by queue name."""
    return _pages(
        info, "domain_queues", models.SipQueue, "domain_id", args, [OrderKey("queue_name")], to_node
    )


async def domain_trusted_networks(info: Info, domain_id: int) -> list[models.TrustedNetwork]:
    """Visible trusted networks of a domain, oldest first."""
    return await loaders_of(info).children(models.TrustedNetwork, "domain_id", domain_id)


def group_members(
    info: Info, args: PageArgs, to_node: Callable[[models.SipUser], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each group's visible member users, by username: users joined to their
    memberships, partitioned by the membership's group."""
    return _pages(
        info,
        "group_members",
        models.SipUser,
        "group_memberships__group_id",
        args,
        [OrderKey("username")],
        to_node,
    )


def user_groups(info: Info) -> DataLoader[int, list[models.SipGroup]]:
    """Visible groups each user belongs to, by group name (groups joined to their
    memberships, partitioned by the membership's user)."""

    async def load(groups: QuerySet[models.SipGroup], keys: list[int]) -> list[list[Any]]:
        return await capped_lists(groups, "memberships__user_id", keys, ("group_name",))

    return _loader(info, "user_groups", models.SipGroup, load)


async def queue_members(info: Info, queue_id: int) -> list[models.SipQueueMember]:
    """Visible members of a queue in ring order (lowest ringOrder first)."""
    return await loaders_of(info).children(
        models.SipQueueMember, "queue_id", queue_id, ("ring_order",)
    )

"""The one cursor-pagination helper for every connection.

Cursors are opaque (base64 JSON of the sort key). Querysets are paged by keyset, so page
1,000 costs what page 1 costs; preloaded lists (nested connections filled by a
DataLoader in one query for all parents) are paged in memory with the same cursors.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from tortoise.expressions import Q
from tortoise.functions import Coalesce
from tortoise.models import Model
from tortoise.queryset import QuerySet

from app.core.errors import BadRequestError

T = TypeVar("T")
M = TypeVar("M", bound=Model)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@strawberry.enum(description="Sort direction of an ordered list.")
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.type(description="Where a page stands in its list (Relay).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="One item of a page, with its cursor.")
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type(description="A page of a list (Relay connection).")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Items in the whole list, not just this page.")


@dataclass(frozen=True)
class OrderKey:
    """One column of a sort order. ``null_as`` stands in for NULL so keysets compare."""

    field: str
    descending: bool = False
    null_as: Any = None


@dataclass(frozen=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


def _encode(values: Sequence[Any]) -> str:
    # Datetimes are tagged so they come back as datetimes: compared as text, an ISO
    # string does not order like the stored value on every engine.
    return base64.urlsafe_b64encode(
        json.dumps([_plain(v) for v in values], separators=(",", ":")).encode()
    ).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"dt"} or not isinstance(value["dt"], str):
            raise ValueError("bad cursor value")
        return datetime.fromisoformat(value["dt"])
    if isinstance(value, list):  # composite keys of in-memory lists
        return [_restore(v) for v in value]
    return value


def _decode(cursor: str, size: int, arg: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"'{arg}' is not a cursor of this list.") from exc
    if not isinstance(values, list) or len(values) != size:
        raise BadRequestError(f"'{arg}' is not a cursor of this list.")
    try:
        return [_restore(v) for v in values]
    except ValueError as exc:
        raise BadRequestError(f"'{arg}' is not a cursor of this list.") from exc


def _check(args: PageArgs) -> tuple[int, bool]:
    """(page size, backwards?)"""
    if args.first is not None and args.last is not None:
        raise BadRequestError("Pass either 'first' or 'last', not both.")
    for name in ("first", "last"):
        n = getattr(args, name)
        if n is not None and not 0 <= n <= MAX_PAGE_SIZE:
            raise BadRequestError(f"'{name}' must be between 0 and {MAX_PAGE_SIZE}.")
    if args.last is not None:
        return args.last, True
    if args.before is not None and args.first is None:
        return DEFAULT_PAGE_SIZE, True
    return (args.first if args.first is not None else DEFAULT_PAGE_SIZE), False


def _keyset(
    keys: Sequence[OrderKey], names: Sequence[str], values: Sequence[Any], forward: bool
) -> Q:
    """Rows strictly after (``forward``) or before the row whose sort key is ``values``."""
    clauses = []
    for i, key in enumerate(keys):
        eq = {names[j]: values[j] for j in range(i)}
        ascending = not key.descending
        op = "gt" if ascending == forward else "lt"
        cond = {**eq, f"{names[i]}__{op}": values[i]}
        clauses.append(Q(**cond))
    out = clauses[0]
    for c in clauses[1:]:
        out = out | c
    return out


def _order_tag(keys: Sequence[OrderKey]) -> str:
    """Names the order a cursor belongs to, so a cursor of another order is refused."""
    return ",".join(("-" if k.descending else "") + k.field for k in keys)


def _decode_tagged(cursor: str, keys: Sequence[OrderKey], arg: str) -> list[Any]:
    values = _decode(cursor, len(keys) + 1, arg)
    if values[0] != _order_tag(keys):
        raise BadRequestError(f"'{arg}' is a cursor of a list in another order.")
    return values[1:]


def _row_key(row: Any, keys: Sequence[OrderKey], names: Sequence[str]) -> list[Any]:
    return [getattr(row, n) for n in names]


async def paginate(
    qs: QuerySet[M],
    args: PageArgs,
    order: Sequence[OrderKey],
    to_node: Callable[[M], T],
) -> Connection[T]:
    """Page a queryset by keyset. ``id`` is appended as the final tie-breaker."""
    size, backwards = _check(args)
    keys = [*order]
    if not keys or keys[-1].field != "id":
        keys.append(OrderKey("id", keys[-1].descending if keys else False))
    names: list[str] = []
    annotations = {}
    for i, key in enumerate(keys):
        if key.null_as is not None:
            name = f"_k{i}"
            annotations[name] = Coalesce(key.field, key.null_as)
            names.append(name)
        else:
            names.append(key.field)
    total = await qs.count()
    page_qs = qs.annotate(**annotations) if annotations else qs
    if args.after is not None:
        page_qs = page_qs.filter(
            _keyset(keys, names, _decode_tagged(args.after, keys, "after"), True)
        )
    if args.before is not None:
        page_qs = page_qs.filter(
            _keyset(keys, names, _decode_tagged(args.before, keys, "before"), False)
        )
    flip = backwards
    ordering = [
        ("-" if (k.descending != flip) else "") + n for k, n in zip(keys, names, strict=True)
    ]
    rows = list(await page_qs.order_by(*ordering).limit(size + 1)) if size else []
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    tag = _order_tag(keys)
    cursors = [_encode([tag, *_row_key(r, keys, names)]) for r in rows]
    if backwards:
        has_prev, has_next = more, args.before is not None
    else:
        has_prev, has_next = args.after is not None, more
    return _connection([to_node(r) for r in rows], cursors, has_next, has_prev, total)


def paginate_list(
    items: Sequence[Any],
    args: PageArgs,
    key: Callable[[Any], Sequence[Any]],
    to_node: Callable[[Any], T],
) -> Connection[T]:
    """Page a list already loaded and sorted by ``key`` (nested connections)."""
    size, backwards = _check(args)
    keyed = [(list(key(i)), i) for i in items]
    if args.after is not None and keyed:
        after = _decode(args.after, len(keyed[0][0]), "after")
        keyed = [(k, i) for k, i in keyed if _cmp(k, after, "after") > 0]
    if args.before is not None and keyed:
        before = _decode(args.before, len(keyed[0][0]), "before")
        keyed = [(k, i) for k, i in keyed if _cmp(k, before, "before") < 0]
    if backwards:
        page = keyed[-size:] if size else []
        has_prev, has_next = len(keyed) > size, args.before is not None
    else:
        page = keyed[:size]
        has_prev, has_next = args.after is not None, len(keyed) > size
    cursors = [_encode(k) for k, _ in page]
    return _connection([to_node(i) for _, i in page], cursors, has_next, has_prev, len(items))


def _cmp(a: Sequence[Any], b: Sequence[Any], arg: str) -> int:
    try:
        for x, y in zip(a, b, strict=False):
            if x != y:
                return -1 if (x is None or (y is not None and x < y)) else 1
    except TypeError as exc:  # a cursor of another list
        raise BadRequestError(f"'{arg}' is not a cursor of this list.") from exc
    return 0


def _connection(
    nodes: list[T], cursors: list[str], has_next: bool, has_prev: bool, total: int
) -> Connection[T]:
    return Connection(
        edges=[Edge(node=n, cursor=c) for n, c in zip(nodes, cursors, strict=True)],
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_prev,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        total_count=total,
    )

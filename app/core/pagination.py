"""The one cursor-pagination module for every connection.

Cursors are opaque (base64 JSON of the sort key, tagged with the order). Querysets are
paged by keyset, so page 1,000 costs what page 1 costs. Nested connections (the
children of every parent a DataLoader batches) are paged in the database too, in one
statement for all parents: :func:`paginate_nested`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from pypika_tortoise import Order, Table
from pypika_tortoise.analytics import Count, RowNumber, Sum
from pypika_tortoise.terms import Star, ValueWrapper
from tortoise.expressions import Case, F, Q, RawSQL, Subquery, When
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
    # The cursor's values: encoded only when a query asks for the cursor.
    key: strawberry.Private[list[Any]]

    @strawberry.field
    def cursor(self) -> str:
        return _encode(self.key)


@strawberry.type(description="A page of a list (Relay connection).")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T]
    page_info: PageInfo
    # The total, or how to count it: a top-level list is counted (one COUNT statement)
    # only when a query asks for totalCount.
    total: strawberry.Private[int | Callable[[], Awaitable[int]]]

    @strawberry.field(description="Items in the whole list, not just this page.")
    async def total_count(self) -> int:
        if callable(self.total):
            self.total = await self.total()
        return self.total


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
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"dt"} or not isinstance(value["dt"], str):
            raise ValueError("bad cursor value")
        return datetime.fromisoformat(value["dt"])
    if isinstance(value, list):
        raise ValueError("bad cursor value")
    return value


def _decode(cursor: str, size: int, arg: str) -> list[Any]:
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH:
        raise BadRequestError(f"'{arg}' is not a cursor of this list.")
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
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


def _decode_tagged(
    cursor: str, keys: Sequence[OrderKey], arg: str, model: type[Model] | None = None
) -> list[Any]:
    values = _decode(cursor, len(keys) + 1, arg)
    if values[0] != _order_tag(keys):
        raise BadRequestError(f"'{arg}' is a cursor of a list in another order.")
    if model is not None:
        for key, value in zip(keys, values[1:], strict=True):
            if not _fits(model, key, value):
                raise BadRequestError(f"'{arg}' is not a cursor of this list.")
    return values[1:]


# Cursors are at most this long (the longest sort keys are names of 200 characters).
MAX_CURSOR_LENGTH = 2048
_INT64 = 2**63


def _fits(model: type[Model], key: OrderKey, value: Any) -> bool:
    """Whether ``value`` is of the type the sort column holds: a forged cursor must be
    refused here, not reach the database as a comparison it cannot make."""
    if key.null_as is not None:
        # SQLite hands back COALESCE(datetime, ...) as text: either form is the column's.
        if isinstance(key.null_as, datetime) and isinstance(value, str):
            return len(value) <= 64
        expected: type = type(key.null_as)
    else:
        field = model._meta.fields_map.get(key.field)
        if field is None:
            return False
        if value is None:
            return bool(field.null)
        expected = getattr(field, "field_type", object)
    if expected is int:
        return type(value) is int and -_INT64 <= value < _INT64
    if isinstance(expected, type) and issubclass(expected, str):
        return isinstance(value, str)
    if expected is datetime:
        return isinstance(value, datetime)
    return isinstance(value, expected) if isinstance(expected, type) else False


def _row_key(row: Any, keys: Sequence[OrderKey], names: Sequence[str]) -> list[Any]:
    return [getattr(row, n) for n in names]


def _sort_keys(order: Sequence[OrderKey]) -> tuple[list[OrderKey], list[str], dict[str, Any]]:
    """The keys of ``order`` with ``id`` appended as the final tie-breaker, the name each
    is read by (a field, or ``_k<i>`` for a ``null_as`` key), and those annotations."""
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
    return keys, names, annotations


async def paginate(
    qs: QuerySet[M],
    args: PageArgs,
    order: Sequence[OrderKey],
    to_node: Callable[[M], T],
) -> Connection[T]:
    """Page a queryset by keyset. ``id`` is appended as the final tie-breaker."""
    size, backwards = _check(args)
    keys, names, annotations = _sort_keys(order)
    total = qs.count  # run only if totalCount is asked for
    page_qs = qs.annotate(**annotations) if annotations else qs
    if args.after is not None:
        page_qs = page_qs.filter(
            _keyset(keys, names, _decode_tagged(args.after, keys, "after", qs.model), True)
        )
    if args.before is not None:
        page_qs = page_qs.filter(
            _keyset(keys, names, _decode_tagged(args.before, keys, "before", qs.model), False)
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
    cursors = [[tag, *_row_key(r, keys, names)] for r in rows]
    if backwards:
        has_prev, has_next = more, args.before is not None
    else:
        has_prev, has_next = args.after is not None, more
    return _connection([to_node(r) for r in rows], cursors, has_next, has_prev, total)


# Integer constants written into the SQL itself: a bound parameter in a CASE has no type
# PostgreSQL can sum.
_ONE = ValueWrapper(1, allow_parametrize=False)
_ZERO = ValueWrapper(0, allow_parametrize=False)


def _parent_column(model: type[Model], parent: str) -> Any:
    """The parent column as the inner query selects it: a column of the child's own table
    is named with its table (the scope's joins may bring a column of the same name, e.g.
    a phone's lines' ``phone_id``); a path through a relation is Tortoise's to resolve."""
    if "__" in parent:
        return F(parent)
    column = model._meta.fields_db_projection.get(parent, parent)
    return RawSQL(f'"{model._meta.db_table}"."{column}"')


async def paginate_nested(
    qs: QuerySet[M],
    parent: str,
    parent_ids: Sequence[int],
    args: PageArgs,
    order: Sequence[OrderKey],
    to_node: Callable[[M], T],
) -> list[Connection[T]]:
    """One page of children for each of ``parent_ids`` (in that order), in one statement.

    ``qs`` holds the children the caller may see (filtered and scoped, not ordered or
    sliced; ``distinct()`` if its filters repeat rows). ``parent`` is the field naming a
    child's parent: a column (``"domain_id"``) or a path through a relation
    (``"group_memberships__group_id"``: a child appears once under each of its parents).
    Every parent gets the same ``args``; ``order`` and the cursors are those of
    :func:`paginate`, so a cursor of another order is refused.

    The statement numbers the rows of each parent in the database and returns only the
    page of each (a parent whose page is empty sends one row, for its total)::

        SELECT * FROM (
          SELECT r.*, ROW_NUMBER() OVER (PARTITION BY _parent ORDER BY <keys>) AS _pos,
                 COUNT(*) OVER (PARTITION BY _parent) AS _total,
                 SUM(_upto) OVER (PARTITION BY _parent) AS _lo,   -- rows up to 'after'
                 SUM(_below) OVER (PARTITION BY _parent) AS _hi   -- rows before 'before'
          FROM (SELECT [DISTINCT] <child>.*, <parent> AS _parent, <keys>,
                       CASE WHEN <keyset after 'after'> THEN 0 ELSE 1 END AS _upto,
                       CASE WHEN <keyset before 'before'> THEN 1 ELSE 0 END AS _below
                FROM <qs> WHERE <parent> IN (...)) AS r
        ) AS w
        WHERE _lo < _pos AND _pos <= _hi AND _pos <= _lo + <size>   -- (> _hi - <size> backwards)
           OR _pos = 1 AND _hi <= _lo

    The cursor conditions count rows rather than filter them, so each total covers the
    whole list; the innermost query is ``qs`` itself (Tortoise builds it, joins,
    ``DISTINCT`` and all), and every value is a bound parameter.
    """
    size, backwards = _check(args)
    keys, names, annotations = _sort_keys(order)
    after = (
        _decode_tagged(args.after, keys, "after", qs.model) if args.after is not None else None
    )
    before = (
        _decode_tagged(args.before, keys, "before", qs.model) if args.before is not None else None
    )
    if not parent_ids:
        return []
    model = qs.model
    children = (
        qs.filter(**{f"{parent}__in": list(dict.fromkeys(parent_ids))})
        .order_by()
        .annotate(_parent=_parent_column(model, parent), **annotations)
    )
    if after is not None:
        upto = Case(When(_keyset(keys, names, after, True), then=_ZERO), default=_ONE)
        children = children.annotate(_upto=upto)
    if before is not None:
        below = Case(When(_keyset(keys, names, before, False), then=_ONE), default=_ZERO)
        children = children.annotate(_below=below)

    inner = Table("_r")
    rows = Subquery(children).as_("_r")
    db = children._choose_db()
    position = RowNumber().over(inner._parent)
    for key, name in zip(keys, names, strict=True):
        column = name if name in annotations else model._meta.fields_db_projection[name]
        direction = Order.desc if key.descending else Order.asc
        position = position.orderby(inner[column], order=direction)
    selects = [
        Star(inner),
        position.as_("_pos"),
        Count(Star()).over(inner._parent).as_("_total"),
    ]
    if after is not None:
        selects.append(Sum(inner._upto).over(inner._parent).as_("_lo"))
    if before is not None:
        selects.append(Sum(inner._below).over(inner._parent).as_("_hi"))
    ranked = db.query_class.from_(rows).select(*selects)

    outer = Table("_w")
    pos = outer._pos
    lo = outer._lo if after is not None else 0
    hi = outer._hi if before is not None else outer._total
    if size:
        window = (pos > hi - size) if backwards else (pos <= lo + size)
        where = ((pos > lo) & (pos <= hi) & window) | ((pos == 1) & (hi <= lo))
    else:
        where = pos == 1
    page = db.query_class.from_(ranked.as_("_w")).select(Star(outer)).where(where)
    found = await db.execute_query_dict(*page.get_parameterized_sql())

    tag = _order_tag(keys)
    bounds: dict[Any, tuple[int, int, int]] = {}
    pages: dict[Any, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for row in found:
        total = row["_total"]
        row_lo = row["_lo"] if after is not None else 0
        row_hi = row["_hi"] if before is not None else total
        bounds[row["_parent"]] = (total, row_lo, row_hi)
        if size and row_lo < row["_pos"] <= row_hi:  # not the row sent for a total only
            pages[row["_parent"]].append((row["_pos"], row))

    out: list[Connection[T]] = []
    for parent_id in parent_ids:
        total, row_lo, row_hi = bounds.get(parent_id, (0, 0, 0))
        nodes: list[T] = []
        cursors: list[list[Any]] = []
        for _, row in sorted(pages.get(parent_id, []), key=lambda p: p[0]):
            child = model._init_from_db(**row)
            values = [row[n] if n in annotations else getattr(child, n) for n in names]
            nodes.append(to_node(child))
            cursors.append([tag, *values])
        more = row_hi - row_lo > size
        if backwards:
            has_prev, has_next = more, args.before is not None
        else:
            has_prev, has_next = args.after is not None, more
        out.append(_connection(nodes, cursors, has_next, has_prev, total))
    return out


def _connection(
    nodes: list[T],
    cursors: list[list[Any]],
    has_next: bool,
    has_prev: bool,
    total: int | Callable[[], Awaitable[int]],
) -> Connection[T]:
    return Connection(
        edges=[Edge(node=n, key=c) for n, c in zip(nodes, cursors, strict=True)],
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_prev,
            start_cursor=_encode(cursors[0]) if cursors else None,
            end_cursor=_encode(cursors[-1]) if cursors else None,
        ),
        total=total,
    )

"""Nested connections paged in the database: one statement pages the children of every
parent of a batch (``paginate_nested``), with the cursors and totals of ``paginate``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.core.errors import BadRequestError
from app.core.ids import parse_global_id
from app.core.pagination import Connection, OrderKey, PageArgs, paginate, paginate_nested
from app.pbx.models import SipDomain, SipGroup, SipGroupMember, SipUser
from tests.conftest import GraphQLClient, create_company

# (username, display name, e-mail) of each domain's users, created in this order.
PEOPLE = {
    "acme": [
        ("gus", "Zed", None),
        ("amy", "Bob", "amy@x"),
        ("fay", "Bob", None),
        ("cal", "Al", "cal@x"),
        ("eve", "Cy", "eve@x"),
        ("bob", "Bob", None),
        ("dan", "Al", "dan@x"),
    ],
    "beta": [
        ("dot", "Al", None),
        ("ann", "Cy", "ann@x"),
        ("cat", "Bob", None),
        ("bea", "Dee", "b@x"),
    ],
    "void": [],
}
ORDERS = {
    "username": [OrderKey("username")],
    "display name desc": [OrderKey("display_name", descending=True)],
    "e-mail, nulls as empty": [OrderKey("email", null_as="")],
    "created desc": [OrderKey("created_at", descending=True)],
    "display name, username": [OrderKey("display_name"), OrderKey("username")],
}
ABSENT = 10_000_000  # a parent id without any row


@dataclass
class World:
    domains: dict[str, int]  # name -> id
    users: dict[int, list[SipUser]]  # domain id -> its users

    @property
    def parent_ids(self) -> list[int]:
        return [*self.domains.values(), ABSENT]


async def _company(admin: GraphQLClient, name: str = "Acme") -> int:
    parsed = parse_global_id(await create_company(admin, name))
    assert parsed is not None
    return parsed[1]


@pytest.fixture
async def world(admin: GraphQLClient) -> World:
    company_id = await _company(admin)
    domains: dict[str, int] = {}
    users: dict[int, list[SipUser]] = {}
    for name, people in PEOPLE.items():
        domain = await SipDomain.create(
            company_id=company_id, name=f"{name}.example", display_name=name
        )
        domains[name] = domain.id
        for i, (username, display, email) in enumerate(people):
            await SipUser.create(
                domain=domain,
                username=username,
                display_name=display,
                email=email,
                extension_number=str(100 + i),
            )
        users[domain.id] = list(await SipUser.filter(domain_id=domain.id))
    return World(domains, users)


# ---------------------------------------------------------------- the reference


def _sort_value(row: SipUser, key: OrderKey) -> Any:
    value = getattr(row, key.field)
    return key.null_as if value is None and key.null_as is not None else value


def _full_order(order: list[OrderKey]) -> list[OrderKey]:
    return [*order, OrderKey("id", order[-1].descending)]


def _key(order: list[OrderKey]) -> Callable[[SipUser], tuple[Any, ...]]:
    keys = _full_order(order)
    assert len({k.descending for k in keys}) == 1, "the reference sorts one way"
    return lambda row: tuple(_sort_value(row, k) for k in keys)


def reference(
    rows: list[SipUser],
    order: list[OrderKey],
    args: PageArgs,
    after: SipUser | None = None,
    before: SipUser | None = None,
) -> tuple[list[str], int, bool, bool]:
    """(usernames, total, hasNextPage, hasPreviousPage), computed in Python."""
    key = _key(order)
    descending = order[-1].descending
    listed = sorted(rows, key=key, reverse=descending)
    if after is not None:
        a = key(after)
        listed = [r for r in listed if (key(r) < a if descending else key(r) > a)]
    if before is not None:
        b = key(before)
        listed = [r for r in listed if (key(r) > b if descending else key(r) < b)]
    if args.last is not None or (args.before is not None and args.first is None):
        size = args.last if args.last is not None else 50
        page = listed[max(0, len(listed) - size) :] if size else []
        has_prev, has_next = len(listed) > size, args.before is not None
    else:
        size = args.first if args.first is not None else 50
        page = listed[:size]
        has_prev, has_next = args.after is not None, len(listed) > size
    return [r.username for r in page], len(rows), has_next, has_prev


def summary(conn: Connection[SipUser]) -> tuple[list[str], int, bool, bool]:
    return (
        [u.username for u in conn.nodes],
        conn.total,
        conn.page_info.has_next_page,
        conn.page_info.has_previous_page,
    )


async def nested(
    world: World, args: PageArgs, order: list[OrderKey]
) -> dict[int, Connection[SipUser]]:
    pages = await paginate_nested(
        SipUser.all(), "domain_id", world.parent_ids, args, order, lambda u: u
    )
    assert len(pages) == len(world.parent_ids)
    return dict(zip(world.parent_ids, pages, strict=True))


def check_all(
    world: World,
    pages: dict[int, Connection[SipUser]],
    order: list[OrderKey],
    args: PageArgs,
    after: SipUser | None = None,
    before: SipUser | None = None,
) -> None:
    """Every parent's page is the reference page of its own list (the one cursor
    applies to every parent's list by its sort key)."""
    for parent_id, conn in pages.items():
        rows = world.users.get(parent_id, [])
        want = reference(rows, order, args, after, before)
        assert summary(conn) == want, (parent_id, args)
        assert [e.node for e in conn.edges] == conn.nodes
        assert conn.page_info.start_cursor == (conn.edges[0].cursor() if conn.edges else None)
        assert conn.page_info.end_cursor == (conn.edges[-1].cursor() if conn.edges else None)


def cursor_rows(conn: Connection[SipUser]) -> Iterator[tuple[str, SipUser]]:
    for edge in conn.edges:
        yield edge.cursor(), edge.node


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize("order_name", [n for n in ORDERS if n != "display name, username"])
async def test_every_parent_pages_forwards_and_backwards(world: World, order_name: str) -> None:
    order = ORDERS[order_name]
    acme = world.domains["acme"]
    for size in (1, 2, 3, 50):
        # Forwards through acme's list; every step also checks the other parents.
        seen: list[str] = []
        args = PageArgs(first=size)
        after_row = None
        while True:
            pages = await nested(world, args, order)
            check_all(world, pages, order, args, after=after_row)
            seen += [u.username for u in pages[acme].nodes]
            if not pages[acme].page_info.has_next_page:
                break
            after_row = pages[acme].nodes[-1]
            args = PageArgs(first=size, after=pages[acme].page_info.end_cursor)
        assert seen == reference(world.users[acme], order, PageArgs(first=50))[0]
        # Backwards from the end.
        back: list[str] = []
        args = PageArgs(last=size)
        before_row = None
        while True:
            pages = await nested(world, args, order)
            check_all(world, pages, order, args, before=before_row)
            back = [u.username for u in pages[acme].nodes] + back
            if not pages[acme].page_info.has_previous_page:
                break
            before_row = pages[acme].nodes[0]
            args = PageArgs(last=size, before=pages[acme].page_info.start_cursor)
        assert back == seen


async def test_a_window_between_two_cursors_and_empty_pages_keep_their_totals(
    world: World,
) -> None:
    order = ORDERS["username"]
    acme = world.domains["acme"]
    every = await nested(world, PageArgs(first=50), order)
    edges = every[acme].edges  # amy bob cal dan eve fay gus
    after, before = edges[1], edges[5]  # bob .. fay
    for args in (
        PageArgs(first=2, after=after.cursor(), before=before.cursor()),
        PageArgs(first=10, after=after.cursor(), before=before.cursor()),
        PageArgs(last=2, after=after.cursor(), before=before.cursor()),
        PageArgs(last=10, after=after.cursor(), before=before.cursor()),
        PageArgs(before=before.cursor()),  # backwards, default size
    ):
        pages = await nested(world, args, order)
        a = after.node if args.after else None
        check_all(world, pages, order, args, after=a, before=before.node)
    # Pages with nothing in them still count their whole list.
    for args in (
        PageArgs(first=0),
        PageArgs(last=0),
        PageArgs(first=2, after=edges[-1].cursor()),
        PageArgs(last=2, before=edges[0].cursor()),
        PageArgs(first=3, after=edges[3].cursor(), before=edges[4].cursor()),
    ):
        pages = await nested(world, args, order)
        for parent_id, conn in pages.items():
            assert conn.total == len(world.users.get(parent_id, [])), args
        assert pages[acme].nodes == []
    zero = await nested(world, PageArgs(first=0), order)
    assert zero[acme].page_info.has_next_page is True
    assert zero[world.domains["void"]].page_info.has_next_page is False


async def test_mixed_directions_and_a_second_key(world: World) -> None:
    order = [OrderKey("display_name", descending=True), OrderKey("username")]
    pages = await nested(world, PageArgs(first=50), order)
    # Display names Z..A, then usernames A..Z among equal names.
    assert [u.username for u in pages[world.domains["acme"]].nodes] == [
        "gus",
        "eve",
        "amy",
        "bob",
        "fay",
        "cal",
        "dan",
    ]
    walked: list[str] = []
    args = PageArgs(first=3)
    while True:
        conn = (await nested(world, args, order))[world.domains["acme"]]
        walked += [u.username for u in conn.nodes]
        if not conn.page_info.has_next_page:
            break
        args = PageArgs(first=3, after=conn.page_info.end_cursor)
    assert walked == ["gus", "eve", "amy", "bob", "fay", "cal", "dan"]


# ---------------------------------------------------------------- cursors


@pytest.mark.parametrize("order_name", list(ORDERS))
async def test_cursors_are_those_of_paginate_and_round_trip(world: World, order_name: str) -> None:
    """A nested cursor is the cursor ``paginate`` gives the same row, and each works
    in the other."""
    order = ORDERS[order_name]
    acme = world.domains["acme"]
    mine = (await nested(world, PageArgs(first=50), order))[acme]
    top = await paginate(SipUser.filter(domain_id=acme), PageArgs(first=50), order, lambda u: u)
    assert [e.cursor() for e in mine.edges] == [e.cursor() for e in top.edges]
    assert [u.id for u in mine.nodes] == [u.id for u in top.nodes]
    for i, (cursor, _) in enumerate(cursor_rows(mine)):
        nxt = (await nested(world, PageArgs(first=2, after=cursor), order))[acme]
        assert [u.id for u in nxt.nodes] == [u.id for u in mine.nodes[i + 1 : i + 3]]
        prev = (await nested(world, PageArgs(last=2, before=cursor), order))[acme]
        assert [u.id for u in prev.nodes] == [u.id for u in mine.nodes[max(0, i - 2) : i]]
        top_next = await paginate(
            SipUser.filter(domain_id=acme), PageArgs(first=2, after=cursor), order, lambda u: u
        )
        assert [u.id for u in top_next.nodes] == [u.id for u in nxt.nodes]


async def test_a_cursor_of_another_order_or_no_cursor_is_refused(world: World) -> None:
    by_name = await nested(world, PageArgs(first=2), ORDERS["username"])
    cursor = by_name[world.domains["acme"]].page_info.end_cursor
    assert cursor is not None
    for order in (ORDERS["display name desc"], ORDERS["created desc"]):
        for args in (PageArgs(first=2, after=cursor), PageArgs(last=2, before=cursor)):
            with pytest.raises(BadRequestError, match="another order"):
                await nested(world, args, order)
    with pytest.raises(BadRequestError, match="not a cursor of this list"):
        await nested(world, PageArgs(first=2, after="junk"), ORDERS["username"])
    with pytest.raises(BadRequestError, match="not both"):
        await nested(world, PageArgs(first=2, last=2), ORDERS["username"])
    with pytest.raises(BadRequestError, match="between 0 and"):
        await nested(world, PageArgs(first=100_000), ORDERS["username"])


# ---------------------------------------------------------------- scoped and joined lists


async def _groups(world: World) -> tuple[int, int, dict[str, int]]:
    acme = world.domains["acme"]
    users = {u.username: u.id for u in world.users[acme]}
    sales = await SipGroup.create(
        domain_id=acme, group_name="sales", display_name="S", extension_number="200"
    )
    help_ = await SipGroup.create(
        domain_id=acme, group_name="help", display_name="H", extension_number="201"
    )
    for name in ("amy", "bob", "cal", "dan"):
        await SipGroupMember.create(group=sales, user_id=users[name])
    for name in ("bob", "cal", "eve"):
        await SipGroupMember.create(group=help_, user_id=users[name])
    return sales.id, help_.id, users


async def test_a_filter_that_repeats_rows_is_counted_once_when_distinct(world: World) -> None:
    """bob and cal are in both groups: joined twice, listed and counted once."""
    sales, help_, _ = await _groups(world)
    qs = SipUser.filter(group_memberships__group_id__in=[sales, help_]).distinct()
    acme, beta = world.domains["acme"], world.domains["beta"]

    async def users(parents: list[int], args: PageArgs) -> list[Connection[str]]:
        return await paginate_nested(
            qs, "domain_id", parents, args, [OrderKey("username")], lambda u: u.username
        )

    pages = await users([acme, beta], PageArgs(first=3))
    assert [(p.nodes, p.total) for p in pages] == [(["amy", "bob", "cal"], 5), ([], 0)]
    [rest] = await users([acme], PageArgs(first=3, after=pages[0].page_info.end_cursor))
    assert (rest.nodes, rest.total, rest.page_info.has_next_page) == (
        ["dan", "eve"],
        5,
        False,
    )
    [back] = await users([acme], PageArgs(last=2, before=rest.page_info.end_cursor))
    assert (back.nodes, back.total) == (["cal", "dan"], 5)


async def test_children_through_a_join_are_paged_per_parent(world: World) -> None:
    """Group members: users partitioned by their membership's group, a user under each
    of its groups."""
    sales, help_, _ = await _groups(world)
    order = [OrderKey("username")]

    async def members(args: PageArgs) -> list[tuple[list[str], int, bool]]:
        pages = await paginate_nested(
            SipUser.all(),
            "group_memberships__group_id",
            [help_, sales, ABSENT],
            args,
            order,
            lambda u: u.username,
        )
        return [(p.nodes, p.total, p.page_info.has_next_page) for p in pages]

    assert await members(PageArgs(first=2)) == [
        (["bob", "cal"], 3, True),
        (["amy", "bob"], 4, True),
        ([], 0, False),
    ]
    first = await paginate_nested(
        SipUser.all(), "group_memberships__group_id", [sales], PageArgs(first=2), order, lambda u: u
    )
    after = first[0].page_info.end_cursor  # bob's
    assert await members(PageArgs(first=2, after=after)) == [
        (["cal", "eve"], 3, False),
        (["cal", "dan"], 4, False),
        ([], 0, False),
    ]
    assert await members(PageArgs(last=1)) == [
        (["eve"], 3, False),
        (["dan"], 4, False),
        ([], 0, False),
    ]


# ---------------------------------------------------------------- what the database sends


@dataclass
class Reads:
    """(statement, rows returned) of every statement; the server's deploy runner polls
    its queue meanwhile (no rows: no job is queued), so counts look at one table."""

    statements: list[tuple[str, int]]

    def of(self, table: str) -> list[tuple[str, int]]:
        return [(sql, n) for sql, n in self.statements if f'"{table}"' in sql]

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.statements)

    def clear(self) -> None:
        self.statements.clear()


@pytest.fixture
def rows_read(admin: GraphQLClient, monkeypatch: pytest.MonkeyPatch) -> Reads:
    """Counts the rows every statement of this process's Tortoise connection returns."""
    from tortoise import connections

    reads = Reads([])
    client_class = type(connections.get("default"))
    execute_query = client_class.execute_query
    execute_query_dict = client_class.execute_query_dict

    async def counted_query(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        result = await execute_query(self, query, *args, **kwargs)
        reads.statements.append((query, len(result[1])))
        return result

    async def counted_query_dict(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        result = await execute_query_dict(self, query, *args, **kwargs)
        reads.statements.append((query, len(result)))
        return result

    monkeypatch.setattr(client_class, "execute_query", counted_query)
    monkeypatch.setattr(client_class, "execute_query_dict", counted_query_dict)
    return reads


async def test_rows_read_are_bounded_by_the_page_sizes_not_the_lists(
    admin: GraphQLClient, rows_read: Reads
) -> None:
    company_id = await _company(admin)
    parents = []
    for d in range(3):
        domain = await SipDomain.create(
            company_id=company_id, name=f"d{d}.example", display_name="d"
        )
        parents.append(domain.id)
        await SipUser.bulk_create(
            [
                SipUser(
                    domain=domain,
                    username=f"user{i:03}",
                    display_name=f"U{i}",
                    extension_number=str(i),
                )
                for i in range(200)
            ]
        )
    order = [OrderKey("username")]
    rows_read.clear()
    pages = await paginate_nested(
        SipUser.all(), "domain_id", parents, PageArgs(first=2), order, lambda u: u.username
    )
    [(_, rows)] = rows_read.of("sip_user")  # one statement for all parents
    assert [(p.nodes, p.total, p.page_info.has_next_page) for p in pages] == [
        (["user000", "user001"], 200, True)
    ] * 3
    assert rows <= len(parents) * (2 + 1)

    # Pages from the middle, forwards and backwards. The cursor (user099 of the first
    # parent) sorts before the other parents' user099, whose ids are larger.
    middle = await paginate(
        SipUser.filter(domain_id=parents[0]), PageArgs(first=100), order, lambda u: u
    )
    cursor = middle.page_info.end_cursor
    for args, want in (
        (PageArgs(first=2, after=cursor), [["user100", "user101"]] + [["user099", "user100"]] * 2),
        (PageArgs(last=2, before=cursor), [["user097", "user098"]] * 3),
        (PageArgs(first=2, after=cursor, before=cursor), [[]] * 3),
    ):
        rows_read.clear()
        pages = await paginate_nested(
            SipUser.all(), "domain_id", parents, args, order, lambda u: u.username
        )
        assert [p.nodes for p in pages] == want
        assert [p.total for p in pages] == [200] * 3
        [(_, rows)] = rows_read.of("sip_user")
        assert rows <= len(parents) * (2 + 1), rows_read.statements


# Every nested connection of the schema, 3 parents with 200 children each.
NESTED_QUERIES = {
    "Company.phones": (
        "{ companies { nodes { phones(first: 2) { totalCount nodes { mac } } } } }",
        1,
    ),
    "Company.sipDomains": (
        "{ companies { nodes { sipDomains(first: 2) { totalCount nodes { name } } } } }",
        1,
    ),
    "SipDomain.users/groups/queues": (
        """{ sipDomains(first: 3) { nodes {
          users(first: 2) { totalCount nodes { username } }
          groups(first: 2) { totalCount nodes { groupName } }
          queues(first: 2) { totalCount nodes { queueName } } } } }""",
        3,
    ),
    "SipGroup.members": (
        """{ sipDomains(first: 1) { nodes { groups(first: 3) { nodes {
          members(first: 2) { totalCount nodes { username } } } } } } }""",
        1,
    ),
    "Phone.deployJobs": (
        "{ phones(first: 3) { nodes { deployJobs(first: 2) { totalCount nodes { id } } } } }",
        1,
    ),
}


async def test_nested_connections_of_the_schema_read_their_pages_only(
    admin: GraphQLClient, rows_read: Reads
) -> None:
    from app.deploy.models import DeployJob, DeployJobKind, DeployJobStatus
    from app.devices.models import Phone
    from app.pbx.models import SipQueue

    many = 200
    companies = [await _company(admin, f"Company {c}") for c in range(3)]
    for c, company_id in enumerate(companies):
        await SipDomain.bulk_create(
            [
                SipDomain(company_id=company_id, name=f"c{c}-d{i:03}.example", display_name="d")
                for i in range(many)
            ]
        )
        await Phone.bulk_create(
            [Phone(company_id=company_id, mac=f"AABBCC{c:02X}{i:04X}") for i in range(many)]
        )
    domains = list(await SipDomain.filter(company_id=companies[0]).order_by("name").limit(3))
    for domain in domains:
        await SipUser.bulk_create(
            [
                SipUser(
                    domain=domain, username=f"u{i:03}", display_name="u", extension_number=f"{i}"
                )
                for i in range(many)
            ]
        )
        await SipGroup.bulk_create(
            [
                SipGroup(
                    domain=domain, group_name=f"g{i:03}", display_name="g", extension_number=f"2{i}"
                )
                for i in range(many)
            ]
        )
        await SipQueue.bulk_create(
            [
                SipQueue(
                    domain=domain, queue_name=f"q{i:03}", display_name="q", extension_number=f"3{i}"
                )
                for i in range(many)
            ]
        )
    groups = list(await SipGroup.filter(domain=domains[0]).order_by("group_name").limit(3))
    users = list(await SipUser.filter(domain=domains[0]))
    await SipGroupMember.bulk_create(
        [SipGroupMember(group=group, user=user) for group in groups for user in users]
    )
    phones = list(await Phone.all().order_by("mac").limit(3))
    await DeployJob.bulk_create(
        [
            DeployJob(
                kind=DeployJobKind.REBOOT,
                status=DeployJobStatus.SUCCEEDED,  # not queued: the runner leaves them
                phone=phone,
                company_id=phone.company_id,  # type: ignore[attr-defined]
            )
            for phone in phones
            for _ in range(many)
        ]
    )
    await admin.data("{ viewer { role } }")  # token bookkeeping happens on first use

    for name, (query, connections) in NESTED_QUERIES.items():
        rows_read.clear()
        data = await admin.data(query)
        counts = [c["totalCount"] for c in _connections_in(data) if c["totalCount"] == many]
        assert len(counts) == 3 * connections, name  # every nested list counted in full
        # Its page of each parent (2 rows), the 3 parents, the token: not 200 a parent.
        assert rows_read.rows <= connections * 3 * (2 + 1) + 10, (name, rows_read.statements)


def _connections_in(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        if "totalCount" in data:
            yield data
        for value in data.values():
            yield from _connections_in(value)
    elif isinstance(data, list):
        for value in data:
            yield from _connections_in(value)


async def test_nested_and_top_level_lists_share_cursors(admin: GraphQLClient, world: World) -> None:
    from app.core.ids import to_global_id

    query = """query($id: ID!, $order: SipUserOrder, $after: String) {
      sipDomain(id: $id) { users(first: 3, after: $after, orderBy: $order) { edges { cursor } } }
      sipUsers(domainId: $id, first: 3, after: $after, orderBy: $order) { edges { cursor } } }"""
    acme = to_global_id("SipDomain", world.domains["acme"])
    cursors = {}
    for field in ("USERNAME", "DISPLAY_NAME", "CREATED_AT"):
        order = {"field": field, "direction": "DESC"}
        data = await admin.data(query, {"id": acme, "order": order})
        nested_edges = data["sipDomain"]["users"]["edges"]
        assert nested_edges == data["sipUsers"]["edges"]
        after = cursors[field] = nested_edges[-1]["cursor"]
        data = await admin.data(query, {"id": acme, "order": order, "after": after})
        assert data["sipDomain"]["users"]["edges"] == data["sipUsers"]["edges"]
    # A cursor of another order, nested or top-level (asked one at a time: the first
    # error nulls the whole answer).
    variables = {
        "id": acme,
        "order": {"field": "USERNAME", "direction": "ASC"},
        "after": cursors["DISPLAY_NAME"],
    }
    for one in (
        """query($id: ID!, $order: SipUserOrder, $after: String) { sipDomain(id: $id) {
          users(first: 3, after: $after, orderBy: $order) { edges { cursor } } } }""",
        """query($id: ID!, $order: SipUserOrder, $after: String) {
          sipUsers(domainId: $id, first: 3, after: $after, orderBy: $order) { edges { cursor } } }""",
    ):
        body = await admin.execute(one, variables)
        assert [e["message"] for e in body["errors"]] == [
            "'after' is a cursor of a list in another order."
        ]
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_one_nested_field_with_different_arguments_pages_each_way(
    admin: GraphQLClient, world: World
) -> None:
    data = await admin.data(
        """{ sipDomains { nodes { name
          one: users(first: 1) { totalCount nodes { username } }
          two: users(last: 2, orderBy: {field: DISPLAY_NAME, direction: DESC}) {
            totalCount nodes { username } }
          few: users(filter: {search: "a"}) { totalCount nodes { username } } } } }"""
    )
    got = {d["name"]: (d["one"], d["two"], d["few"]) for d in data["sipDomains"]["nodes"]}

    def conn(names: list[str], total: int) -> dict[str, Any]:
        return {"totalCount": total, "nodes": [{"username": n} for n in names]}

    assert got == {
        "acme.example": (
            conn(["amy"], 7),
            conn(["dan", "cal"], 7),  # Zed Cy Bob Bob Bob Al Al, ties newest first
            conn(["amy", "cal", "dan", "fay"], 4),
        ),
        "beta.example": (
            conn(["ann"], 4),
            conn(["cat", "dot"], 4),  # Dee Cy Bob Al
            conn(["ann", "bea", "cat", "dot"], 4),  # dot by its display name
        ),
        "void.example": (conn([], 0), conn([], 0), conn([], 0)),
    }

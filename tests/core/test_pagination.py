"""One cursor-pagination helper: forwards, backwards, totalCount, bad cursors."""

from __future__ import annotations

import pytest

from tests.conftest import GraphQLClient, create_company

PAGE = """
query($first: Int, $after: String, $last: Int, $before: String) {
  companies(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { name } }
    nodes { name }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

NAMES = [f"Company {c}" for c in "ABCDEFG"]


async def _seed(admin: GraphQLClient) -> None:
    for name in reversed(NAMES):  # created out of order: the list is sorted by name
        await create_company(admin, name)


async def test_pages_forwards_cover_the_list_once_in_order(admin: GraphQLClient) -> None:
    await _seed(admin)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await admin.data(PAGE, {"first": 3, "after": after}))["companies"]
        assert page["totalCount"] == 7
        assert [e["node"]["name"] for e in page["edges"]] == [n["name"] for n in page["nodes"]]
        seen += [n["name"] for n in page["nodes"]]
        pages += 1
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == NAMES
    assert pages == 3


async def test_pages_backwards_from_the_end(admin: GraphQLClient) -> None:
    await _seed(admin)
    last_page = (await admin.data(PAGE, {"last": 3}))["companies"]
    assert [n["name"] for n in last_page["nodes"]] == NAMES[-3:]
    assert last_page["pageInfo"]["hasPreviousPage"] is True
    before = last_page["pageInfo"]["startCursor"]
    prev = (await admin.data(PAGE, {"last": 3, "before": before}))["companies"]
    assert [n["name"] for n in prev["nodes"]] == NAMES[1:4]
    assert prev["pageInfo"]["hasNextPage"] is True
    first = await admin.data(PAGE, {"last": 3, "before": prev["pageInfo"]["startCursor"]})
    assert [n["name"] for n in first["companies"]["nodes"]] == NAMES[:1]
    assert first["companies"]["pageInfo"]["hasPreviousPage"] is False


async def test_cursor_from_the_middle_resumes_after_that_item(admin: GraphQLClient) -> None:
    await _seed(admin)
    page = (await admin.data(PAGE, {"first": 7}))["companies"]
    cursor_of_c = page["edges"][2]["cursor"]
    nxt = (await admin.data(PAGE, {"first": 2, "after": cursor_of_c}))["companies"]
    assert [n["name"] for n in nxt["nodes"]] == ["Company D", "Company E"]


async def test_malformed_cursor_is_a_readable_error(admin: GraphQLClient) -> None:
    body = await admin.execute(PAGE, {"first": 2, "after": "not-a-cursor"})
    assert body["errors"][0]["message"] == "'after' is not a cursor of this list."
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_page_size_out_of_range_is_refused(admin: GraphQLClient) -> None:
    body = await admin.execute(PAGE, {"first": 100000})
    assert "between 0 and" in body["errors"][0]["message"]
    body = await admin.execute(PAGE, {"first": -1})
    assert "between 0 and" in body["errors"][0]["message"]


async def test_first_and_last_together_are_refused(admin: GraphQLClient) -> None:
    body = await admin.execute(PAGE, {"first": 2, "last": 2})
    assert body["errors"][0]["message"] == "Pass either 'first' or 'last', not both."


async def test_keyset_over_a_datetime_column_pages_forwards_and_backwards(
    admin: GraphQLClient,
) -> None:
    """Cursors carry datetimes as datetimes: the page after a cursor is the next rows
    on every engine (an ISO string compared as text is not)."""
    from app.core.models import Company
    from app.core.pagination import OrderKey, PageArgs, paginate

    await _seed(admin)
    order = [OrderKey("created_at", descending=True)]
    seen: list[str] = []
    after = None
    while True:
        page = await paginate(Company.all(), PageArgs(first=2, after=after), order, lambda c: c.name)
        seen += page.nodes
        if not page.page_info.has_next_page:
            break
        after = page.page_info.end_cursor
    assert seen == NAMES  # seeded from G to A: newest first is A..G
    # `after` is the cursor of F (the last page, [G], has no next page).
    back = await paginate(Company.all(), PageArgs(last=2, before=after), order, lambda c: c.name)
    assert back.nodes == ["Company D", "Company E"]


async def test_cursor_of_another_order_is_refused_readably(admin: GraphQLClient) -> None:
    from app.core.errors import BadRequestError
    from app.core.models import Company
    from app.core.pagination import OrderKey, PageArgs, paginate

    await _seed(admin)
    by_date = await paginate(
        Company.all(), PageArgs(first=2), [OrderKey("created_at")], lambda c: c.name
    )
    with pytest.raises(BadRequestError, match="another order"):
        await paginate(
            Company.all(),
            PageArgs(first=2, after=by_date.page_info.end_cursor),
            [OrderKey("name")],
            lambda c: c.name,
        )


def _forged(values: object) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _forged(["name", "x", [1, 2]]),  # a list where an id belongs
        _forged(["name", "x", 10**30]),  # past any integer column
        _forged(["name", 1, 1]),  # a number where a name belongs
        _forged(["name", "x", "1"]),  # text where an id belongs
        _forged(["name", "x", True]),
        _forged(["name", None, 1]),  # a name cannot be null
        _forged(["name", {"dt": "2026-01-01T00:00:00+00:00"}, 1]),
        "eyJ" + "W" * 5000,  # far longer than any cursor
        _forged([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
    ],
)
async def test_forged_cursors_are_refused_not_internal_errors(
    admin: GraphQLClient, cursor: str
) -> None:
    await create_company(admin, "Forged Cursor Co")
    for page in ("first: 2, after: $c", "last: 2, before: $c"):
        body = await admin.execute(
            f"query($c: String) {{ companies({page}) {{ nodes {{ name }} }} }}", {"c": cursor}
        )
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert "cursor" in error["message"]


async def test_a_deeply_nested_cursor_is_refused(admin: GraphQLClient) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode()[:2000]
    body = await admin.execute(
        'query($c: String) { companies(after: $c) { nodes { name } } }', {"c": cursor}
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

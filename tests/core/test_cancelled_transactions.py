"""A task cancelled while its transaction starts (a deploy job stopped at shutdown, a
subscription whose client left) must not leave the database connection taken: on SQLite
every query of the process shares one connection and one lock."""

from __future__ import annotations

import asyncio

from tortoise.transactions import in_transaction

from tests.conftest import GraphQLClient


async def test_the_server_answers_after_transactions_cancelled_as_they_start(
    admin: GraphQLClient,
) -> None:
    async def transaction() -> None:
        async with in_transaction() as conn:
            await conn.execute_query("SELECT 1")

    for i in range(40):
        task = asyncio.create_task(transaction())
        for _ in range(i % 8):  # cancelled at every point of the transaction's start
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async with asyncio.timeout(20):
        data = await admin.data("{ companies(first: 1) { totalCount } }")
    assert data["companies"]["totalCount"] >= 0
    async with asyncio.timeout(20), in_transaction() as conn:
        assert await conn.execute_query_dict("SELECT 1 AS one") == [{"one": 1}]

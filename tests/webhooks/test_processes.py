"""Real server processes: a delivery outlives a killed process, and two processes post
each delivery once (CONTRACT §11)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL, GraphQLClient, _truncate_pg
from tests.deploy.test_processes import (  # noqa: F401  (fixtures used by the tests)
    ServerProcess,
    server_env,
    servers,
)
from tests.webhooks.conftest import (
    CREATE,
    DELIVERIES,
    Receiver,
    fetch_config,
    provisioning_key,
    signature_valid,
)

CREATE_COMPANY = (
    'mutation { companyCreate(input: {name: "Acme"}) { company { id } userErrors { message } } }'
)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=pytest.mark.skipif(not PG_URL, reason="PHONEGRAPH_TEST_DATABASE_URL not set"),
    ),
]


@pytest.fixture(params=BACKENDS)
async def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database the server processes share (they migrate it as they start)."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'phonegraph.sqlite3'}"
    url = request.getfixturevalue("pg_migrated")
    await _truncate_pg(url)
    return url


def webhook_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    return server_env(
        tmp_path,
        database_url,
        None,
        PHONEGRAPH_WEBHOOK_ALLOW_PRIVATE="1",
        PHONEGRAPH_PENDING_PER_MINUTE="100",
        **extra,
    )


async def _webhook(client: GraphQLClient, url: str) -> tuple[str, str, str]:
    """A company with a webhook for PHONE_REGISTERED: (company id, webhook id, secret)."""
    company = (await client.data(CREATE_COMPANY))["companyCreate"]["company"]["id"]
    payload = await client.mutate(
        CREATE, {"input": {"companyId": company, "url": url, "events": ["PHONE_REGISTERED"]}}
    )
    return company, payload["webhook"]["id"], payload["secret"]


async def _deliveries(client: GraphQLClient, webhook_id: str) -> list[dict[str, Any]]:
    data = await client.data(DELIVERIES, {"id": webhook_id})
    return data["node"]["deliveries"]["nodes"]


async def _until(client: GraphQLClient, webhook_id: str, check: Any, timeout: float = 60) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            found = await _deliveries(client, webhook_id)
            if check(found):
                return found
            await asyncio.sleep(0.1)


async def test_a_delivery_whose_process_was_killed_mid_retry_is_made_by_another(
    tmp_path: Path,
    servers: list[ServerProcess],  # noqa: F811
    shared_database: str,
    receiver: Receiver,
) -> None:
    # The first attempt is refused; the retry is due a few seconds later, by which time
    # the process that made the first attempt is gone.
    env = webhook_env(tmp_path, shared_database, PHONEGRAPH_WEBHOOK_RETRY_SECONDS="3")
    first = ServerProcess(env, tmp_path / "first.log")
    servers.append(first)
    await first.start()
    company, webhook_id, secret = await _webhook(first.client(), receiver.url)
    receiver.answers = [500]

    key = await provisioning_key(first.client(), company)
    assert await fetch_config(first.url, key, "00AABB000401") == 404
    [refused] = await receiver.until(1)
    await _until(
        first.client(),
        webhook_id,
        lambda d: d and d[0]["attempts"] == 1 and d[0]["lastStatusCode"] == 500,
    )
    await first.kill()

    second = ServerProcess(env, tmp_path / "second.log")
    servers.append(second)
    await second.start()
    _, retried = await receiver.until(2, timeout=60)
    assert retried.delivery == refused.delivery
    assert retried.body == refused.body
    assert signature_valid(secret, retried)
    [delivery] = await _until(
        second.client(), webhook_id, lambda d: d and d[0]["status"] == "DELIVERED"
    )
    assert delivery["attempts"] == 2
    assert len(receiver.received) == 2


async def test_two_processes_post_each_delivery_once(
    tmp_path: Path,
    servers: list[ServerProcess],  # noqa: F811
    shared_database: str,
    receiver: Receiver,
) -> None:
    env = webhook_env(tmp_path, shared_database, PHONEGRAPH_WEBHOOK_RETRY_SECONDS="0.5")
    one = ServerProcess(env, tmp_path / "one.log")
    two = ServerProcess(env, tmp_path / "two.log")
    servers.extend([one, two])
    # One after the other: both migrate and sync the model catalogue on start-up.
    await one.start()
    await two.start()
    company, webhook_id, secret = await _webhook(one.client(), receiver.url)
    key = await provisioning_key(one.client(), company)
    # Every other first attempt is refused, so retries race too.
    receiver.answers = [500, 200] * 6

    macs = [f"00AABB0005{i:02X}" for i in range(12)]
    for i, mac in enumerate(macs):
        server = (one, two)[i % 2]
        assert await fetch_config(server.url, key, mac) == 404

    done = await _until(
        two.client(),
        webhook_id,
        lambda d: len(d) == len(macs) and all(x["status"] == "DELIVERED" for x in d),
    )
    # One delivery per event, each posted once per attempt it counts: never by both
    # processes for one attempt, and never again once delivered.
    assert Counter(r.delivery for r in receiver.received) == {d["id"]: d["attempts"] for d in done}
    assert sorted(r.json["data"]["mac"] for r in receiver.received if r.json["id"]) == sorted(
        json.loads(d["payload"])["data"]["mac"] for d in done for _ in range(d["attempts"])
    )
    assert all(signature_valid(secret, r) for r in receiver.received)

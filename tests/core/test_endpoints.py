"""The HTTP endpoints beside GraphQL: health, readiness, metrics."""

from __future__ import annotations

import httpx

from tests.conftest import GraphQLClient, LiveServer


async def test_healthz_answers_ok(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_while_the_database_answers(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200


async def test_readyz_is_503_when_the_database_does_not_answer(live_server: LiveServer) -> None:
    from tortoise import Tortoise

    conn = Tortoise.get_connection("default")
    original = conn.execute_query

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError("database down")

    # The database itself cannot be stopped under the test's feet; its client can.
    conn.execute_query = broken  # type: ignore[method-assign]
    try:
        async with httpx.AsyncClient(base_url=live_server.url) as http:
            response = await http.get("/readyz")
    finally:
        conn.execute_query = original  # type: ignore[method-assign]
    assert response.status_code == 503
    assert "database down" not in response.text


async def test_metrics_count_requests_jobs_and_subscriptions(
    live_server: LiveServer, admin: GraphQLClient
) -> None:
    await admin.data("{ viewer { role } }")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    graphql_posts = [
        line
        for line in text.splitlines()
        if line.startswith("phonegraph_http_requests_total{")
        and 'route="/graphql"' in line
        and 'method="POST"' in line
    ]
    assert graphql_posts and float(graphql_posts[0].rsplit(" ", 1)[1]) >= 1
    assert "phonegraph_http_request_duration_seconds_bucket" in text
    assert 'phonegraph_deploy_jobs{status="QUEUED"} 0.0' in text
    assert "phonegraph_open_subscriptions" in text

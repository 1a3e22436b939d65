"""The HTTP endpoints beside GraphQL: health, readiness, metrics."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from tests.conftest import (
    ADMIN_TOKEN,
    GraphQLClient,
    LiveServer,
    create_company,
    create_token,
    start_server,
    stop_server,
)


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


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
        response = await http.get("/metrics", headers=_bearer(ADMIN_TOKEN))
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


# ---------------------------------------------------------------- who may read /metrics


async def test_metrics_need_a_token(live_server: LiveServer, admin: GraphQLClient) -> None:
    company = await create_company(admin, "Acme")
    company_admin = await create_token(admin, "COMPANY_ADMIN", company_id=company)
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        for headers in ({}, _bearer("wrong"), _bearer(company_admin)):
            response = await http.get("/metrics", headers=headers)
            assert response.status_code == 401, headers
            assert "phonegraph_" not in response.text
            assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture
async def metrics_token_server(settings):  # type: ignore[no-untyped-def]
    scraping = replace(settings, metrics_token="scrape-me")
    server, task, url = await start_server(scraping)
    try:
        yield LiveServer(url=url, settings=scraping, server=server)
    finally:
        await stop_server(server, task)


async def test_metrics_token_reads_metrics_and_nothing_else(
    metrics_token_server: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=metrics_token_server.url) as http:
        response = await http.get("/metrics", headers=_bearer("scrape-me"))
        assert response.status_code == 200
        assert "phonegraph_http_requests_total" in response.text
    # It is no API token.
    body = await metrics_token_server.client("scrape-me").execute("{ viewer { role } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_metrics_have_no_per_company_breakdown(
    live_server: LiveServer, admin: GraphQLClient
) -> None:
    await create_company(admin, "Acme")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        text = (await http.get("/metrics", headers=_bearer(ADMIN_TOKEN))).text
    assert "company" not in text.lower()
    assert "Acme" not in text


async def test_responses_carry_no_server_banner(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        for path in ("/healthz", "/graphql?query={__typename}", "/nowhere"):
            response = await http.get(path)
            assert "server" not in response.headers, path

"""Prometheus metrics: requests, latency, deploy jobs by status, open subscriptions."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app.core.signals import Signal

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "phonegraph_http_requests_total",
    "HTTP requests by route and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "phonegraph_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["route"],
    registry=REGISTRY,
)
SUBSCRIPTIONS = Gauge(
    "phonegraph_open_subscriptions",
    "GraphQL subscriptions currently streaming.",
    registry=REGISTRY,
)
WEBSOCKETS = Gauge("phonegraph_open_websockets", "WebSocket connections open.", registry=REGISTRY)
# Domains connect here what they refresh from the database at scrape time (deploy
# jobs by status).
before_scrape = Signal("metrics.before_scrape")

KNOWN_ROUTES = ("/graphql", "/graphiql", "/healthz", "/readyz", "/metrics", "/provisioning")


def route_label(path: str) -> str:
    for prefix in KNOWN_ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            return prefix
    return "other"


class MetricsMiddleware:
    """Counts and times every HTTP request; counts open WebSockets."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            WEBSOCKETS.inc()
            try:
                await self.app(scope, receive, send)
            finally:
                WEBSOCKETS.dec()
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_label(scope.get("path", ""))
        status = {"code": 500}
        start = time.perf_counter()

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            LATENCY.labels(route).observe(time.perf_counter() - start)
            REQUESTS.labels(route, scope.get("method", ""), str(status["code"])).inc()


async def render() -> tuple[bytes, str]:
    """The exposition text, with what the domains read at scrape time refreshed."""
    await before_scrape.send()
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

"""The Starlette application: routes, lifespan, middleware."""

from __future__ import annotations

import contextlib
import hmac
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from tortoise import Tortoise
from tortoise.contrib.starlette import RegisterTortoise
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.core import metrics
from app.core.auth import authenticate, ensure_bootstrap_token, parse_authorization
from app.core.events import start_bus, stop_bus
from app.core.graphql_view import (
    GRAPHIQL_DIR,
    GRAPHIQL_STATIC_URL,
    GraphiQLFiles,
    GraphQLView,
)
from app.core.logs import log_config
from app.db import tortoise_config
from app.deploy import metrics as deploy_metrics  # noqa: F401  (connects its scrape hook)
from app.presence import metrics as presence_metrics  # noqa: F401  (connects its scrape hook)
from app.settings import Settings, get_settings

log = logging.getLogger("app")


class BodySizeLimit:
    """Refuse request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.limit + 1
                if declared > self.limit:
                    await self._refuse(send)
                    return
        received = 0
        too_large = False

        async def limited_receive() -> Any:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    too_large = True
                    raise _TooLarge
            return message

        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = (
            b'{"errors":[{"message":"Request body too large.",'
            b'"extensions":{"code":"PAYLOAD_TOO_LARGE"}}]}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        conn = Tortoise.get_connection("default")
        await conn.execute_query("SELECT 1")
    except Exception:  # any failure means "not ready"; the reason is logged, not shown
        log.warning("readiness check failed", exc_info=True)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics_allowed(header: str | None) -> bool:
    """Whether ``Authorization`` carries ``PHONEGRAPH_METRICS_TOKEN`` or a SYSTEM_ADMIN API
    token: the counts cover every company, so only the operator reads them."""
    secret = parse_authorization(header)
    if secret is None:
        return False
    expected = get_settings().metrics_token
    if expected and hmac.compare_digest(secret.encode(), expected.encode()):
        return True
    viewer = await authenticate(secret)
    return viewer is not None and viewer.is_system_admin


async def metrics_endpoint(request: Request) -> Response:
    if not await metrics_allowed(request.headers.get("authorization")):
        return PlainTextResponse(
            "/metrics needs Authorization: Bearer <PHONEGRAPH_METRICS_TOKEN or a system "
            "admin's API token>.\n",
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="metrics"'},
        )
    body, content_type = await metrics.render()
    return PlainTextResponse(body, media_type=content_type)


async def provisioning(request: Request) -> Response:
    from app.devices.provisioning import serve_config

    return await serve_config(request)


async def hotdesk_menu(request: Request) -> Response:
    from app.hotdesk.phone_service import hotdesk_menu as serve

    return await serve(request)


async def hotdesk_login(request: Request) -> Response:
    from app.hotdesk.phone_service import hotdesk_login as serve

    return await serve(request)


async def hotdesk_logout(request: Request) -> Response:
    from app.hotdesk.phone_service import hotdesk_logout as serve

    return await serve(request)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which also tells the deploy runner to drain the moment shutdown
    begins (SIGTERM), while uvicorn closes the connections: both share
    ``PHONEGRAPH_SHUTDOWN_GRACE``. The lifespan's shutdown then waits for the drain."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        from app.deploy.runner import begin_drain

        begin_drain()
        await super().shutdown(sockets)


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options every way of serving the app shares (tests included)."""
    return {
        "ws": "websockets-sansio",
        # A WebSocket message may be no bigger than an HTTP body; uvicorn refuses a
        # bigger frame before buffering it (the app checks again under any server).
        "ws_max_size": settings.max_body_bytes,
        # No per-message compression: events are a few hundred bytes, and compressing
        # each for each subscriber cost more CPU than anything else in a delivery.
        "ws_per_message_deflate": False,
        # No "Server: uvicorn" banner telling callers what to attack.
        "server_header": False,
        # X-Forwarded-For is believed from PHONEGRAPH_TRUSTED_PROXIES only, by the app
        # itself (create_app), never from uvicorn's default of loopback.
        "proxy_headers": False,
    }


def serve(settings: Settings) -> None:
    """Serve the application until SIGTERM or SIGINT, then drain."""
    config = uvicorn.Config(
        create_app(),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # One escaped line per record, provisioning keys masked in the access log.
        log_config=log_config(settings.log_level),
        # Requests still open after the grace period (a `wait: true` deploy answers at
        # once when the drain begins) are cancelled, so shutdown is bounded.
        timeout_graceful_shutdown=settings.shutdown_grace,
        **server_options(settings),
    )
    DrainingServer(config).run()


def create_app() -> Starlette:
    """Build the ASGI application for the settings in force."""
    from app.core.audit_retention import start_audit_pruner, stop_audit_pruner
    from app.deploy.rollout_worker import start_rollout_worker, stop_rollout_worker
    from app.deploy.runner import start_runner, stop_runner
    from app.hotdesk.sweeper import start_sweeper, stop_sweeper
    from app.presence.monitor import start_monitor, stop_monitor
    from app.schema import schema
    from app.webhooks.delivery import start_deliverer, stop_deliverer

    settings = get_settings()
    graphql = GraphQLView(
        schema,
        graphql_ide="graphiql",
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        max_message_bytes=settings.max_body_bytes,
        token_recheck_seconds=settings.token_recheck,
        connection_init_wait_seconds=settings.ws_init_timeout,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=tortoise_config()):
            if settings.bootstrap_token:
                await ensure_bootstrap_token(settings.bootstrap_token)
            await start_bus(settings.redis_url, settings.redis_channel)
            await start_runner()
            await start_rollout_worker()
            await start_sweeper()
            await start_deliverer()
            await start_monitor()
            await start_audit_pruner()
            try:
                yield
            finally:
                await stop_audit_pruner()
                await stop_monitor()
                await stop_deliverer()
                await stop_sweeper()
                await stop_rollout_worker()
                await stop_runner()
                await stop_bus()

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/provisioning/{key}/{filename}", provisioning),
        # Hot desking at the phone (Cisco IP Phone Services, CONTRACT §6).
        Route("/services/{key}/hotdesk", hotdesk_menu),
        Route("/services/{key}/hotdesk/login", hotdesk_login),
        Route("/services/{key}/hotdesk/logout", hotdesk_logout),
        # GraphiQL's page script and the files npm installed: served here, never a CDN.
        Mount(
            GRAPHIQL_STATIC_URL,
            GraphiQLFiles(directory=GRAPHIQL_DIR, check_dir=False),
            name="graphiql-static",
        ),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(metrics.MetricsMiddleware)
    if settings.trusted_proxies:
        # CONTRACT §12: the client address (lastSeenIp, a PENDING phone's ipAddress) is
        # taken from X-Forwarded-For only when the connection comes from a trusted proxy;
        # uvicorn's middleware walks the header from the right past trusted hops.
        app.add_middleware(
            ProxyHeadersMiddleware, trusted_hosts=[str(n) for n in settings.trusted_proxies]
        )
    return app

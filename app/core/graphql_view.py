"""The GraphQL endpoint: HTTP (per the GraphQL-over-HTTP spec) and WebSocket, token
authentication, and the GraphiQL page served from this server's own files."""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import AsyncGenerator
from datetime import timedelta
from pathlib import Path
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, VariableDefinitionNode
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import (
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from app.core.auth import (
    TOKEN_ENDED,
    authenticate_authorization,
    token_in_force,
    tokens_in_force,
)
from app.core.context import Context

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
GRAPHIQL_DIR = STATIC_DIR / "graphiql"
GRAPHIQL_STATIC_URL = "/graphiql/static"
# Fetched from the npm registry at install time (package-lock.json), never committed.
GRAPHIQL_VENDOR_FILES = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphiql.min.css",
)
# The page's own files, shipped in the repository.
GRAPHIQL_PAGE_FILES = ("index.html", "page.js", "page.css")
# What GRAPHIQL_STATIC_URL serves: the files the page loads and the vendors' licences;
# nothing else the install leaves there (versions.json is for make, not for callers).
GRAPHIQL_SERVED_FILES = frozenset(
    [
        *GRAPHIQL_PAGE_FILES,
        "favicon.svg",
        *(f"vendor/{name}" for name in GRAPHIQL_VENDOR_FILES),
        *(f"vendor/LICENSE.{package}" for package in ("graphiql", "react", "react-dom")),
    ]
)


class GraphiQLFiles(StaticFiles):
    """GraphiQL's static files, limited to :data:`GRAPHIQL_SERVED_FILES` (404 otherwise)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path.replace("\\", "/").lstrip("/") not in GRAPHIQL_SERVED_FILES:
            return PlainTextResponse("Not Found", status_code=404)
        return await super().get_response(path, scope)


# Everything the page loads comes from this server: nothing reaches out to a CDN.
GRAPHIQL_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # GraphiQL's editors set inline styles
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",  # same-origin HTTP and ws(s)
        "frame-ancestors 'self'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)


# ---------------------------------------------------------------- content negotiation


def _accept_ranges(header: str) -> list[tuple[str, float]]:
    ranges = []
    for part in header.split(","):
        media, _, params = part.partition(";")
        media = media.strip().lower()
        if not media:
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        ranges.append((media, quality))
    return ranges


def _quality(media: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """(q, specificity) of ``media`` under the most specific matching Accept range."""
    main = media.split("/", 1)[0]
    best: tuple[int, float] | None = None
    for accepted, quality in ranges:
        if accepted == media:
            specificity = 2
        elif accepted == f"{main}/*":
            specificity = 1
        elif accepted == "*/*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, quality)
    if best is None:
        return 0.0, -1
    return best[1], best[0]


def negotiate(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header, ``None`` when none is acceptable.

    No header (or only wildcards) means ``application/json``, which every client
    understands; ``application/graphql-response+json`` is chosen when the client names it
    at least as preferred as ``application/json``.
    """
    if accept is None or not accept.strip():
        return JSON
    ranges = _accept_ranges(accept)
    candidates = []
    for media in (JSON, GRAPHQL_RESPONSE_JSON):
        quality, specificity = _quality(media, ranges)
        if quality > 0:
            named = specificity == 2 and media == GRAPHQL_RESPONSE_JSON
            candidates.append(((quality, specificity, named), media))
    if not candidates:
        return None
    # max() keeps the first of equals: application/json wins ties between wildcards.
    return max(candidates, key=lambda c: c[0])[1]


def accepts_html(accept: str | None) -> bool:
    return any(
        media == "text/html" and quality > 0 for media, quality in _accept_ranges(accept or "")
    )


def is_request_error(result: ExecutionResult) -> bool:
    """Whether the request failed before execution started (parse, validation, limits,
    variable coercion): the spec's "request error", answered without ``data``."""
    if not result.errors:
        return False
    if isinstance(result, PreExecutionError):
        return True
    return result.data is None and all(_is_variable_error(e) for e in result.errors)


def _is_variable_error(error: GraphQLError) -> bool:
    return (
        error.path is None
        and bool(error.nodes)
        and isinstance(error.nodes[0], VariableDefinitionNode)  # type: ignore[index]
    )


# ---------------------------------------------------------------- GraphiQL page


def graphiql_assets_missing() -> list[str]:
    """The page's files that are not there (a page without them would never load)."""
    wanted = [f"vendor/{name}" for name in GRAPHIQL_VENDOR_FILES] + list(GRAPHIQL_PAGE_FILES)
    return [name for name in wanted if not (GRAPHIQL_DIR / name).is_file()]


def graphiql_page() -> tuple[str, int]:
    """The GraphiQL page, or (status 503) a page saying how to install its files."""
    missing = graphiql_assets_missing()
    if not missing:
        return (GRAPHIQL_DIR / "index.html").read_text(encoding="utf-8"), 200
    files = "".join(f"<li><code>{html.escape(name)}</code></li>" for name in missing)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PhoneGraph GraphiQL: not installed</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;
line-height:1.5}}code,pre{{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px}}
pre{{padding:.6rem}}</style></head>
<body><h1>GraphiQL is not installed on this server</h1>
<p>The GraphQL API at this address works; only the in-browser IDE is missing. Its files
(GraphiQL, React) are fetched from the npm registry when PhoneGraph is installed, and
these are not there:</p>
<ul>{files}</ul>
<p>Install them from the PhoneGraph source folder, then reload this page; no restart is
needed:</p>
<pre>make assets</pre>
<p>(<code>make serve</code> does this by itself; it uses npm when installed, and otherwise
fetches the files pinned in <code>package-lock.json</code> with Python.) Without make:</p>
<pre>python3 app/static/install_graphiql_assets.py</pre>
<p>or, with Node.js: <code>npm ci --omit=dev</code>, then
<code>node app/static/install-graphiql-assets.mjs</code>. The Docker image ships them.</p>
</body></html>
"""
    return page, 503


# ---------------------------------------------------------------- WebSocket


class SizeLimitedWebSocketAdapter(ASGIWebSocketAdapter):
    """Refuses WebSocket messages over the HTTP body limit (close 1009), so a socket
    carries no bigger request than a POST may. (uvicorn refuses them before buffering
    when served by ``app.web.serve``; this holds under any ASGI server.)"""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        limit = self.view.max_message_bytes
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > limit or len(text.encode()) > limit:
                    await self.close(1009, f"Message too big: at most {limit} bytes.")
                    return
                try:
                    message = self.view.decode_json(text)
                except (json.JSONDecodeError, HTTPException) as exc:
                    # Not JSON, nested too deep, not an object: both protocols' answer
                    # to a malformed message (close 4400), not an error in the server.
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
                    continue
                if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived
                    continue
                yield message
        except KeyError as exc:
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass


class OpenSockets:
    """This process's authenticated WebSockets by token, re-checked against the database
    every ``interval`` seconds with a bounded number of indexed statements (not one per
    socket): each socket whose token was revoked or expired is closed with 4403. The
    database is the truth, so a revocation made through any server process reaches the
    sockets of every process. The watcher runs only while sockets are open."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._by_token: dict[int, set[Any]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def add(self, token_id: int, handler: Any) -> None:
        self._by_token.setdefault(token_id, set()).add(handler)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="websocket-token-watch")

    def discard(self, token_id: int, handler: Any) -> None:
        handlers = self._by_token.get(token_id)
        if handlers is not None:
            handlers.discard(handler)
            if not handlers:
                del self._by_token[token_id]

    async def _watch(self) -> None:
        while self._by_token:
            await asyncio.sleep(self.interval)
            wanted = list(self._by_token)
            if not wanted:
                break
            try:
                alive = await tokens_in_force(wanted)
            except Exception:  # the database is away: keep the sockets, ask again later
                log.warning("could not re-check the tokens of open WebSockets", exc_info=True)
                continue
            for token_id in wanted:
                if token_id in alive:
                    continue
                for handler in self._by_token.pop(token_id, set()):
                    task = asyncio.create_task(handler.end_for_token())
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)


async def _token_still_works(context: Any) -> bool:
    viewer = getattr(context, "viewer", None)
    return viewer is not None and await token_in_force(viewer.token_id)


# Closing with 4403 the caller sees only the close reason: it says what is wrong.
DEFAULT_REJECTION = "A valid API token is required."
SUBSCRIBE_BEFORE_ACK = (
    "A valid API token is required: send connection_init with Authorization before subscribing."
)


def _rejection_reason(error: ConnectionRejectionError) -> str:
    message = error.payload.get("message") if isinstance(error.payload, dict) else None
    return message if isinstance(message, str) and message else DEFAULT_REJECTION


class TransportWSHandler(BaseGraphQLTransportWSHandler):  # type: ignore[type-arg]
    """``graphql-transport-ws``, with close reasons that say why the token was refused
    (the stock handler says only "Forbidden" / "Unauthorized")."""

    async def handle_connection_init(self, message: Any) -> None:
        # Strawberry's own steps, but for the close reason.
        if self.connection_timed_out:
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        payload = message.get("payload", {})
        if not isinstance(payload, dict):
            await self.websocket.close(code=4400, reason="Invalid connection init payload")
            return
        if self.connection_init_received:
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        self.connection_init_received = True
        if isinstance(self.context, Context):
            self.context.connection_params = payload
        try:
            ack_payload = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as exc:
            await self.websocket.close(code=4403, reason=_rejection_reason(exc))
            return
        if isinstance(ack_payload, UnsetType) or ack_payload is None:
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": ack_payload})
        self.connection_acknowledged = True
        self.view.open_sockets.add(self.context.viewer.token_id, self)

    async def handle_subscribe(self, message: Any) -> None:
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason=SUBSCRIBE_BEFORE_ACK)
            return
        # Each operation is authorised as it starts: a token revoked since
        # connection_init runs nothing more.
        if not await _token_still_works(self.context):
            await self.end_for_token()
            return
        await super().handle_subscribe(message)

    async def end_for_token(self) -> None:
        """The token stopped working: stop every operation, then close with 4403."""
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        await self.websocket.close(code=4403, reason=TOKEN_ENDED)

    async def shutdown(self) -> None:
        viewer = getattr(self.context, "viewer", None)
        if viewer is not None:
            self.view.open_sockets.discard(viewer.token_id, self)
        await super().shutdown()


class LegacyWSHandler(BaseGraphQLWSHandler):  # type: ignore[type-arg]
    """The legacy ``graphql-ws`` protocol, closing with 4403 on a bad token like the
    current protocol does (the stock handler closes with 1011), and with 4408 when no
    ``connection_init`` came within the same wait as the current protocol allows (the
    stock handler waits forever)."""

    connection_timed_out = False

    async def handle(self) -> None:
        timer = asyncio.create_task(self._connection_init_timeout())
        try:
            await super().handle()
        finally:
            timer.cancel()
            viewer = getattr(self.context, "viewer", None)
            if viewer is not None:
                self.view.open_sockets.discard(viewer.token_id, self)

    async def _connection_init_timeout(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged and not self.connection_timed_out:
            self.connection_timed_out = True
            await self.websocket.close(code=4408, reason="Connection initialisation timeout")

    async def handle_start(self, message: Any) -> None:
        if self.connection_acknowledged and not await _token_still_works(self.context):
            await self.end_for_token()
            return
        await super().handle_start(message)

    async def end_for_token(self) -> None:
        """The token stopped working: stop every operation, then close with 4403."""
        await self.cleanup()
        await self.websocket.close(code=4403, reason=TOKEN_ENDED)

    async def handle_connection_init(self, message: Any) -> None:
        if self.connection_timed_out:
            return
        if self.connection_acknowledged:  # one token per connection, as graphql-transport-ws
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await self.send_message({"type": "connection_error"})
            await self.websocket.close(code=4403, reason="Invalid connection init payload")
            return
        if isinstance(self.context, Context):
            self.context.connection_params = payload
        try:
            await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as exc:
            reason = _rejection_reason(exc)
            await self.send_message({"type": "connection_error", "payload": {"message": reason}})
            await self.websocket.close(code=4403, reason=reason)
            return
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        self.view.open_sockets.add(self.context.viewer.token_id, self)
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())


# ---------------------------------------------------------------- the view


class GraphQLView(GraphQL):  # type: ignore[type-arg]
    """Strawberry's ASGI view with PhoneGraph's context, WebSocket authentication, the
    GraphQL-over-HTTP rules Strawberry leaves out, and an offline GraphiQL."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = SizeLimitedWebSocketAdapter

    def __init__(
        self,
        schema: Any,
        *,
        max_message_bytes: int,
        token_recheck_seconds: float,
        connection_init_wait_seconds: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            schema,
            connection_init_wait_timeout=timedelta(seconds=connection_init_wait_seconds),
            **kwargs,
        )
        self.max_message_bytes = max_message_bytes
        self.open_sockets = OpenSockets(token_recheck_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = self.error_response(request, exc.status_code, exc.reason)
        await response(scope, receive, send)

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """A malformed request's answer: a GraphQL response without ``data``."""
        media = negotiate(request.headers.get("accept")) or JSON
        headers = {"allow": "POST"} if status == 405 else None
        return Response(
            json.dumps({"errors": [{"message": message}]}),
            status_code=status,
            media_type=f"{media}; charset=utf-8",
            headers=headers,
        )

    # -- context and authentication

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        if isinstance(request, WebSocket):
            # Authenticated from the connection_init payload (on_ws_connect).
            return Context(viewer=None, request=request, response=response)
        viewer, problem = await authenticate_authorization(request.headers.get("authorization"))
        return Context(viewer=viewer, request=request, response=response, auth_problem=problem)

    async def on_ws_connect(self, context: Context) -> Any:  # type: ignore[override]
        params = context.connection_params or {}
        header = None
        if isinstance(params, dict):
            header = params.get("Authorization", params.get("authorization"))
        viewer, problem = await authenticate_authorization(header, sent_in="connection_init")
        if viewer is None:
            context.auth_problem = problem
            raise ConnectionRejectionError({"message": problem or DEFAULT_REJECTION})
        context.viewer = viewer
        context.fresh_loaders()
        return None

    # -- GraphiQL

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # Browsers ask for text/html; API clients sending only */* get JSON.
        return (
            request.method == "GET"
            and request.query_params.get("query") is None
            and accepts_html(request.headers.get("accept"))
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        page, status = graphiql_page()
        return HTMLResponse(
            page,
            status_code=status,
            headers={
                "content-security-policy": GRAPHIQL_CSP,
                "x-content-type-options": "nosniff",
                "referrer-policy": "no-referrer",
                "cache-control": "no-cache",
            },
        )

    # -- GraphQL over HTTP

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        media = negotiate(request.headers.get("accept"))
        request.state.graphql_media_type = media
        request.state.graphql_sub_response = sub_response
        sub_response.media_type = media or JSON
        return sub_response

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if negotiate(request.headers.get("accept")) is None:
            raise HTTPException(406, f"Acceptable response types: {GRAPHQL_RESPONSE_JSON}, {JSON}.")
        if request.method == "POST":
            content_type, _ = parse_content_type(request.content_type or "")
            if content_type != JSON:
                raise HTTPException(415, "Send the request as application/json.")
        return await super().parse_http_body(request)

    def decode_json(self, data: str | bytes) -> object:
        """The body as JSON: one object (a GraphQL request) or an array (refused as a
        batch). Nesting too deep for the parser, bytes that are not UTF-8, or any other
        JSON value is the client's malformed request (400), never an internal error."""
        try:
            value = json.loads(data)
        except (RecursionError, UnicodeDecodeError) as exc:
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        if not isinstance(value, (dict, list)):
            raise HTTPException(400, "A GraphQL request must be a JSON object.")
        return value

    def _validate_batch_request(self, request_data: Any, protocol: Any) -> None:
        # Strawberry's hook for a JSON array body; batching is never enabled here.
        raise HTTPException(
            400,
            "Send one operation per request: a JSON array of operations (batching) "
            "is not supported.",
        )

    async def execute_single(  # noqa: PLR0913
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        method = request_adapter.method
        # Queries over GET, queries and mutations over POST; subscriptions only over
        # WebSocket (Strawberry would otherwise run them over HTTP as if they were queries).
        allowed = {OperationType.QUERY}
        if method == "POST":
            allowed.add(OperationType.MUTATION)
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.SUBSCRIPTION:
                raise HTTPException(
                    400, "Subscriptions are served over WebSocket at this address."
                ) from exc
            raise HTTPException(
                405, "Only queries can be sent with GET; send this one with POST."
            ) from exc
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request.") from exc

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if is_request_error(result):
            state = request.state
            if getattr(state, "graphql_media_type", JSON) == GRAPHQL_RESPONSE_JSON:
                # The spec: a request error has no data entry and a 4xx status. With
                # application/json the status stays 200 for older clients.
                response.pop("data", None)
                state.graphql_sub_response.status_code = 400
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media = sub_response.media_type or JSON
        response.headers["content-type"] = f"{media}; charset=utf-8"
        return response

"""The HTTP provisioning endpoint phones fetch their configs from (devices issue)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response


async def serve_config(request: Request) -> Response:
    return PlainTextResponse("not found", status_code=404)

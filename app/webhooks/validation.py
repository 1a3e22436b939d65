"""Cleaners of webhook input (see app.core.validation)."""

from __future__ import annotations

from typing import Any

from app.core.errors import invalid, required
from app.core.validation import Path, flag, optional_text
from app.webhooks.models import WebhookEvent
from app.webhooks.targets import URL_MAX_LENGTH, TargetRefused, parse_url

description = optional_text(500)
active = flag


def url_syntax(value: Any, path: Path) -> str:
    """An http(s) URL (where its host points is checked by the service: it resolves)."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise required(*path)
    if len(text) > URL_MAX_LENGTH:
        raise invalid(f"url must be at most {URL_MAX_LENGTH} characters", *path)
    try:
        parse_url(text)
    except TargetRefused as exc:
        raise invalid(str(exc), *path) from None
    return text


def events(value: Any, path: Path) -> list[str]:
    """At least one event, each once (in the enum's order)."""
    if not value:
        raise required(*path)
    chosen = {WebhookEvent(getattr(e, "value", e)) for e in value}
    return [e.value for e in WebhookEvent if e in chosen]


CLEANERS = {"url": url_syntax, "events": events, "description": description, "active": active}

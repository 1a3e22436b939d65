"""Rules of webhooks: company admins manage their company's, system admins any; USER
tokens none. The signing secret is shown once (on creation and rotation) and kept
encrypted, since signing needs it back."""

from __future__ import annotations

from typing import Any

from app.core.audit import outside_transaction
from app.core.auth import Viewer
from app.core.crypto import encrypt, new_secret
from app.core.errors import invalid, not_found, required
from app.core.ids import decode_id
from app.core.models import Company
from app.core.scope import get_visible, require_write
from app.core.validation import clean_input
from app.webhooks import validation as v
from app.webhooks.models import Webhook
from app.webhooks.outbox import MAX_WEBHOOKS_PER_COMPANY
from app.webhooks.targets import TargetRefused, check_url

SECRET_PREFIX = "whsec_"


def _new_secret() -> tuple[str, str]:
    secret = new_secret(SECRET_PREFIX, 32)
    return secret, encrypt(secret)


async def _checked_target(url: str) -> str:
    """The URL, its host resolved outside the mutation's transaction (a name lookup may
    take seconds; SQLite's one connection must not be held meanwhile). Called before the
    mutation writes anything."""
    try:
        async with outside_transaction():
            return await check_url(url)
    except TargetRefused as exc:
        raise invalid(str(exc), "input", "url") from None


async def webhook_by_id(viewer: Viewer, webhook_id: str, *path: str) -> Webhook:
    require_write(Webhook, viewer)
    row = await get_visible(Webhook, viewer, decode_id(webhook_id, "Webhook", *path))
    if row is None:
        raise not_found("Webhook", *path)
    return row


async def webhook_create(viewer: Viewer, data: dict[str, Any]) -> tuple[Webhook, str]:
    require_write(Webhook, viewer)
    if not data.get("company_id"):
        raise required("input", "companyId")
    company_pk = decode_id(data["company_id"], "Company", "input", "companyId")
    company = await get_visible(Company, viewer, company_pk)
    if company is None:
        raise not_found("Company", "input", "companyId")
    fields = clean_input(data, v.CLEANERS, create=("url", "events"))
    url = await _checked_target(fields["url"])
    if await Webhook.filter(company_id=company.id).count() >= MAX_WEBHOOKS_PER_COMPANY:
        raise invalid(
            f"A company has at most {MAX_WEBHOOKS_PER_COMPANY} webhooks", "input", "companyId"
        )
    secret, secret_enc = _new_secret()
    row = await Webhook.create(
        company_id=company.id,
        url=url,
        events=fields["events"],
        description=fields.get("description"),
        active=fields.get("active", True),
        secret_enc=secret_enc,
    )
    return row, secret


async def webhook_update(viewer: Viewer, webhook_id: str, data: dict[str, Any]) -> Webhook:
    row = await webhook_by_id(viewer, webhook_id, "id")
    if data.get("company_id") is not None:
        pk = decode_id(data["company_id"], "Company", "input", "companyId")
        if pk != row.company_id:  # type: ignore[attr-defined]
            raise invalid("A webhook stays with its company", "input", "companyId")
    fields = clean_input(data, v.CLEANERS)
    if "url" in fields:
        row.url = await _checked_target(fields["url"])
    if "events" in fields:
        row.events = fields["events"]
    if "description" in fields:
        row.description = fields["description"]
    if "active" in fields:
        row.active = fields["active"]
    # Only what was sent: a secret rotated (or another field changed) meanwhile stays.
    changed = [name for name in ("url", "events", "description", "active") if name in fields]
    await row.save(update_fields=[*changed, "updated_at"])
    return row


async def webhook_delete(viewer: Viewer, webhook_id: str) -> int:
    """Delete a webhook with its deliveries (pending ones are not sent)."""
    row = await webhook_by_id(viewer, webhook_id, "id")
    await row.delete()
    return row.id


async def webhook_secret_rotate(viewer: Viewer, webhook_id: str) -> tuple[Webhook, str]:
    """A new secret, in force at once: every attempt from now on (retries of earlier
    deliveries too) is signed with it."""
    row = await webhook_by_id(viewer, webhook_id, "id")
    secret, row.secret_enc = _new_secret()
    await row.save(update_fields=["secret_enc", "updated_at"])
    return row, secret

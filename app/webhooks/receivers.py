"""The events webhooks are told of, each raised by its capability's own code through a
signal (lower domains never import webhooks) and written to the outbox by the one
:func:`app.webhooks.outbox.enqueue`, inside the sender's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.core.ids import to_global_id
from app.core.scalars import format_mac, normalize_mac
from app.deploy import signals as deploy_signals
from app.deploy.models import RolloutPhone
from app.devices import signals as device_signals
from app.devices.models import Phone
from app.hotdesk import signals as hotdesk_signals
from app.presence import signals as presence_signals
from app.webhooks.models import WebhookEvent
from app.webhooks.outbox import enqueue

ROLLOUT_COMPANIES = 1000


async def _mac_of(phone_id: int | None) -> str | None:
    if phone_id is None:
        return None
    mac = await Phone.filter(id=phone_id).first().values_list("mac", flat=True)
    return _shown(str(mac)) if mac else None


def _shown(mac: str) -> str:
    """A MAC as the API shows it (``AA:BB:CC:DD:EE:01``), whatever form it came in."""
    try:
        return format_mac(normalize_mac(mac))
    except ValueError:
        return mac


@deploy_signals.job_ended.connect
async def on_job_ended(
    *,
    job_id: int,
    company_id: int | None,
    phone_id: int,
    kind: str,
    status: str,
    restart: str | None,
) -> None:
    async def data() -> dict[str, Any]:
        return {
            "id": to_global_id("DeployJob", job_id),
            "phoneId": to_global_id("Phone", phone_id),
            "mac": await _mac_of(phone_id),
            "status": status,
            "kind": kind,
            "restart": restart,
        }

    await enqueue(company_id, WebhookEvent.DEPLOY_JOB_ENDED, data)


async def _session_data(
    session_id: int, phone_id: int, sip_user_id: int, **extra: Any
) -> dict[str, Any]:
    return {
        "id": to_global_id("HotdeskSession", session_id),
        "sipUserId": to_global_id("SipUser", sip_user_id),
        "phoneId": to_global_id("Phone", phone_id),
        "mac": await _mac_of(phone_id),
        **extra,
    }


@hotdesk_signals.session_started.connect
async def on_session_started(
    *, session_id: int, company_id: int, phone_id: int, sip_user_id: int
) -> None:
    async def data() -> dict[str, Any]:
        return await _session_data(session_id, phone_id, sip_user_id)

    await enqueue(company_id, WebhookEvent.HOTDESK_SESSION_STARTED, data)


@hotdesk_signals.session_ended.connect
async def on_session_ended(
    *, session_id: int, company_id: int, phone_id: int, sip_user_id: int, end_reason: str
) -> None:
    async def data() -> dict[str, Any]:
        return await _session_data(session_id, phone_id, sip_user_id, endReason=end_reason)

    await enqueue(company_id, WebhookEvent.HOTDESK_SESSION_ENDED, data)


@device_signals.phone_registered.connect
async def on_phone_registered(phone: Phone) -> None:
    data = {"id": to_global_id("Phone", phone.id), "mac": _shown(phone.mac)}
    await enqueue(phone.company_id, WebhookEvent.PHONE_REGISTERED, data)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- presence and rollouts


@presence_signals.status_changed.connect
async def on_phone_status_changed(
    *, phone_id: int, company_id: int | None, mac: str, online: bool, at: datetime | None = None
) -> None:
    """``app.presence.signals.status_changed``: a phone went online or offline."""
    data = {"id": to_global_id("Phone", phone_id), "mac": _shown(mac), "online": online}
    await enqueue(company_id, WebhookEvent.PHONE_STATUS_CHANGED, data, at=at)


@deploy_signals.rollout_ended.connect
async def on_rollout_ended(*, rollout: Any) -> None:
    """``app.deploy.signals.rollout_ended``: a rollout ended (its row)."""
    status = getattr(rollout.status, "value", rollout.status)
    data = {"id": to_global_id("Rollout", rollout.id), "status": str(status)}
    company_id = getattr(rollout, "company_id", None)
    if company_id is not None:
        await enqueue(company_id, WebhookEvent.ROLLOUT_ENDED, data)
        return
    # A system admin's rollout belongs to no company: each company whose phones it
    # worked on is told (at most ROLLOUT_COMPANIES of them).
    companies = (
        await RolloutPhone.filter(rollout_id=rollout.id, phone__company_id__not_isnull=True)
        # Ordered by what is selected: PostgreSQL refuses a DISTINCT ordered by the id.
        .order_by("phone__company_id")
        .distinct()
        .limit(ROLLOUT_COMPANIES)
        .values_list("phone__company_id", flat=True)
    )
    for company in sorted(set(companies)):
        await enqueue(company, WebhookEvent.ROLLOUT_ENDED, data)

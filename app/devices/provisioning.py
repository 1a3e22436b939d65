"""The HTTP provisioning endpoint phones fetch their configs from.

``GET /provisioning/{key}/{filename}``: ``key`` is the company's provisioning key (a
secret, so knowing a MAC is not enough to fetch its credentials), ``filename`` the
name the phone asks for (``SEP{MAC}.cnf.xml``, ``{mac}.cfg``... as the catalogue says).

* wrong key, unknown file name, another company's device → 404, nothing learnt;
* a MAC never seen → a PENDING phone of the key's company is recorded → 404 (at most
  ``PHONEGRAPH_PENDING_PER_MINUTE`` new ones per key and minute, and
  :data:`MAX_PENDING_PER_COMPANY` in all; beyond that nothing is recorded);
* PENDING → 404; REJECTED → 403;
* ACTIVE (or a known DECT base) → 200 with the rendered config; the fetch is recorded
  in ``lastProvisionedAt``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.core.crypto import hash_token
from app.core.errors import UserInputError
from app.core.models import Company
from app.devices import service
from app.devices.catalogue import config_filename, match_config_filename
from app.devices.models import DectBase, Phone, PhoneModel, PhoneStatus
from app.devices.rendering import render_dect_config, render_phone_config
from app.settings import get_settings

log = logging.getLogger(__name__)

_MAX_SEGMENT = 256
_CONTENT_TYPES = {
    ".xml": "text/xml",
    ".cfg": "text/plain",
    ".htm": "text/html",
    ".html": "text/html",
    ".txt": "text/plain",
    ".ini": "text/plain",
}
# Configs carry SIP credentials: no cache anywhere may keep them.
_HEADERS = {"Cache-Control": "no-store"}


def _not_found() -> Response:
    return PlainTextResponse("Not found\n", status_code=404, headers=_HEADERS)


def _content_type(filename: str) -> str:
    dot = filename.rfind(".")
    ext = filename[dot:].lower() if dot >= 0 else ""
    return _CONTENT_TYPES.get(ext, "application/octet-stream")


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# Phones waiting for approval that one company may have; unknown MACs beyond it are not
# recorded until some are approved or rejected.
MAX_PENDING_PER_COMPANY = 1000


async def serve_config(request: Request) -> Response:
    key = request.path_params.get("key", "")
    filename = request.path_params.get("filename", "")
    if not key or not filename or len(key) > _MAX_SEGMENT or len(filename) > _MAX_SEGMENT:
        return _not_found()
    company = await Company.get_or_none(provisioning_key_hash=hash_token(key))
    if company is None:
        return _not_found()
    match = await match_config_filename(filename)
    if match is None:
        return _not_found()
    address = _client_ip(request)

    phone = await Phone.get_or_none(mac=match.mac)
    if phone is None:
        base = await DectBase.get_or_none(mac=match.mac)
        if base is not None:
            return await _serve_dect_base(base, company, filename)
        if not await _may_register(company):
            return _not_found()
        await service.register_pending_phone(
            company.id, match.mac, await _model_of(match.model_ids), address
        )
        log.info("new phone %s asked for %s: recorded as PENDING", match.mac, filename)
        return _not_found()
    if phone.company_id != company.id:  # type: ignore[attr-defined]
        return _not_found()

    await Phone.filter(id=phone.id).update(last_seen_ip=address)
    if phone.status == PhoneStatus.REJECTED:
        return PlainTextResponse("Forbidden\n", status_code=403, headers=_HEADERS)
    if phone.status != PhoneStatus.ACTIVE:
        return _not_found()
    try:
        name, body = await render_phone_config(phone.id)
    except UserInputError as exc:
        log.warning("no config for phone %s: %s", phone.mac, exc)
        return _not_found()
    if name != filename:  # the phone's model fetches another file name
        return _not_found()
    await Phone.filter(id=phone.id).update(last_provisioned_at=datetime.now(UTC))
    return Response(body, media_type=_content_type(filename), headers=_HEADERS)


async def _may_register(company: Company) -> bool:
    """Whether the key of ``company`` may record one more unknown MAC. A leaked key must
    not let anyone fill the registry with made-up MACs (or claim many real ones at once).

    The rate is counted in the database (PENDING phones of the company created in the
    last minute), not in the process: several server processes share one limit, and it
    holds across restarts. Requests racing each other may pass the count together, so a
    burst can exceed it by the requests in flight at that moment, never more.
    """
    limit = get_settings().pending_per_minute
    since = datetime.now(UTC) - timedelta(minutes=1)
    pending = Phone.filter(company_id=company.id, status=PhoneStatus.PENDING)
    recent = await pending.filter(created_at__gte=since).count()
    if recent >= limit:
        log.warning(
            "company %s registered %d unknown phones in the last minute: no more recorded "
            "for now (PHONEGRAPH_PENDING_PER_MINUTE=%d)",
            company.id,
            recent,
            limit,
        )
        return False
    total = await pending.count()
    if total >= MAX_PENDING_PER_COMPANY:
        log.warning("company %s has %d pending phones: no more recorded", company.id, total)
        return False
    return True


async def _model_of(model_ids: tuple[int, ...]) -> int | None:
    """The model a file name identifies, when exactly one desk phone model uses it."""
    ids = await PhoneModel.filter(id__in=model_ids, is_dect=False).values_list("id", flat=True)
    return ids[0] if len(ids) == 1 else None


async def _serve_dect_base(base: DectBase, company: Company, filename: str) -> Response:
    if base.company_id != company.id:  # type: ignore[attr-defined]
        return _not_found()
    model = await PhoneModel.get_or_none(id=base.model_id)  # type: ignore[attr-defined]
    if model is None or config_filename(model.config_filename_pattern, base.mac) != filename:
        return _not_found()
    try:
        _, body = await render_dect_config(base.id)
    except UserInputError as exc:
        log.warning("no config for DECT base %s: %s", base.mac, exc)
        return _not_found()
    return Response(body, media_type=_content_type(filename), headers=_HEADERS)

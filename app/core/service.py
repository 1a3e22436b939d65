"""Rules of companies and API tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.core.auth import Viewer, create_token
from app.core.crypto import encrypt, hash_token, new_secret
from app.core.errors import (
    ErrorCode,
    UserInputError,
    duplicate,
    in_use,
    invalid,
    not_found,
    required,
)
from app.core.ids import decode_id
from app.core.models import ApiToken, Company, Role
from app.core.scope import administers, get_visible, require_system_admin
from app.core.validation import required_text

PROVISIONING_KEY_PREFIX = "pk_"

# USER tokens belong to a SIP user, which the PBX domain knows: it registers how to find
# the user (within the caller's scope) and the user's company.
UserSubject = Callable[[Viewer, int], Awaitable[tuple[int, int] | None]]
_user_subject: list[UserSubject] = []


def register_user_subject(find: UserSubject) -> None:
    """``find(viewer, sip_user_pk)`` → ``(sip_user_id, company_id)`` or ``None``."""
    _user_subject[:] = [find]


_name = required_text(200)


def _new_provisioning_key() -> tuple[str, str, str]:
    key = new_secret(PROVISIONING_KEY_PREFIX, 24)
    return key, hash_token(key), encrypt(key)


async def company_create(viewer: Viewer, data: dict[str, Any]) -> Company:
    require_system_admin(viewer)
    name = _name(data.get("name"), ("input", "name"))
    if await Company.filter(name=name).exists():
        raise duplicate(f"A company named {name!r} exists already", "input", "name")
    _, key_hash, key_enc = _new_provisioning_key()
    return await Company.create(
        name=name, provisioning_key_hash=key_hash, provisioning_key_enc=key_enc
    )


async def company_update(viewer: Viewer, company_id: str, data: dict[str, Any]) -> Company:
    require_system_admin(viewer)
    company = await get_visible(Company, viewer, decode_id(company_id, "Company", "id"))
    if company is None:
        raise not_found("Company", "id")
    if "name" in data:
        name = _name(data["name"], ("input", "name"))
        if await Company.filter(name=name).exclude(id=company.id).exists():
            raise duplicate(f"A company named {name!r} exists already", "input", "name")
        company.name = name
    await company.save()
    return company


async def company_delete(viewer: Viewer, company_id: str) -> int:
    require_system_admin(viewer)
    company = await get_visible(Company, viewer, decode_id(company_id, "Company", "id"))
    if company is None:
        raise not_found("Company", "id")
    try:
        async with in_transaction():
            await company.delete()
    except IntegrityError as exc:
        raise in_use(
            "The company still has SIP domains, phones or DECT bases; delete those first", "id"
        ) from exc
    return company.id


async def provisioning_key_regenerate(viewer: Viewer, company_id: str) -> Company:
    """Give a company a new provisioning key; the old one stops working at once."""
    pk = decode_id(company_id, "Company", "id")
    company = await get_visible(Company, viewer, pk)
    if company is None:
        raise not_found("Company", "id")
    if not administers(viewer, company.id):
        raise UserInputError(ErrorCode.FORBIDDEN, "Only the company's admins may do this", ["id"])
    _, company.provisioning_key_hash, company.provisioning_key_enc = _new_provisioning_key()
    await company.save()
    return company


async def api_token_create(viewer: Viewer, data: dict[str, Any]) -> tuple[ApiToken, str]:
    """Create a token within the caller's reach: system admins any, company admins their
    company's admin and user tokens."""
    if viewer.role == Role.USER:
        raise UserInputError(
            ErrorCode.FORBIDDEN, "USER tokens cannot create tokens", ["input", "role"]
        )
    name = _name(data.get("name"), ("input", "name"))
    role = Role(data["role"].value if hasattr(data["role"], "value") else data["role"])
    company_id = sip_user_id = None
    if role == Role.SYSTEM_ADMIN:
        if viewer.role != Role.SYSTEM_ADMIN:
            raise UserInputError(
                ErrorCode.FORBIDDEN,
                "Only system admins create system admin tokens",
                ["input", "role"],
            )
    elif role == Role.COMPANY_ADMIN:
        if not data.get("company_id"):
            raise required("input", "companyId")
        pk = decode_id(data["company_id"], "Company", "input", "companyId")
        company = await get_visible(Company, viewer, pk)
        if company is None:
            raise not_found("Company", "input", "companyId")
        company_id = company.id
    else:
        if not data.get("sip_user_id"):
            raise required("input", "sipUserId")
        pk = decode_id(data["sip_user_id"], "SipUser", "input", "sipUserId")
        found = await _user_subject[0](viewer, pk) if _user_subject else None
        if found is None:
            raise not_found("SipUser", "input", "sipUserId")
        # The user's company too, so that company's admins can see and revoke the token.
        sip_user_id, company_id = found
    expires_at = _expiry(data.get("expires_at"), ("input", "expiresAt"))
    return await create_token(
        name, role, company_id=company_id, sip_user_id=sip_user_id, expires_at=expires_at
    )


def _expiry(value: Any, path: tuple[str, ...]) -> datetime | None:
    """A token's expiry: a moment in the future (a time without zone is taken as UTC)."""
    if value is None:
        return None
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if moment <= datetime.now(UTC):
        raise invalid("expiresAt must be in the future", *path)
    return moment


async def api_token_revoke(viewer: Viewer, token_id: str) -> int:
    pk = decode_id(token_id, "ApiToken", "id")
    token = await get_visible(ApiToken, viewer, pk)
    if token is None:
        raise not_found("ApiToken", "id")
    # System admins' tokens belong to no company: outside every company admin's scope.
    # Revoking twice keeps the first moment. Open WebSockets of the token notice within
    # PHONEGRAPH_TOKEN_RECHECK seconds, in every server process (the row is the truth).
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        await token.save(update_fields=["revoked_at"])
    return token.id

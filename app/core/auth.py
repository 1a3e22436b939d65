"""API tokens: who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.core.crypto import hash_token, new_secret, tokens_equal
from app.core.models import ApiToken, Role

TOKEN_PREFIX = "pgt_"
# lastUsedAt is written at most this often per token, so reads stay cheap.
_LAST_USED_RESOLUTION = timedelta(seconds=30)


@dataclass(frozen=True)
class Viewer:
    """The authenticated caller."""

    token_id: int
    token_name: str
    role: Role
    company_id: int | None = None
    sip_user_id: int | None = None
    domain_id: int | None = None
    # Whether the token's SIP user may log in to shared phones (Extension Mobility).
    hotdesk_allowed: bool = False

    @property
    def is_system_admin(self) -> bool:
        return self.role == Role.SYSTEM_ADMIN


def parse_authorization(header: str | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header, if well-formed."""
    if not header or not isinstance(header, str):
        return None
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


async def authenticate(secret: str | None) -> Viewer | None:
    """The viewer a token secret belongs to, or ``None`` (unknown, revoked, malformed)."""
    if not secret or len(secret) > 512:
        return None
    digest = hash_token(secret)
    # The SIP user's domain is followed by relation name: tenancy knows the user's
    # company through it without importing the PBX domain.
    token = await ApiToken.get_or_none(secret_hash=digest).prefetch_related("sip_user__domain")
    if token is None or token.revoked_at is not None:
        return None
    if not tokens_equal(token.secret_hash, digest):
        return None
    now = datetime.now(UTC)
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    company_id = token.company_id  # type: ignore[attr-defined]
    domain_id = None
    hotdesk_allowed = False
    if token.sip_user is not None:
        domain = token.sip_user.domain
        domain_id = domain.id
        company_id = domain.company_id
        hotdesk_allowed = bool(token.sip_user.hotdesk_allowed)
    return Viewer(
        token_id=token.id,
        token_name=token.name,
        role=Role(token.role),
        company_id=company_id,
        sip_user_id=token.sip_user_id,  # type: ignore[attr-defined]
        domain_id=domain_id,
        hotdesk_allowed=hotdesk_allowed,
    )


async def create_token(
    name: str,
    role: Role,
    *,
    company_id: int | None = None,
    sip_user_id: int | None = None,
    secret: str | None = None,
) -> tuple[ApiToken, str]:
    """Store a new token; returns it with its secret (which is not stored)."""
    secret = secret or new_secret(TOKEN_PREFIX)
    token = await ApiToken.create(
        name=name,
        role=role,
        company_id=company_id,
        sip_user_id=sip_user_id,
        secret_hash=hash_token(secret),
    )
    return token, secret


async def ensure_bootstrap_token(secret: str) -> None:
    """Make sure a SYSTEM_ADMIN token with exactly ``secret`` exists (idempotent)."""
    digest = hash_token(secret)
    existing = await ApiToken.get_or_none(secret_hash=digest)
    if existing is None:
        await create_token("bootstrap", Role.SYSTEM_ADMIN, secret=secret)
    elif existing.revoked_at is not None or existing.role != Role.SYSTEM_ADMIN:
        await ApiToken.filter(id=existing.id).update(
            revoked_at=None, role=Role.SYSTEM_ADMIN, company_id=None, sip_user_id=None
        )

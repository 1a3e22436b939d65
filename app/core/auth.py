"""API tokens: who is calling."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q

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


# Why a request is not authenticated, said to the caller. Each names only what the caller
# sent (never whether a token exists, was revoked or belongs to someone); over WebSocket
# the text is also the close reason, which must stay within 123 bytes.
_REQUIRED = "A valid API token is required: "
_PROBLEMS = {
    "header": {
        "missing": "the request has no Authorization header (send Authorization: Bearer <token>).",
        "not_bearer": "the Authorization header must read Bearer <token>.",
        "placeholder": "the Authorization header still holds the placeholder <token>; "
        "put your token there.",
    },
    "connection_init": {
        "missing": "connection_init has no Authorization "
        '(send {"Authorization": "Bearer <token>"}).',
        "not_bearer": "Authorization in connection_init must read Bearer <token>.",
        "placeholder": "Authorization still holds the placeholder <token>; put your token there.",
    },
}
UNKNOWN_TOKEN = _REQUIRED + "this token is unknown, has been revoked or has expired."
# Said when an open WebSocket's token stops working (close code 4403); within 123 bytes.
TOKEN_ENDED = "The API token of this connection has been revoked or has expired."


def authorization_problem(header: object, *, sent_in: str = "header") -> str | None:
    """What is wrong with an ``Authorization`` value before any lookup, or ``None`` when it
    is a well-formed ``Bearer <secret>``. ``sent_in`` is ``"header"`` (HTTP) or
    ``"connection_init"`` (the WebSocket's first message)."""
    problems = _PROBLEMS[sent_in]
    if header is None or (isinstance(header, str) and not header.strip()):
        return _REQUIRED + problems["missing"]
    secret = parse_authorization(header) if isinstance(header, str) else None
    if secret is None:
        return _REQUIRED + problems["not_bearer"]
    if secret.startswith("<") and secret.endswith(">"):
        return _REQUIRED + problems["placeholder"]
    return None


async def authenticate_authorization(
    header: object, *, sent_in: str = "header"
) -> tuple[Viewer | None, str | None]:
    """The viewer of an ``Authorization`` value, or ``None`` with the reason (see
    :func:`authorization_problem`; an unknown or revoked token is one reason)."""
    problem = authorization_problem(header, sent_in=sent_in)
    if problem is not None:
        return None, problem
    viewer = await authenticate(parse_authorization(header))  # type: ignore[arg-type]
    return (viewer, None) if viewer is not None else (None, UNKNOWN_TOKEN)


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
    if token.expires_at is not None and token.expires_at <= now:
        return None
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


def in_force(now: datetime) -> Q:
    """Tokens that work at ``now``: not revoked, not expired."""
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


# Token ids per statement when checking many at once (well under every engine's limit
# on bound parameters).
_CHECK_BATCH = 500


async def tokens_in_force(token_ids: Iterable[int]) -> set[int]:
    """Those of ``token_ids`` that still work (neither revoked nor expired), in a bounded
    number of indexed statements: what open WebSockets are re-checked against."""
    wanted = sorted(set(token_ids))
    now = datetime.now(UTC)
    alive: set[int] = set()
    for start in range(0, len(wanted), _CHECK_BATCH):
        batch = wanted[start : start + _CHECK_BATCH]
        rows = await ApiToken.filter(in_force(now), id__in=batch).values_list("id", flat=True)
        alive.update(int(pk) for pk in rows)
    return alive


async def token_in_force(token_id: int) -> bool:
    """Whether one token still works (checked as each WebSocket operation starts)."""
    return await ApiToken.filter(in_force(datetime.now(UTC)), id=token_id).exists()


async def create_token(
    name: str,
    role: Role,
    *,
    company_id: int | None = None,
    sip_user_id: int | None = None,
    secret: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Store a new token; returns it with its secret (which is not stored)."""
    secret = secret or new_secret(TOKEN_PREFIX)
    token = await ApiToken.create(
        name=name,
        role=role,
        company_id=company_id,
        sip_user_id=sip_user_id,
        secret_hash=hash_token(secret),
        expires_at=expires_at,
    )
    return token, secret


async def ensure_bootstrap_token(secret: str) -> None:
    """Make sure a SYSTEM_ADMIN token with exactly ``secret`` exists (idempotent)."""
    digest = hash_token(secret)
    existing = await ApiToken.get_or_none(secret_hash=digest)
    if existing is None:
        await create_token("bootstrap", Role.SYSTEM_ADMIN, secret=secret)
    elif (
        existing.revoked_at is not None
        or existing.expires_at is not None
        or existing.role != Role.SYSTEM_ADMIN
    ):
        await ApiToken.filter(id=existing.id).update(
            revoked_at=None,
            expires_at=None,
            role=Role.SYSTEM_ADMIN,
            company_id=None,
            sip_user_id=None,
        )

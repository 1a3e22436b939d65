"""Rules of hot desking (CONTRACT §6): who may log whom in and out where, and the
sessions' life.

A login checks, then in one transaction ends the phone's session and the user's
session elsewhere (both ``REPLACED``; the other phone gets a logout job), stores the new
session (PENDING) and queues its ``HOTDESK_LOGIN`` job. The session is OPEN once that
job has written the user's config (``app.hotdesk.jobs``); a login job that ends before
that ends the session ``FAILED``. A logout ends the session at once and queues a
``HOTDESK_LOGOUT`` job that writes the phone's own config back.

Every end of a session is one conditional UPDATE of its row (``open_phone_id IS NOT
NULL``, and for expiry ``expires_at`` past by the database's clock), in the same
transaction as the logout job it queues: of several server processes trying at once,
exactly one ends it and queues the job. A session that ends before its login job
started cancels that job in the same transaction: a stale login never writes.

Who may do what:

* ``hotdeskLogin`` — a USER token logs in only as its own user, with its PIN; admins of
  the phone's company may log any user of that company in, the PIN left out. The phone
  must be ACTIVE and ``canHotdesk``, the user ``hotdeskAllowed``. Nothing crosses
  companies. At the phone (``app.hotdesk.phone_service``) the PIN is always needed.
* ``hotdeskLogout`` — admins of the phone's company, or the user of the open session;
  at the phone, whoever stands at it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.core.auth import Viewer
from app.core.crypto import decrypt_bytes, encrypt_bytes
from app.core.errors import (
    UserInputError,
    forbidden_input,
    in_use,
    incompatible,
    invalid,
    locked,
    not_found,
)
from app.core.ids import decode_id
from app.core.models import Role
from app.core.scalars import format_mac
from app.core.scope import administers, visible
from app.core.validation import mac_input
from app.deploy.models import DeployEvent, DeployJob, DeployJobKind, DeployJobStatus, DeployStep
from app.deploy.pipeline import bus_message, now, publish
from app.deploy.service import announce, stage_job
from app.deploy.signals import announce_end
from app.deploy.sql import DialectSql, dialect_sql
from app.devices import signals as device_signals
from app.devices.models import Phone, PhoneModel, PhoneStatus
from app.hotdesk import pins, signals
from app.hotdesk.models import HotdeskEndReason, HotdeskSession, HotdeskState, HotdeskUserProfile
from app.pbx import signals as pbx_signals
from app.pbx.models import SipUser
from app.profiles.models import PhoneProfile
from app.profiles.service import fits_model, fits_software
from app.settings import get_settings

WRONG_CREDENTIALS = "Unknown extension or wrong PIN"
LOCKED_MESSAGE = (
    "Hot-desk login is locked for 15 minutes after too many wrong PINs; try again later"
)
PHONE_BLOCKED = "Too many wrong attempts at this phone; try again later"
PHONE_REQUESTER = "phone"


@dataclass(frozen=True)
class AtPhone:
    """A login or logout made at the phone itself (Cisco IP Phone Services)."""

    phone: Phone


Actor = Viewer | AtPhone


def _requested_by(actor: Actor) -> str:
    return PHONE_REQUESTER if isinstance(actor, AtPhone) else actor.token_name


# ---------------------------------------------------------------- looking things up


async def _phone_for(viewer: Viewer, mac: str) -> Phone:
    """The phone named by ``mac`` if it is in the caller's company (NOT_FOUND otherwise:
    another company's phone behaves as if it did not exist)."""
    # A USER sees only the phones with its lines, but may hot-desk at any of its
    # company's shared phones: the Phone scope rule's "hotdesk" action.
    phone = await visible(Phone, viewer, action="hotdesk").get_or_none(mac=mac_input(mac, "mac"))
    if phone is None:
        raise not_found("Phone", "mac")
    return phone


def _require_hotdesk_phone(phone: Phone) -> None:
    if phone.status != PhoneStatus.ACTIVE:
        raise invalid(
            f"Phone {format_mac(phone.mac)} is {phone.status}; only ACTIVE phones take "
            "hot-desk logins",
            "mac",
        )
    if not phone.can_hotdesk:
        raise invalid(f"Phone {format_mac(phone.mac)} is not a hot-desk phone (canHotdesk)", "mac")


async def _user_by_extension(company_id: int | None, extension: str) -> SipUser | None:
    if not extension or len(extension) > 64:
        return None
    return (
        await SipUser.filter(domain__company_id=company_id, extension_number=extension)
        .order_by("id")
        .first()
    )


async def choose_profile(user: SipUser, phone: Phone) -> PhoneProfile | None:
    """What a login of ``user`` writes on ``phone``: its hot-desk profile when that fits,
    else its first fitting profile by name; ``None``: the phone's template for the user."""
    model = await PhoneModel.get_or_none(id=phone.model_id)  # type: ignore[attr-defined]
    model_name = model.name if model else None
    software = model.software_types if model else None

    def fits(profile: PhoneProfile) -> bool:
        return fits_model(profile, model_name) and fits_software(profile, software)

    choice = await HotdeskUserProfile.get_or_none(sip_user_id=user.id)
    if choice is not None:
        chosen = await PhoneProfile.get_or_none(id=choice.profile_id)  # type: ignore[attr-defined]
        if chosen is not None and fits(chosen):
            return chosen
    for profile in await PhoneProfile.filter(owner_id=user.id).order_by("name", "id"):
        if fits(profile):
            return profile
    return None


def _template_possible(phone: Phone) -> bool:
    return phone.template_id is not None and phone.model_id is not None  # type: ignore[attr-defined]


# ---------------------------------------------------------------- login


async def login(
    actor: Actor, phone: Phone | None, mac: str, extension: str, pin: str | None
) -> tuple[HotdeskSession, DeployJob]:
    """Check a hot-desk login and queue it; the session (PENDING) and its login job.

    ``phone`` is given for a login at the phone (already found by its device name);
    API logins name it by ``mac``.
    """
    viewer = actor if isinstance(actor, Viewer) else None
    if phone is None:
        assert viewer is not None
        phone = await _phone_for(viewer, mac)
    _require_hotdesk_phone(phone)
    company_id = phone.company_id  # type: ignore[attr-defined]
    extension = (extension or "").strip()

    if viewer is not None and viewer.role == Role.USER:
        user = await SipUser.get_or_none(id=viewer.sip_user_id)
        if user is None or user.extension_number != extension:
            raise forbidden_input(
                "A USER token logs in only as its own user (give its own extension number)",
                "extensionNumber",
            )
        if not user.hotdesk_allowed:
            raise _not_allowed(user)
        if pin is None or pin == "":
            raise invalid("The PIN is required", "pin")
        await _check_pin(user, pin, phone, extension)
    elif viewer is not None and (pin is None or pin == ""):
        # An admin of the phone's company logs the user in for them: no PIN.
        if not administers(viewer, company_id):
            raise not_found("Phone", "mac")
        user = await _user_by_extension(company_id, extension)
        if user is None:
            raise not_found("SipUser", "extensionNumber")
    else:
        if pin is None or pin == "":
            raise invalid("The PIN is required", "pin")
        user = await _user_by_extension(company_id, extension)
        await _check_pin(user, pin, phone, extension)
        assert user is not None

    if not user.hotdesk_allowed:
        raise _not_allowed(user)
    profile = await choose_profile(user, phone)
    if profile is None and not _template_possible(phone):
        raise incompatible(
            "None of the user's profiles fits the phone, and the phone has no template to "
            "render for the user",
            "extensionNumber",
        )
    return await _store_login(phone, user, profile, _requested_by(actor))


def _not_allowed(user: SipUser) -> UserInputError:
    return invalid(
        f"User {user.extension_number} may not hot-desk (hotdeskAllowed is off)",
        "extensionNumber",
    )


async def _check_pin(user: SipUser | None, pin: str, phone: Phone, extension: str) -> None:
    """Refuse a locked user, a phone with too many wrong attempts, and a wrong PIN (an
    unknown extension, or a user that may not hot-desk or has no PIN, gets the same
    answer as a wrong PIN)."""
    usable = user is not None and user.hotdesk_allowed and user.pin_hash is not None
    outcome = await pins.check_pin(
        user.id if user is not None else None,
        user.pin_hash if usable and user is not None else None,
        pin,
        phone.id,
        unknown=f"{phone.company_id}:{extension}"[:48],  # type: ignore[attr-defined]
    )
    if outcome == pins.Outcome.PHONE_BLOCKED:
        raise locked(PHONE_BLOCKED, "pin")
    if outcome == pins.Outcome.LOCKED:
        raise locked(LOCKED_MESSAGE, "pin")
    if outcome != pins.Outcome.RIGHT:
        raise invalid(WRONG_CREDENTIALS, "pin")


_END = (
    "UPDATE hotdesk_session SET state = 'ENDED', end_reason = $2, ended_at = {now}, "
    "open_phone_id = NULL, open_user_id = NULL "
)


async def _end_where(
    sql: DialectSql, reason: HotdeskEndReason, condition: str, params: list[Any]
) -> list[dict[str, Any]]:
    """End the unended sessions matching ``condition`` ($1 and $3... are ``params``)."""
    rows = await sql.rows(
        _END.format(now=sql.now)
        + f"WHERE open_phone_id IS NOT NULL AND {condition} "
        "RETURNING id, phone_id, sip_user_id, company_id, state, login_job_id",
        [params[0], reason.value, *params[1:]],
    )
    for row in rows:
        await signals.session_ended.send(
            session_id=row["id"],
            company_id=row["company_id"],
            phone_id=row["phone_id"],
            sip_user_id=row["sip_user_id"],
            end_reason=reason.value,
        )
    return rows


STALE_LOGIN = "Cancelled: the hot-desk session ended before its login started"


async def _cancel_queued_logins(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The login jobs of sessions just ended (``rows`` of :func:`_end_where`) that have
    not started: cancelled in the same transaction, so they never write the user's
    config. Their events' bus messages, to publish once it is committed. (A login job
    already running finds its session ended before it sends anything: ``app.hotdesk.jobs``.)"""
    messages: list[dict[str, Any]] = []
    for row in rows:
        job_id = row.get("login_job_id")
        if job_id is None:
            continue
        at = now()
        cancelled = await DeployJob.filter(id=job_id, status=DeployJobStatus.QUEUED).update(
            status=DeployJobStatus.CANCELLED, finished_at=at
        )
        if not cancelled:
            continue
        event = await DeployEvent.create(
            job_id=job_id, step=DeployStep.CANCELLED, message=STALE_LOGIN, at=at
        )
        job = await DeployJob.get(id=job_id)
        await announce_end(
            job_id=job.id,
            company_id=job.company_id,  # type: ignore[attr-defined]
            phone_id=job.phone_id,  # type: ignore[attr-defined]
            kind=job.kind,
            status=DeployJobStatus.CANCELLED.value,
            restart=job.restart,
        )
        messages.append(bus_message(event, job))
    return messages


async def _queue_logout(
    sql: DialectSql, session: dict[str, Any], requested_by: str | None
) -> tuple[DeployJob, dict[str, Any]]:
    job, message = await stage_job(
        session["phone_id"], session["company_id"], DeployJobKind.HOTDESK_LOGOUT, requested_by
    )
    await sql.rows(
        "UPDATE hotdesk_session SET logout_job_id = $1 WHERE id = $2", [job.id, session["id"]]
    )
    return job, message


async def _store_login(
    phone: Phone, user: SipUser, profile: PhoneProfile | None, requested_by: str
) -> tuple[HotdeskSession, DeployJob]:
    timeout = get_settings().hotdesk_timeout
    for attempt in range(3):
        messages: list[dict[str, Any]] = []
        try:
            async with in_transaction() as conn:
                sql = dialect_sql(conn)
                # The phone's session ends: the phone just gets the new user's config.
                on_phone = await _end_where(
                    sql, HotdeskEndReason.REPLACED, "open_phone_id = $1", [phone.id]
                )
                # The user's session on another phone ends, with a logout job there.
                elsewhere = await _end_where(
                    sql, HotdeskEndReason.REPLACED, "open_user_id = $1", [user.id]
                )
                cancels = await _cancel_queued_logins(on_phone + elsewhere)
                for old in elsewhere:
                    _, message = await _queue_logout(sql, old, requested_by)
                    messages.append(message)
                job, message = await stage_job(
                    phone.id,
                    phone.company_id,  # type: ignore[attr-defined]
                    DeployJobKind.HOTDESK_LOGIN,
                    requested_by,
                )
                messages.append(message)
                session = await HotdeskSession.create(
                    phone_id=phone.id,
                    sip_user_id=user.id,
                    company_id=phone.company_id,  # type: ignore[attr-defined]
                    profile_id=profile.id if profile else None,
                    state=HotdeskState.PENDING,
                    open_phone_id=phone.id,
                    open_user_id=user.id,
                    started_at=job.created_at,
                    expires_at=job.created_at,
                    login_job_id=job.id,
                    replaces_id=on_phone[0]["id"] if on_phone else None,
                    requested_by=requested_by,
                )
                await sql.rows(
                    f"UPDATE hotdesk_session SET started_at = {sql.now}, "
                    f"expires_at = {sql.later(2)} WHERE id = $1",
                    [session.id, timeout],
                )
        except IntegrityError:
            # Another login on this phone or of this user committed meanwhile: replace it.
            if attempt == 2:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
            continue
        await publish(cancels)
        await announce(messages)
        return await HotdeskSession.get(id=session.id), job
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- logout


async def open_session_of_phone(phone_id: int) -> HotdeskSession | None:
    """The phone's session that has not ended (PENDING or OPEN)."""
    return await HotdeskSession.get_or_none(open_phone_id=phone_id)


async def logout(actor: Actor, mac: str) -> tuple[HotdeskSession, DeployJob]:
    """End the phone's session (``LOGOUT``) and queue the job that writes the phone's
    own config back."""
    if isinstance(actor, AtPhone):
        phone = actor.phone
    else:
        phone = await _phone_for(actor, mac)
    session = await open_session_of_phone(phone.id)
    if isinstance(actor, Viewer):
        may = administers(actor, phone.company_id) or (  # type: ignore[attr-defined]
            actor.role == Role.USER
            and session is not None
            and session.sip_user_id == actor.sip_user_id  # type: ignore[attr-defined]
        )
        if not may:
            if actor.role == Role.USER:
                raise forbidden_input(
                    "A USER token may log out only its own hot-desk session", "mac"
                )
            raise not_found("Phone", "mac")
    if session is None:
        raise not_found("Open hot-desk session on this phone", "mac")
    ended = await end_session(session.id, HotdeskEndReason.LOGOUT, _requested_by(actor))
    if ended is None:
        raise not_found("Open hot-desk session on this phone", "mac")
    return ended


async def end_session(
    session_id: int,
    reason: HotdeskEndReason,
    requested_by: str | None,
    *,
    extra_condition: str = "",
    extra_params: tuple[Any, ...] = (),
    queue_logout: bool = True,
) -> tuple[HotdeskSession, DeployJob] | None:
    """End one unended session and (``queue_logout``) queue its logout job, atomically;
    ``None`` when it had ended already (someone else ended it first)."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        rows = await _end_where(
            sql, reason, f"id = $1{extra_condition}", [session_id, *extra_params]
        )
        if not rows:
            return None
        cancels = await _cancel_queued_logins(rows)
        job: DeployJob | None = None
        messages: list[dict[str, Any]] = []
        if queue_logout:
            job, message = await _queue_logout(sql, rows[0], requested_by)
            messages.append(message)
    await publish(cancels)
    await announce(messages)
    session = await HotdeskSession.get(id=session_id)
    return session, job  # type: ignore[return-value]


# ---------------------------------------------------------------- the phone's own config


def keep_bytes(data: bytes) -> str:
    return encrypt_bytes(data)


def kept_bytes(stored: str) -> bytes:
    return decrypt_bytes(stored)


async def restore_of(session: HotdeskSession) -> tuple[bool, bytes | None]:
    """The phone's own config bytes as the session knows them: ``(known, bytes)``;
    follows the sessions this one replaced on the phone (they kept what the phone had
    before the first of them)."""
    current: HotdeskSession | None = session
    seen: set[int] = set()
    while current is not None and current.id not in seen:
        seen.add(current.id)
        if current.restore_taken:
            data = kept_bytes(current.restore_config_enc) if current.restore_config_enc else None
            return True, data
        replaced = current.replaces_id  # type: ignore[attr-defined]
        current = await HotdeskSession.get_or_none(id=replaced) if replaced else None
    return False, None


# ---------------------------------------------------------------- lower domains' changes


@pbx_signals.user_saved.connect
async def _store_hotdesk_profile(viewer: Viewer, user: SipUser, extras: dict[str, Any]) -> None:
    """``SipUserInput.hotdeskProfileId``: one of the user's own profiles, or null."""
    if "hotdesk_profile_id" not in extras:
        return
    value = extras["hotdesk_profile_id"]
    field = ("input", "hotdeskProfileId")
    if value is None:
        await HotdeskUserProfile.filter(sip_user_id=user.id).delete()
        return
    pk = decode_id(str(value), "PhoneProfile", *field)
    profile = await visible(PhoneProfile, viewer).get_or_none(id=pk)
    if profile is None:
        raise not_found("PhoneProfile", *field)
    if profile.owner_id != user.id:  # type: ignore[attr-defined]
        raise invalid("The hot-desk profile must be one of the user's own profiles", *field)
    updated = await HotdeskUserProfile.filter(sip_user_id=user.id).update(profile_id=profile.id)
    if not updated:
        await HotdeskUserProfile.create(sip_user_id=user.id, profile_id=profile.id)


@pbx_signals.user_deleting.connect
async def _refuse_user_at_a_phone(user: SipUser) -> None:
    if await HotdeskSession.filter(open_user_id=user.id).exists():
        raise in_use(
            "The user is logged in at a hot-desk phone; log them out first (hotdeskLogout)",
            "id",
        )


@device_signals.phone_company_changed.connect
async def _end_session_of_moved_phone(phone: Phone) -> None:
    """A phone moved to another company: nothing crosses companies, so the session on it
    ends (``LOGOUT``) and a logout job writes the phone's own config back (inside the
    move's transaction; the runners find the job when they next look at the queue), and
    all its sessions belong to the new company from now on."""
    sql = dialect_sql()  # the move's transaction: Tortoise hands out its connection
    rows = await _end_where(sql, HotdeskEndReason.LOGOUT, "phone_id = $1", [phone.id])
    # Not published: the move has not committed yet (the jobs' rows tell the truth).
    await _cancel_queued_logins(rows)
    # The phone's sessions move with it, as its job history does: the old company (its
    # admins, the sessions' users) no longer sees the phone through them.
    await sql.rows(
        "UPDATE hotdesk_session SET company_id = $1 WHERE phone_id = $2",
        [phone.company_id, phone.id],  # type: ignore[attr-defined]
    )
    for row in rows:
        row["company_id"] = phone.company_id  # type: ignore[attr-defined]
        await _queue_logout(sql, row, "phone moved to another company")

"""What the ``HOTDESK_LOGIN`` and ``HOTDESK_LOGOUT`` jobs write (CONTRACT §6), given to
the deploy pipeline (``app.deploy.kinds``), and what their ends do to the sessions.

* A login writes nothing when its session has ended meanwhile, or its phone is in
  another company now (the job fails before anything is sent).
* A login writes the session's profile byte for byte as ``SEP{mac}.cnf.xml``, or the
  phone's template rendered with the user alone on line 1. For a phone without a
  template, the exact bytes of its config file are kept first (once per session), for
  the logout.
* A logout writes the phone's template rendered as a reprovision does, or, without a
  template, the bytes kept at the login.

Once the login's upload is stored the session is OPEN and its expiry starts. A login
job that ends before that (failed, cancelled) ends the session ``FAILED``; when the
login had replaced another user's session on the phone, that user's config may still
be there, so a logout job puts the phone's own config back.
"""

from __future__ import annotations

import logging
from typing import Any

from tortoise.transactions import in_transaction

from app.core.errors import UserInputError
from app.deploy.kinds import ConfigFile, KindHooks, register_kind
from app.deploy.models import DeployEvent, DeployJob, DeployJobKind, DeployJobStatus, DeployStep
from app.deploy.sql import dialect_sql
from app.deploy.wire.errors import PhoneStepError
from app.devices.models import Phone
from app.devices.rendering import RENDER_MAX_BYTES, render_phone_config_masked
from app.hotdesk import service, signals
from app.hotdesk.models import HotdeskEndReason, HotdeskSession, HotdeskState
from app.profiles.models import PhoneProfile
from app.settings import get_settings

log = logging.getLogger(__name__)


def _cisco_name(phone: Phone) -> str:
    return f"SEP{phone.mac}.cnf.xml"


async def _session_of(job: DeployJob, column: str) -> HotdeskSession:
    session = await HotdeskSession.get_or_none(**{column: job.id})
    if session is None:
        raise PhoneStepError("the hot-desk session of this job no longer exists")
    return session


async def _render(phone: Phone, only_user_id: int | None = None) -> ConfigFile:
    """The phone's template rendered, with its masked text for the config history."""
    try:
        rendered = await render_phone_config_masked(phone.id, only_user_id)
    except UserInputError as exc:
        raise PhoneStepError(f"cannot render the phone's config: {exc}") from None
    return ConfigFile(rendered.filename, rendered.data, rendered.masked)


async def login_config(job: DeployJob, phone: Phone, target: Any) -> ConfigFile:
    session = await _session_of(job, "login_job_id")
    # Checked before anything is read from or sent to the phone: a session that ended
    # (logout, replaced, expired, its phone moved to another company) while its login
    # waited writes nothing.
    current = await Phone.get_or_none(id=phone.id)
    if session.state == HotdeskState.ENDED:
        raise PhoneStepError(
            f"the hot-desk session ended ({session.end_reason}) before its login was written"
        )
    if current is None or current.company_id != session.company_id:  # type: ignore[attr-defined]
        raise PhoneStepError("the phone is no longer in the hot-desk session's company")
    if session.profile_id is not None:  # type: ignore[attr-defined]
        profile = await PhoneProfile.get_or_none(id=session.profile_id)  # type: ignore[attr-defined]
        if profile is None:
            raise PhoneStepError("the user's profile was deleted before the login wrote it")
        # The profile may hold the SIP password of the user logging in (its owner),
        # who is on none of the phone's lines: masked in the config history too.
        users = {session.sip_user_id, profile.owner_id}  # type: ignore[attr-defined]
        config = ConfigFile(
            _cisco_name(phone),
            profile.cnf_xml.encode("utf-8"),
            users=frozenset(u for u in users if u is not None),
        )
    else:
        config = await _render(phone, session.sip_user_id)  # type: ignore[attr-defined]
    filename = config.filename
    if phone.template_id is None and not session.restore_taken:  # type: ignore[attr-defined]
        await _keep_phone_config(session, filename, target)
    elif session.config_filename != filename:
        await HotdeskSession.filter(id=session.id).update(config_filename=filename)
    return config


async def _keep_phone_config(session: HotdeskSession, filename: str, target: Any) -> None:
    """Keep what the phone's config file holds before the login (once per session)."""
    known, data = await service.restore_of(session)
    if not known:
        data = await target.fetch(filename, RENDER_MAX_BYTES)
    await HotdeskSession.filter(id=session.id, restore_taken=False).update(
        restore_taken=True,
        restore_config_enc=service.keep_bytes(data) if data is not None else None,
        config_filename=filename,
    )


async def logout_config(job: DeployJob, phone: Phone, target: Any) -> ConfigFile:
    session = await _session_of(job, "logout_job_id")
    if phone.template_id is not None:  # type: ignore[attr-defined]
        return await _render(phone)
    known, data = await service.restore_of(session)
    if not known:
        raise PhoneStepError(
            "the phone has no template and its config before the login was never read: "
            "nothing to restore (give the phone a template and reprovision it)"
        )
    if data is None:
        raise PhoneStepError(
            "the phone has no template and had no config file before the login: nothing "
            "to restore (give the phone a template and reprovision it)"
        )
    return ConfigFile(session.config_filename or _cisco_name(phone), data)


async def open_session(job: DeployJob) -> None:
    """The login's config is stored: the session is OPEN, its time starts now (and
    ``session_started`` is sent, in the same transaction, once per session)."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        await sql.rows(
            "UPDATE hotdesk_session SET config_written = TRUE WHERE login_job_id = $1", [job.id]
        )
        opened = await sql.rows(
            "UPDATE hotdesk_session SET state = 'OPEN', "
            f"started_at = {sql.now}, "
            f"expires_at = {sql.later(2)} WHERE login_job_id = $1 AND state = 'PENDING' "
            "RETURNING id, company_id, phone_id, sip_user_id",
            [job.id, get_settings().hotdesk_timeout],
        )
        for row in opened:
            await signals.session_started.send(
                session_id=row["id"],
                company_id=row["company_id"],
                phone_id=row["phone_id"],
                sip_user_id=row["sip_user_id"],
            )


async def login_ended(job: DeployJob, status: DeployJobStatus) -> None:
    if status == DeployJobStatus.SUCCEEDED:
        return
    session = await HotdeskSession.get_or_none(login_job_id=job.id)
    if session is not None:
        await fail_unwritten(session)


async def fail_unwritten(session: HotdeskSession) -> None:
    """End a session whose login job ended before writing the config ``FAILED`` (when it
    has not ended otherwise); a logout job follows when the login had replaced another
    session on the phone, whose user's config may still be there."""
    replaced = session.replaces_id is not None  # type: ignore[attr-defined]
    await service.end_session(
        session.id,
        HotdeskEndReason.FAILED,
        session.requested_by,
        extra_condition=" AND state = 'PENDING'",
        queue_logout=replaced,
    )


async def reconcile_pending() -> int:
    """Sessions whose login job ended without the pipeline's own end (cancelled while
    queued, interrupted after a process died): OPEN when the config was written, else
    FAILED. Returns how many were settled."""
    final = [s.value for s in DeployJobStatus if s.is_final]
    pending = await HotdeskSession.filter(
        state=HotdeskState.PENDING, login_job__status__in=final
    ).limit(100)
    settled = 0
    for session in pending:
        written = await DeployEvent.filter(
            job_id=session.login_job_id, step=DeployStep.CONFIG_UPLOADED  # type: ignore[attr-defined]
        ).exists()
        if written:
            job = await DeployJob.get(id=session.login_job_id)  # type: ignore[attr-defined]
            await open_session(job)
        else:
            await fail_unwritten(session)
        settled += 1
    # A login job deleted with its phone's history cannot be settled: nothing to do
    # (the session goes with the phone).
    return settled


register_kind(
    DeployJobKind.HOTDESK_LOGIN,
    KindHooks(
        config=login_config,
        queued_message="Hot-desk login queued",
        uploaded=open_session,
        ended=login_ended,
    ),
)
register_kind(
    DeployJobKind.HOTDESK_LOGOUT,
    KindHooks(config=logout_config, queued_message="Hot-desk logout queued"),
)

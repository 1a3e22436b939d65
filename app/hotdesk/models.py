"""Hot-desk storage: sessions, wrong-PIN counts and lockouts, users' chosen profiles."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.expressions import Q
from tortoise.models import Model

from app.core.auth import Viewer
from app.core.scope import Rule, register_rule
from app.deploy.models import user_job_reach


class HotdeskEndReason(StrEnum):
    LOGOUT = "LOGOUT"
    REPLACED = "REPLACED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


class HotdeskState(StrEnum):
    # The login job is queued or running and has not written the user's config yet.
    PENDING = "PENDING"
    # The user's config is on the phone.
    OPEN = "OPEN"
    ENDED = "ENDED"


class HotdeskSession(Model):
    """One user at one shared phone, from the login until it ends.

    ``open_phone_id`` and ``open_user_id`` hold the phone's and the user's ids while the
    session has not ended, NULL afterwards. Both are unique, so the database itself
    refuses a second unended session on a phone or of a user, whichever server process
    writes it (NULLs never collide, on SQLite as on PostgreSQL).
    """

    id = fields.IntField(primary_key=True)
    phone = fields.ForeignKeyField(
        "models.Phone", related_name="hotdesk_sessions", on_delete=fields.CASCADE
    )
    sip_user = fields.ForeignKeyField(
        "models.SipUser", related_name="hotdesk_sessions", on_delete=fields.CASCADE
    )
    # The phone's company, for scoping without a join (moves with the phone).
    company = fields.ForeignKeyField(
        "models.Company", related_name="hotdesk_sessions", on_delete=fields.CASCADE
    )
    # The profile the login writes; NULL: the phone's template rendered for the user.
    profile = fields.ForeignKeyField(
        "models.PhoneProfile", related_name="hotdesk_sessions", null=True,
        on_delete=fields.SET_NULL,
    )
    state = fields.CharEnumField(HotdeskState, max_length=8, default=HotdeskState.PENDING)
    # Set when the login job has stored the user's config (the session is OPEN then).
    config_written = fields.BooleanField(default=False)
    open_phone_id = fields.IntField(null=True, unique=True)
    open_user_id = fields.IntField(null=True, unique=True)
    # Set by the database's clock: at the login, again when the config is written.
    started_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    end_reason = fields.CharEnumField(HotdeskEndReason, max_length=8, null=True)
    login_job = fields.ForeignKeyField(
        "models.DeployJob", related_name="hotdesk_login_of", null=True, on_delete=fields.SET_NULL
    )
    logout_job = fields.ForeignKeyField(
        "models.DeployJob", related_name="hotdesk_logout_of", null=True, on_delete=fields.SET_NULL
    )
    # The session this login ended on the same phone: the phone's own config is the one
    # that session kept (the phone had that user's config when this login began). A plain
    # id (sessions go only with their phone, and so together).
    replaces_id = fields.IntField(null=True)
    # For a phone without a template: the exact bytes its config file had before the
    # login (encrypted: configs hold SIP credentials), written back at logout.
    # ``restore_taken`` says they were read (``restore_config_enc`` NULL: there was no file).
    restore_taken = fields.BooleanField(default=False)
    restore_config_enc = fields.TextField(null=True)
    config_filename = fields.CharField(max_length=128, null=True)
    # Who logged in: the API token's name, or "phone" for a login made at the phone.
    requested_by = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "hotdesk_session"
        ordering = ["id"]
        indexes = (("state", "expires_at"),)


class HotdeskPinFailure(Model):
    """One wrong PIN (or unknown extension) given for a hot-desk login, at the database's
    time: the lockout and the per-phone limit count these, in every server process."""

    id = fields.IntField(primary_key=True)
    sip_user = fields.ForeignKeyField(
        "models.SipUser", related_name="hotdesk_pin_failures", null=True,
        on_delete=fields.CASCADE,
    )
    phone = fields.ForeignKeyField(
        "models.Phone", related_name="hotdesk_pin_failures", null=True, on_delete=fields.CASCADE
    )
    # A correct PIN clears the user's count (the phone's count keeps it).
    counts_for_user = fields.BooleanField(default=True)
    # For an extension no user has: "<company id>:<extension>", counted like a user, so an
    # unknown extension locks after as many wrong PINs as a real one (the lockout must not
    # tell which extensions exist).
    unknown_extension = fields.CharField(max_length=48, null=True)
    at = fields.DatetimeField()

    class Meta:
        table = "hotdesk_pin_failure"
        indexes = (("sip_user", "at"), ("phone", "at"), ("unknown_extension", "at"))


class HotdeskLock(Model):
    """A user's hot-desk login is locked until ``locked_until`` (database time)."""

    id = fields.IntField(primary_key=True)
    sip_user = fields.OneToOneField(
        "models.SipUser", related_name="hotdesk_lock", on_delete=fields.CASCADE
    )
    locked_until = fields.DatetimeField()

    class Meta:
        table = "hotdesk_lock"


class HotdeskUserProfile(Model):
    """The profile a user's hot-desk logins write (``SipUser.hotdeskProfile``)."""

    id = fields.IntField(primary_key=True)
    sip_user = fields.OneToOneField(
        "models.SipUser", related_name="hotdesk_choice", on_delete=fields.CASCADE
    )
    profile = fields.ForeignKeyField(
        "models.PhoneProfile", related_name="hotdesk_choices", on_delete=fields.CASCADE
    )

    class Meta:
        table = "hotdesk_user_profile"


# ---------------------------------------------------------------- tenant scope

# A USER sees its own sessions in its company: a session moves with its phone to
# another company (as the phone's jobs do), and is then that company's alone.
register_rule(
    HotdeskSession,
    Rule("company_id", lambda v: Q(sip_user_id=v.sip_user_id, company_id=v.company_id)),
)
# Read by the service only (no API type shows them); admins' scope for completeness.
register_rule(HotdeskPinFailure, Rule("sip_user__domain__company_id"))
register_rule(HotdeskLock, Rule("sip_user__domain__company_id"))
register_rule(
    HotdeskUserProfile,
    Rule("sip_user__domain__company_id", lambda v: Q(sip_user_id=v.sip_user_id)),
)


def _own_session_jobs(v: Viewer, via: str) -> Q:
    """A USER sees the login and logout jobs of its own sessions."""
    return Q(**{f"{via}hotdesk_login_of__sip_user_id": v.sip_user_id}) | Q(
        **{f"{via}hotdesk_logout_of__sip_user_id": v.sip_user_id}
    )


user_job_reach.append(_own_session_jobs)

"""Durable deploy jobs and the events each step of them emits."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from tortoise import fields
from tortoise.expressions import Q
from tortoise.models import Model

from app.core.auth import Viewer
from app.core.scope import Rule, register_rule


class DeployJobKind(StrEnum):
    PROFILE_DEPLOY = "PROFILE_DEPLOY"
    REPROVISION = "REPROVISION"
    REBOOT = "REBOOT"
    # Hot desking (app.hotdesk): a user's config onto a shared phone, and the phone's own
    # config back. Their config comes from the hot-desk domain (app.deploy.kinds).
    HOTDESK_LOGIN = "HOTDESK_LOGIN"
    HOTDESK_LOGOUT = "HOTDESK_LOGOUT"
    # CONTRACT §7: the exact bytes of one of the phone's config revisions put back.
    ROLLBACK = "ROLLBACK"


class DeployJobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"

    @property
    def is_final(self) -> bool:
        return self not in (DeployJobStatus.QUEUED, DeployJobStatus.RUNNING)


class DeployStep(StrEnum):
    QUEUED = "QUEUED"
    UPLOADING_CONFIG = "UPLOADING_CONFIG"
    CONFIG_UPLOADED = "CONFIG_UPLOADED"
    CLEARING_SESSION = "CLEARING_SESSION"
    RESTARTING = "RESTARTING"
    WAITING_FOR_PHONE = "WAITING_FOR_PHONE"
    PHONE_ONLINE = "PHONE_ONLINE"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"


class RolloutStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"

    @property
    def is_final(self) -> bool:
        return self in (RolloutStatus.SUCCEEDED, RolloutStatus.FAILED, RolloutStatus.ABORTED)


class DeployJob(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(DeployJobKind, max_length=16)
    status = fields.CharEnumField(DeployJobStatus, max_length=12, default=DeployJobStatus.QUEUED)
    phone = fields.ForeignKeyField(
        "models.Phone", related_name="deploy_jobs", on_delete=fields.CASCADE
    )
    profile = fields.ForeignKeyField(
        "models.PhoneProfile", related_name="deploy_jobs", null=True, on_delete=fields.SET_NULL
    )
    # Company of the phone when the job was made, for scoping without a join.
    company = fields.ForeignKeyField(
        "models.Company", related_name="deploy_jobs", null=True, on_delete=fields.CASCADE
    )
    requested_by = fields.CharField(max_length=200, null=True)
    restart = fields.TextField(null=True)
    error = fields.TextField(null=True)
    cancel_requested = fields.BooleanField(default=False)
    # The per-phone lock: set to the phone's id while the job runs, NULL otherwise. Its
    # unique index lets the database itself refuse a second running job for one phone,
    # whichever server process tries to claim it.
    running_phone_id = fields.IntField(null=True, unique=True)
    # One of PHONEGRAPH_DEPLOY_CONCURRENCY slot numbers while RUNNING: unique, so all
    # server processes together never run more jobs than there are slots.
    running_slot = fields.IntField(null=True, unique=True)
    # The lease of a RUNNING job (app.deploy.leases): which server process holds it, until
    # when (the database's clock, renewed by that process) and when it was last renewed.
    # Another process may take the job over only once the lease has expired.
    runner_id = fields.CharField(max_length=64, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    # How many times the job was claimed. Each claim starts a new lease epoch, and every
    # write a running job makes is conditioned on its epoch (fencing): a process whose
    # job was taken over writes nothing more for it.
    lease_epoch = fields.IntField(default=0)
    # Set, under the lease, just before the restart is sent: from then on the job is not
    # run again from the start (a phone is never restarted twice for one job).
    restart_sent = fields.BooleanField(default=False)
    # The bulk request that queued the job (phonesReprovision), for its payload's list.
    batch_id = fields.CharField(max_length=32, null=True, db_index=True)
    # ROLLBACK jobs: the ConfigRevision whose bytes they write (a plain id: a revision
    # may go by retention before the job runs, which then fails saying so).
    rollback_revision_id = fields.IntField(null=True)
    # The rollout the job belongs to (app.deploy.rollouts): at most one job per phone.
    rollout = fields.ForeignKeyField(
        "models.Rollout", related_name="jobs", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "deploy_job"
        ordering = ["id"]
        indexes = (("phone", "status"), ("status", "id"), ("rollout", "status"))
        unique_together = (("rollout", "phone"),)


class Rollout(Model):
    """Jobs of one kind on a fixed set of phones, queued batch by batch (CONTRACT §8).

    Its phones are stored at creation (:class:`RolloutPhone`). A server process works
    the rollout only while it holds its lease (``lease_epoch``, ``lease_expires_at`` by
    the database's clock, as for deploy jobs); each batch is queued in chunks, each
    chunk conditioned on that epoch, and a job per phone at most (unique index), so
    no batch is queued twice nor lost when a process dies.
    """

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(DeployJobKind, max_length=16)
    status = fields.CharEnumField(RolloutStatus, max_length=12, default=RolloutStatus.SCHEDULED)
    # The company of the admin who asked (NULL: a system admin's), for scoping.
    company = fields.ForeignKeyField(
        "models.Company", related_name="rollouts", null=True, on_delete=fields.CASCADE
    )
    requested_by = fields.CharField(max_length=200, null=True)
    batch_size = fields.IntField()
    batch_pause_seconds = fields.IntField(default=0)
    max_failures = fields.IntField(null=True)
    start_at = fields.DatetimeField()
    total = fields.IntField(default=0)
    batch_count = fields.IntField(default=0)
    # 0 before the first batch, then the batch being worked on (1-based).
    current_batch = fields.IntField(default=0)
    # Whether every job of the current batch is stored (queueing goes in chunks).
    batch_queued = fields.BooleanField(default=True)
    # When the next batch may start (the database's clock), set once the current one ended.
    next_batch_at = fields.DatetimeField(null=True)
    runner_id = fields.CharField(max_length=64, null=True)
    lease_epoch = fields.IntField(default=0)
    lease_expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "rollout"
        ordering = ["id"]
        indexes = (("status", "id"),)


class RolloutPhone(Model):
    """A phone of a rollout, fixed at creation; ``position`` counts from 0 in MAC order."""

    id = fields.IntField(primary_key=True)
    rollout = fields.ForeignKeyField(
        "models.Rollout", related_name="members", on_delete=fields.CASCADE
    )
    phone = fields.ForeignKeyField(
        "models.Phone", related_name="rollout_members", on_delete=fields.CASCADE
    )
    position = fields.IntField()

    class Meta:
        table = "rollout_phone"
        ordering = ["id"]
        unique_together = (("rollout", "position"),)


class DeployEvent(Model):
    id = fields.IntField(primary_key=True)
    job = fields.ForeignKeyField(
        "models.DeployJob", related_name="events", on_delete=fields.CASCADE
    )
    step = fields.CharEnumField(DeployStep, max_length=20)
    message = fields.TextField(null=True)
    at = fields.DatetimeField()

    class Meta:
        table = "deploy_event"
        ordering = ["id"]


class ConfigRevisionReason(StrEnum):
    """Which kind of job wrote a config revision."""

    PROFILE_DEPLOY = "PROFILE_DEPLOY"
    REPROVISION = "REPROVISION"
    HOTDESK_LOGIN = "HOTDESK_LOGIN"
    HOTDESK_LOGOUT = "HOTDESK_LOGOUT"
    ROLLBACK = "ROLLBACK"


class ConfigRevision(Model):
    """A file the server wrote to a phone's config target (CONTRACT §7)."""

    id = fields.IntField(primary_key=True)
    phone = fields.ForeignKeyField(
        "models.Phone", related_name="config_revisions", on_delete=fields.CASCADE
    )
    job = fields.ForeignKeyField(
        "models.DeployJob", related_name="config_revisions", null=True, on_delete=fields.SET_NULL
    )
    reason = fields.CharEnumField(ConfigRevisionReason, max_length=16)
    filename = fields.CharField(max_length=255)
    # Hex SHA-256 and length of the exact bytes written.
    sha256 = fields.CharField(max_length=64)
    size = fields.IntField()
    # The file as people see it: every stored secret the server put in as ********.
    content = fields.TextField()
    # Unified diff of ``content`` against the phone's revision before it, made when the
    # revision was written (so retention never changes what it says).
    diff = fields.TextField()
    # The exact bytes written, encrypted (app.core.crypto.encrypt_bytes), for a
    # rollback; never shown.
    data_enc = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "config_revision"
        ordering = ["-id"]
        indexes = (("phone", "id"),)


# ---------------------------------------------------------------- tenant scope


# What else of the jobs a USER sees, added by the domains above (hot desking: the login
# and logout jobs of its own sessions): ``reach(viewer, via)`` with ``via`` the lookup
# prefix from the scoped model to the job ("" or "job__").
user_job_reach: list[Callable[[Viewer, str], Q]] = []


def _users_jobs(v: Viewer, via: str = "") -> Q:
    """A USER sees the jobs of its own profiles and the jobs on phones where it has a
    line (and what the domains above add, :data:`user_job_reach`)."""
    own = Q(**{f"{via}profile__owner_id": v.sip_user_id}) | Q(
        **{f"{via}phone__lines__sip_user_id": v.sip_user_id}
    )
    for reach in user_job_reach:
        own = own | reach(v, via)
    # Only its company's: a job moves to another company with its phone.
    return own & Q(**{f"{via}company_id": v.company_id})


register_rule(DeployJob, Rule("company_id", _users_jobs))
register_rule(DeployEvent, Rule("job__company_id", lambda v: _users_jobs(v, "job__")))
# A USER reads the revisions of the phones it reads (those with one of its lines), in
# its company: the Phone rule's reach, through the revision's phone.
register_rule(
    ConfigRevision,
    Rule(
        "phone__company_id",
        lambda v: Q(phone__lines__sip_user_id=v.sip_user_id) & Q(phone__company_id=v.company_id),
    ),
)
# Rollouts are admins' work: company admins see their company's, a USER none.
register_rule(Rollout, Rule("company_id"))
register_rule(RolloutPhone, Rule("rollout__company_id"))

"""Rules of deploy requests: who may deploy what where, and the durable queue.

A request only checks and queues: it writes the job and its QUEUED event in one
transaction and returns. The runner (``app.deploy.runner``) of any server process
sharing the database then works the job.

Who may ask for what:

* ``phoneProfileDeploy`` — the profile must be visible to the caller (a USER token: its
  own profiles). The phone must be visible to an admin; a USER may deploy to a phone
  with one of its lines, or — hot desking — to an ACTIVE phone of its company that has
  ``canHotdesk`` when the user's ``hotdeskAllowed`` is set. Other phones are NOT_FOUND.
* ``phoneReboot``, ``phoneReprovision``, ``phonesReprovision``, ``phonesReboot``,
  ``phoneConfigRollback`` — admins only, on the phones in their scope (a rollback: to a
  revision of that phone).
* ``deployJobCancel`` — admins for jobs in their scope; a USER for the deploys of its own
  profiles.

Jobs of one phone never interleave: a request made while another job of the phone is
QUEUED or RUNNING is queued behind it and starts when it ends.

``phonesReprovision`` and ``phonesReboot`` make a rollout (``app.deploy.rollouts``),
whose batches are queued by :func:`queue_chunk` in chunks of :data:`BULK_CHUNK` phones,
each chunk one transaction of two bulk inserts (the jobs, then their QUEUED events), so
ten thousand phones are queued in about a second. It is idempotent: a phone that already
has a QUEUED job of the same kind gets no second one (PostgreSQL serializes bulk requests
with an advisory lock for this).

A phone with a QUEUED or RUNNING job cannot be deleted (``IN_USE``): its jobs and their
events would go with it, and whoever follows them would wait for an end that never
comes. Cancel the jobs first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from app.core.auth import Viewer
from app.core.errors import (
    conflict,
    forbidden,
    in_use,
    incompatible,
    invalid,
    not_found,
)
from app.core.events import get_bus, is_resync
from app.core.ids import decode_id
from app.core.models import Company, Role
from app.core.scalars import format_mac
from app.core.scope import require_write, visible
from app.core.validation import mac_input
from app.deploy.models import (
    ConfigRevision,
    DeployEvent,
    DeployJob,
    DeployJobKind,
    DeployJobStatus,
    DeployStep,
)
from app.deploy.pipeline import bus_message, event_message, finish_unclaimed, publish
from app.deploy.sql import ENQUEUE_LOCK, DialectSql, as_datetime, dialect_sql
from app.devices import signals as device_signals
from app.devices.catalogue import config_filename
from app.devices.models import Phone, PhoneModel, PhoneStatus
from app.pbx import signals as pbx_signals
from app.pbx.models import SipUser
from app.profiles import signals as profile_signals
from app.profiles.models import PhoneProfile
from app.profiles.service import fits_model, fits_software, get_profile

UNFINISHED = (DeployJobStatus.QUEUED, DeployJobStatus.RUNNING)


# ---------------------------------------------------------------- lower domains' changes


@pbx_signals.user_deleting.connect
async def _refuse_user_with_running_deploys(user: SipUser) -> None:
    if await DeployJob.filter(profile__owner_id=user.id, status__in=UNFINISHED).exists():
        raise in_use("A deploy of one of this user's profiles is still queued or running", "id")


@profile_signals.profile_deleting.connect
async def _refuse_profile_with_running_deploys(profile: PhoneProfile) -> None:
    if await DeployJob.filter(profile_id=profile.id, status__in=UNFINISHED).exists():
        raise in_use("A deploy job of this profile has not finished yet", "id")


@device_signals.phone_deleting.connect
async def _refuse_phone_with_unfinished_jobs(phone: Phone) -> None:
    if await DeployJob.filter(phone_id=phone.id, status__in=UNFINISHED).exists():
        raise in_use(
            "The phone has a deploy job that is still queued or running; cancel it "
            "(deployJobCancel) and let it end first",
            "mac",
        )


@device_signals.phone_company_changed.connect
async def _move_job_history(phone: Phone) -> None:
    # The phone's job history moves with it: the old company no longer sees it.
    await DeployJob.filter(phone_id=phone.id).update(company_id=phone.company_id)  # type: ignore[attr-defined]


@device_signals.phone_company_changed.connect
async def _drop_config_history(phone: Phone) -> None:
    # The config revisions are the old company's files (its users, its domain, its
    # provisioning key): the new company neither reads nor rolls back to them.
    await ConfigRevision.filter(phone_id=phone.id).delete()


def may_cancel(viewer: Viewer, job: DeployJob) -> bool:
    """Whether the viewer may cancel a job it sees (``job.profile`` fetched): admins any;
    a USER only the deploys of its own profiles, not a reboot an admin asked for."""
    if viewer.role != Role.USER:
        return True
    profile = job.profile  # type: ignore[attr-defined]
    return profile is not None and profile.owner_id == viewer.sip_user_id

_QUEUED_MESSAGE = {
    DeployJobKind.PROFILE_DEPLOY: "Profile deploy queued",
    DeployJobKind.REPROVISION: "Reprovision queued",
    DeployJobKind.REBOOT: "Reboot queued",
    DeployJobKind.ROLLBACK: "Config rollback queued",
}


def queued_message(kind: DeployJobKind) -> str:
    """The text of a job's QUEUED event."""
    from app.deploy.kinds import hooks_of

    hooks = hooks_of(kind)
    return hooks.queued_message if hooks else _QUEUED_MESSAGE[kind]


async def stage_job(
    phone_id: int, company_id: int | None, kind: DeployJobKind, requested_by: str | None
) -> tuple[DeployJob, dict[str, Any]]:
    """Store a QUEUED job with its QUEUED event inside the caller's transaction; the job
    and the bus message to :func:`announce` once that transaction has committed."""
    job = await DeployJob.create(
        kind=kind, phone_id=phone_id, company_id=company_id, requested_by=requested_by
    )
    event = await DeployEvent.create(
        job_id=job.id, step=DeployStep.QUEUED, message=queued_message(kind), at=job.created_at
    )
    return job, bus_message(event, job)


async def announce(messages: list[dict[str, Any]]) -> None:
    """Publish the QUEUED events of jobs staged in a committed transaction; wake the
    runner."""
    from app.deploy.runner import wake_runner

    await publish(messages)
    if messages:
        wake_runner()


async def _visible_phone(viewer: Viewer, mac: str, *field: str) -> Phone:
    phone = await visible(Phone, viewer).get_or_none(mac=mac_input(mac, *field))
    if phone is None:
        raise not_found("Phone", *field)
    return phone


async def _deployable_phone(viewer: Viewer, mac: str) -> Phone:
    """The phone a caller may deploy a profile to: the phones it sees, and for a USER
    allowed to hot-desk, every ACTIVE hot-desk phone of its company (the Phone scope
    rule's "deploy" action)."""
    phone = await visible(Phone, viewer, action="deploy").get_or_none(mac=mac_input(mac, "mac"))
    if phone is None:
        raise not_found("Phone", "mac")
    return phone


def _require_active(phone: Phone) -> None:
    if phone.status != PhoneStatus.ACTIVE:
        raise invalid(
            f"Phone {format_mac(phone.mac)} is {phone.status}; only ACTIVE phones can be "
            "deployed to",
            "mac",
        )


async def enqueue(
    phone: Phone,
    kind: DeployJobKind,
    viewer: Viewer,
    profile: PhoneProfile | None = None,
    **columns: Any,
) -> DeployJob:
    """Store a QUEUED job with its QUEUED event, publish the event, wake the runner
    (``columns``: more of the job's row, e.g. a rollback's revision)."""
    from app.deploy.runner import wake_runner

    async with in_transaction():
        job = await DeployJob.create(
            kind=kind,
            phone_id=phone.id,
            profile_id=profile.id if profile else None,
            company_id=phone.company_id,  # type: ignore[attr-defined]
            requested_by=viewer.token_name,
            **columns,
        )
        event = await DeployEvent.create(
            job_id=job.id, step=DeployStep.QUEUED, message=queued_message(kind), at=job.created_at
        )
    await publish([bus_message(event, job)])
    wake_runner()
    return job


# Phones queued per transaction by a bulk request.
BULK_CHUNK = 500


@dataclass
class BulkQueued:
    """What a bulk request queued."""

    batch_id: str
    queued: int = 0
    # Phones that already had a QUEUED job of the same kind (and got no second one).
    already_queued: int = 0
    job_ids: list[int] = field(default_factory=list)


async def queue_chunk(
    chunk: list[dict[str, Any]],
    kind: DeployJobKind,
    requested_by: str | None,
    result: BulkQueued,
    *,
    rollout_id: int | None = None,
    guard: Callable[[DialectSql], Awaitable[None]] | None = None,
) -> list[dict[str, Any]]:
    """Queue the jobs of one chunk of phones (``id`` and ``company_id`` each, at most
    :data:`BULK_CHUNK`): two inserts, one transaction; their bus messages.

    A phone that already has a QUEUED job of ``kind`` gets no second one, nor one that
    already has a job of ``rollout_id``. ``guard`` runs first in the transaction (a
    rollout's fence: it raises to store nothing). Raises ``IntegrityError`` when a phone
    of the chunk was deleted meanwhile (see :func:`queue_chunk_again`)."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        if guard is not None:
            await guard(sql)
        await sql.serialize(ENQUEUE_LOCK)
        params: list[Any] = [kind.value, requested_by, result.batch_id, rollout_id]
        values = []
        for row in chunk:
            params += [row["id"], row["company_id"]]
            n = len(params)
            values.append(f"({sql.cast(f'${n - 1}', 'int')}, {sql.cast(f'${n}', 'int')})")
        kind_param = sql.cast("$1", "varchar")
        rollout_param = sql.cast("$4", "int")
        jobs = await sql.rows(
            'INSERT INTO "deploy_job" ("kind", "status", "phone_id", "company_id", '
            '"requested_by", "cancel_requested", "created_at", "lease_epoch", '
            '"restart_sent", "batch_id", "rollout_id") '
            f"SELECT {kind_param}, 'QUEUED', v.column1, v.column2, "
            f"{sql.cast('$2', 'varchar')}, FALSE, {sql.now}, 0, FALSE, "
            f"{sql.cast('$3', 'varchar')}, {rollout_param} "
            f"FROM (VALUES {', '.join(values)}) AS v "
            # Idempotent: no second QUEUED job of the same kind for a phone. (Correlated
            # lookups, not anti-joins: the statistics are stale during a bulk insert.)
            "WHERE (SELECT q.id FROM deploy_job q WHERE q.phone_id = v.column1 "
            f"AND q.status = 'QUEUED' AND q.kind = {kind_param} LIMIT 1) IS NULL "
            # One job per phone of a rollout, whoever queues its batch again.
            f"AND ({rollout_param} IS NULL OR (SELECT r.id FROM deploy_job r "
            f"WHERE r.rollout_id = {rollout_param} AND r.phone_id = v.column1) IS NULL) "
            # A phone deleted since the chunk was read is left out, not an error.
            "AND (SELECT p.id FROM phone p WHERE p.id = v.column1) IS NOT NULL "
            "RETURNING id, phone_id, company_id",
            params,
        )
        result.already_queued += len(chunk) - len(jobs)
        if not jobs:
            return []
        events = await sql.rows(
            'INSERT INTO "deploy_event" ("job_id", "step", "message", "at") '
            f"SELECT id, 'QUEUED', $1, {sql.now} FROM deploy_job "
            "WHERE batch_id = $2 AND id >= $3 RETURNING id, job_id, at",
            [_QUEUED_MESSAGE[kind], result.batch_id, min(job["id"] for job in jobs)],
        )
    by_job = {job["id"]: job for job in jobs}
    result.queued += len(jobs)
    result.job_ids += sorted(by_job)
    return [
        # Which rollout the job is of, so nobody has to look it up (app.deploy.rollout_events).
        {"rollout_id": rollout_id}
        | event_message(
            DeployEvent(
                id=row["id"],
                job_id=row["job_id"],
                step=DeployStep.QUEUED,
                message=_QUEUED_MESSAGE[kind],
                at=as_datetime(row["at"]),
            ),
            phone_id=by_job[row["job_id"]]["phone_id"],
            company_id=by_job[row["job_id"]]["company_id"],
            profile_id=None,
        )
        for row in sorted(events, key=lambda r: r["id"])
    ]


async def queue_chunk_again(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chunk without the phones deleted since it was read."""
    ids = set(
        await Phone.filter(id__in=[row["id"] for row in chunk]).values_list("id", flat=True)
    )
    return [row for row in chunk if row["id"] in ids]


async def deploy_profile(
    viewer: Viewer, profile_id: str, mac: str
) -> tuple[DeployJob, PhoneProfile, Phone]:
    """Queue the profile switch: ``profile`` onto the phone with ``mac``."""
    profile = await get_profile(viewer, profile_id, "profileId")
    phone = await _deployable_phone(viewer, mac)
    _require_active(phone)
    owner_company = await Company.filter(sip_domains__users__id=profile.owner_id).first()  # type: ignore[attr-defined]
    if owner_company is None or owner_company.id != phone.company_id:  # type: ignore[attr-defined]
        raise incompatible(
            "The profile's owner and the phone belong to different companies", "profileId"
        )
    model = await PhoneModel.get_or_none(id=phone.model_id)  # type: ignore[attr-defined]
    model_name = model.name if model else None
    if not fits_model(profile, model_name):
        raise incompatible(
            f"Profile {profile.name!r} fits models {', '.join(profile.compatible_models)}; "
            f"the phone is {'a ' + model_name if model_name else 'of no known model'}",
            "profileId",
        )
    if not fits_software(profile, model.software_types if model else None):
        raise incompatible(
            f"Profile {profile.name!r} is for {profile.software_type} phones; the phone's "
            f"model runs {', '.join(model.software_types) if model else 'nothing known'}",
            "profileId",
        )
    job = await enqueue(phone, DeployJobKind.PROFILE_DEPLOY, viewer, profile)
    return job, profile, phone


async def reboot(viewer: Viewer, mac: str) -> DeployJob:
    require_write(Phone, viewer)
    phone = await _visible_phone(viewer, mac, "mac")
    _require_active(phone)
    return await enqueue(phone, DeployJobKind.REBOOT, viewer)


async def reprovision(viewer: Viewer, mac: str) -> DeployJob:
    require_write(Phone, viewer)
    phone = await _visible_phone(viewer, mac, "mac")
    _require_active(phone)
    if phone.model_id is None:  # type: ignore[attr-defined]
        raise invalid("The phone has no model, so it has no config to render", "mac")
    return await enqueue(phone, DeployJobKind.REPROVISION, viewer)


async def rollback(viewer: Viewer, mac: str, revision_id: str) -> DeployJob:
    """Queue a ROLLBACK: the exact bytes of one of the phone's revisions written back
    under its file name, then the phone restarted (CONTRACT §7)."""
    require_write(Phone, viewer)
    phone = await _visible_phone(viewer, mac, "mac")
    _require_active(phone)
    pk = decode_id(revision_id, "ConfigRevision", "revisionId")
    revision = await visible(ConfigRevision, viewer).get_or_none(id=pk)
    if revision is None:
        raise not_found("ConfigRevision", "revisionId")
    if revision.phone_id != phone.id:  # type: ignore[attr-defined]
        raise invalid(
            f"The revision is not one of phone {format_mac(phone.mac)}'s: a phone is rolled "
            "back only to a config it had",
            "revisionId",
        )
    model = await PhoneModel.get_or_none(id=phone.model_id)  # type: ignore[attr-defined]
    if model is not None:
        reads = config_filename(model.config_filename_pattern, phone.mac)
        if revision.filename != reads:
            # Written back under its old name, the file would change nothing on the phone.
            raise invalid(
                f"The revision was written as {revision.filename}, but the phone now fetches "
                f"{reads} (its model changed): rolling back to it would not change the "
                "phone's config",
                "revisionId",
            )
    return await enqueue(phone, DeployJobKind.ROLLBACK, viewer, rollback_revision_id=revision.id)


def filter_phones(viewer: Viewer, flt: Any) -> QuerySet[Phone]:
    """Visible phones matching a ``PhoneFilter``: the same selection as ``phones(filter)``."""
    from app.devices.filters import filter_phones as matching

    return matching(visible(Phone, viewer), flt)


def bulk_phones(viewer: Viewer, flt: Any, kind: DeployJobKind) -> QuerySet[Phone]:
    """The phones a bulk request of ``kind`` works on: every ACTIVE phone ``flt``
    matches in the caller's scope (with a model, for a reprovision)."""
    require_write(Phone, viewer)
    phones = filter_phones(viewer, flt).filter(status=PhoneStatus.ACTIVE)
    if kind == DeployJobKind.REPROVISION:
        phones = phones.filter(model_id__isnull=False)
    return phones


async def cancel(viewer: Viewer, job_id: str) -> DeployJob:
    """QUEUED: cancelled at once. RUNNING: stops before its next step. Ended: CONFLICT."""
    pk = decode_id(job_id, "DeployJob", "id")
    job = await visible(DeployJob, viewer).get_or_none(id=pk).prefetch_related("profile")
    if job is None:
        raise not_found("DeployJob", "id")
    if not may_cancel(viewer, job):
        raise forbidden("A USER token may cancel only the deploys of its own profiles.")
    # A job can move between QUEUED and RUNNING while this runs (claimed, or handed back
    # by a stopping process): each write is conditioned on the status it was read with,
    # and read again when that changed.
    for _ in range(5):
        if job.status == DeployJobStatus.QUEUED:
            if await finish_unclaimed(
                job,
                DeployJobStatus.CANCELLED,
                DeployStep.CANCELLED,
                "Cancelled on request before it started",
            ):
                return await DeployJob.get(id=job.id)
        elif job.status == DeployJobStatus.RUNNING:
            if await DeployJob.filter(id=job.id, status=DeployJobStatus.RUNNING).update(
                cancel_requested=True
            ):
                return await DeployJob.get(id=job.id)
        else:
            break
        job = await DeployJob.get(id=job.id)
    if not DeployJobStatus(job.status).is_final:
        raise conflict("The job changed while it was being cancelled; ask again", "id")
    raise conflict(f"The job has already ended ({job.status})", "id")


async def wait_for_job(job_id: int, timeout: float, poll: float = 1.0) -> DeployJob:
    """The job once it has ended (whichever process runs it) — or as it stands after
    ``timeout`` seconds, or when this server process starts stopping."""
    from app.deploy.runner import draining

    bus = get_bus()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with bus.subscribe() as queue:
        while True:
            job = await DeployJob.get(id=job_id)
            left = deadline - loop.time()
            if DeployJobStatus(job.status).is_final or left <= 0 or draining():
                return job
            try:
                async with asyncio.timeout(min(poll, left)):
                    while True:
                        message = await queue.get()
                        if is_resync(message):
                            break  # messages may have been lost: look at the job again
                        if message.get("job_id") == job_id and message.get("step") in (
                            "SUCCEEDED",
                            "FAILED",
                            "CANCELLED",
                            "INTERRUPTED",
                        ):
                            break
            except TimeoutError:
                pass

"""Rollouts (CONTRACT §8): one kind of job on many phones, batch by batch.

A rollout's phones are fixed when it is created: every phone the request matched, in
MAC order, stored as :class:`RolloutPhone` rows (inserted in chunks of
:data:`CHUNK`, with the rollout, in one transaction). Batch ``k`` is the phones at
positions ``[(k-1)·batchSize, k·batchSize)``.

Work on a rollout — starting it, queueing a batch, ending it — is done by whichever
server process holds its **lease** (``lease_epoch``/``lease_expires_at``, judged by the
database's clock, as for deploy jobs): every write is an UPDATE of the rollout's row
conditioned on the epoch the holder took (fencing), and the jobs of a batch are
queued in chunks whose transaction starts with that UPDATE. A process that dies while
queueing leaves the lease to expire; the next holder queues the phones of the batch
that have no job yet (a phone gets one job per rollout at most: a unique index), so a
batch is neither lost nor queued twice. The rollout worker (``app.deploy.rollout_worker``)
of every process looks for rollouts with work to do every second.

Counts are not stored: they are read from the rollout's jobs (one grouped query).
Every change of them or of the status is announced on the event bus by
``app.deploy.rollout_events``.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from app.core.auth import Viewer
from app.core.errors import conflict, invalid, not_found
from app.core.ids import decode_id
from app.core.models import Role
from app.core.scope import visible
from app.core.validation import clean_input, int_between
from app.deploy.models import (
    DeployEvent,
    DeployJob,
    DeployJobKind,
    DeployJobStatus,
    DeployStep,
    Rollout,
    RolloutPhone,
    RolloutStatus,
)
from app.deploy.pipeline import event_message, publish
from app.deploy.rollout_events import rollouts_changed
from app.deploy.service import (
    BULK_CHUNK,
    BulkQueued,
    bulk_phones,
    queue_chunk,
    queue_chunk_again,
)
from app.deploy.signals import announce_end, rollout_ended
from app.deploy.sql import ENQUEUE_LOCK, DialectSql, as_datetime, dialect_sql
from app.devices.models import PhoneStatus
from app.settings import get_settings

log = logging.getLogger(__name__)

# Phones read, stored or queued per statement.
CHUNK = BULK_CHUNK
# Input bounds (userErrors beyond them).
MAX_BATCH_SIZE = 10_000
MAX_PAUSE_SECONDS = 7 * 24 * 3600
MAX_FAILURES = 1_000_000
MAX_START_AHEAD = timedelta(days=366)

UNFINISHED = (DeployJobStatus.QUEUED, DeployJobStatus.RUNNING)
FAILED_STATUSES = (DeployJobStatus.FAILED, DeployJobStatus.INTERRUPTED)
ABORTED_MESSAGE = "Cancelled: its rollout was aborted before it started"


class RolloutFenced(Exception):
    """The rollout is no longer this holder's to work on (or changed under it)."""


# ---------------------------------------------------------------- input


@dataclass
class RolloutOptions:
    batch_size: int | None = None
    batch_pause_seconds: int = 0
    max_failures: int | None = None
    start_at: datetime | None = None


def _optional(cleaner: Any) -> Any:
    return lambda value, path: None if value is None else cleaner(value, path)


def _start_at(value: Any, path: tuple[str, ...]) -> datetime | None:
    if value is None:
        return None
    at = value if value.tzinfo else value.replace(tzinfo=UTC)
    at = at.astimezone(UTC)
    if at > datetime.now(UTC) + MAX_START_AHEAD:
        raise invalid("startAt must be within a year from now", *path)
    return at


_CLEANERS = {
    "batch_size": _optional(int_between(1, MAX_BATCH_SIZE)),
    "batch_pause_seconds": _optional(int_between(0, MAX_PAUSE_SECONDS)),
    "max_failures": _optional(int_between(0, MAX_FAILURES)),
    "start_at": _start_at,
}


def clean_options(data: Any) -> RolloutOptions:
    """A ``RolloutInput`` (or ``None``: every phone at once, now), checked; every
    problem a userError on ``rollout.<field>``."""
    if data is None:
        return RolloutOptions()
    sent = {name: getattr(data, name, None) for name in _CLEANERS}
    out = clean_input(sent, _CLEANERS, prefix=("rollout",))
    return RolloutOptions(
        batch_size=out.get("batch_size"),
        batch_pause_seconds=out.get("batch_pause_seconds") or 0,
        max_failures=out.get("max_failures"),
        start_at=out.get("start_at"),
    )


# ---------------------------------------------------------------- creating


@dataclass
class Created:
    """What a bulk request made: its rollout (none when no phone matched)."""

    rollout: Rollout | None
    already_queued: int = 0


async def create(viewer: Viewer, flt: Any, kind: DeployJobKind, data: Any) -> Created:
    """A rollout of ``kind`` on every phone ``flt`` matches (``bulk_phones``) that has no
    QUEUED job of that kind yet (those count as already queued). Without a ``startAt``
    its first batch is queued before this returns."""
    phones = bulk_phones(viewer, flt, kind)
    options = clean_options(data)
    settings = get_settings()
    already = 0
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        # Bulk requests take turns: the check for queued jobs below stays true.
        await sql.serialize(ENQUEUE_LOCK)
        rollout = await Rollout.create(
            kind=kind,
            # Without a startAt it starts at once (its first batch is queued below).
            status=RolloutStatus.SCHEDULED if options.start_at else RolloutStatus.RUNNING,
            company_id=viewer.company_id if viewer.role == Role.COMPANY_ADMIN else None,
            requested_by=viewer.token_name,
            batch_size=options.batch_size or 1,
            batch_pause_seconds=options.batch_pause_seconds,
            max_failures=options.max_failures,
            start_at=options.start_at or datetime.now(UTC),
            lease_epoch=1,
            using_db=conn,
        )
        # Held by this request from the start: no worker works it before it is whole.
        await sql.rows(
            f"UPDATE rollout SET lease_expires_at = {sql.later(2)} WHERE id = $1",
            [rollout.id, settings.lease_seconds],
        )
        position = 0
        after = ""
        while True:
            chunk = list(
                await phones.filter(mac__gt=after)
                .order_by("mac")
                .limit(CHUNK)
                .using_db(conn)
                .values("id", "mac")
            )
            if not chunk:
                break
            after = chunk[-1]["mac"]
            ids = [row["id"] for row in chunk]
            busy = set(
                await DeployJob.filter(phone_id__in=ids, status=DeployJobStatus.QUEUED, kind=kind)
                .using_db(conn)
                .values_list("phone_id", flat=True)
            )
            already += len(busy)
            members = []
            for phone_id in ids:
                if phone_id in busy:
                    continue
                members.append(
                    RolloutPhone(rollout_id=rollout.id, phone_id=phone_id, position=position)
                )
                position += 1
            if members:
                await RolloutPhone.bulk_create(members, using_db=conn)
            if len(chunk) < CHUNK:
                break
        if position == 0:
            await rollout.delete(using_db=conn)
            return Created(None, already)
        size = options.batch_size or position
        # The lease renewed: storing many phones may have taken a while.
        await sql.rows(
            f"UPDATE rollout SET total = $2, batch_size = $3, batch_count = $4, "
            f"lease_expires_at = {sql.later(5)} WHERE id = $1",
            [rollout.id, position, size, math.ceil(position / size), settings.lease_seconds],
        )
    await rollouts_changed([rollout.id])
    # This request holds the lease: it starts the rollout when it is due (the first
    # batch queued before the answer), and lets go.
    await work(rollout.id, 1)
    return Created(await Rollout.get(id=rollout.id), already)


# ---------------------------------------------------------------- counts


@dataclass(frozen=True)
class Counts:
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    jobs: int = 0

    def skipped(self, rollout: Rollout) -> int:
        """Phones that never got a job: once the rollout has ended, every one without a
        job; before, those of the batches queued so far (no longer ACTIVE, say, when
        their batch came)."""
        if RolloutStatus(rollout.status).is_final:
            return max(0, rollout.total - self.jobs)
        reached = rollout.current_batch if rollout.batch_queued else rollout.current_batch - 1
        return max(0, min(rollout.total, max(0, reached) * rollout.batch_size) - self.jobs)


async def counts_of(rollout_ids: list[int]) -> dict[int, Counts]:
    """The live counts of the rollouts (one grouped query)."""
    if not rollout_ids:
        return {}
    raw: dict[int, dict[str, int]] = {i: {} for i in rollout_ids}
    rows = (
        await DeployJob.filter(rollout_id__in=rollout_ids)
        .group_by("rollout_id", "status")
        .annotate(n=Count("id"))
        .values("rollout_id", "status", "n")
    )
    for row in rows:
        raw[row["rollout_id"]][str(row["status"])] = row["n"]
    out = {}
    for rid, by in raw.items():
        out[rid] = Counts(
            queued=by.get("QUEUED", 0),
            running=by.get("RUNNING", 0),
            succeeded=by.get("SUCCEEDED", 0),
            failed=by.get("FAILED", 0) + by.get("INTERRUPTED", 0),
            cancelled=by.get("CANCELLED", 0),
            jobs=sum(by.values()),
        )
    return out


# ---------------------------------------------------------------- the work (under the lease)


async def _fenced(
    sql: DialectSql,
    rollout_id: int,
    epoch: int,
    sets: str = "",
    where: str = "",
    params: list[Any] | None = None,
) -> bool:
    """An UPDATE of the rollout's row, renewing the lease, made only while ``epoch`` holds
    it and ``where`` is true (parameters from ``$4``); whether it was made."""
    rows = await sql.rows(
        f"UPDATE rollout SET lease_expires_at = {sql.later(3)}{', ' + sets if sets else ''} "
        f"WHERE id = $1 AND lease_epoch = $2 {where} RETURNING id",
        [rollout_id, epoch, get_settings().lease_seconds, *(params or [])],
    )
    return bool(rows)


async def _update(
    rollout_id: int, epoch: int, sets: str, where: str, params: list[Any] | None = None
) -> bool:
    """:func:`_fenced` on its own, announced when made."""
    changed = await _fenced(dialect_sql(), rollout_id, epoch, sets, where, params)
    if changed:
        await rollouts_changed([rollout_id])
    return changed


async def _end(rollout: Rollout, epoch: int, status: RolloutStatus) -> bool:
    """The final status, once: the signal is sent in the same transaction."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        if not await _fenced(
            sql,
            rollout.id,
            epoch,
            f"status = $4, finished_at = {sql.now}",
            "AND status = 'RUNNING'",
            [status.value],
        ):
            return False
        row = await Rollout.get(id=rollout.id).using_db(conn)
        await rollout_ended.send(rollout=row)
    await rollouts_changed([rollout.id])
    return True


async def _queue_batch(rollout: Rollout, epoch: int) -> None:
    """Queue the jobs of the current batch its phones do not have yet, chunk by chunk
    (each fenced), then mark the batch queued."""
    from app.deploy.runner import wake_runner

    k = rollout.current_batch
    low, high = (k - 1) * rollout.batch_size, k * rollout.batch_size
    result = BulkQueued(batch_id=secrets.token_hex(8))

    async def guard(sql: DialectSql) -> None:
        if not await _fenced(sql, rollout.id, epoch, where="AND status IN ('RUNNING', 'PAUSED')"):
            raise RolloutFenced

    after = low - 1
    while True:
        # Its phones still ACTIVE (and, for a company admin's, still in its company):
        # one statement per chunk.
        members = RolloutPhone.filter(
            rollout_id=rollout.id,
            position__gt=after,
            position__lt=high,
            phone__status=PhoneStatus.ACTIVE,
        )
        if rollout.company_id is not None:  # type: ignore[attr-defined]
            members = members.filter(phone__company_id=rollout.company_id)  # type: ignore[attr-defined]
        if rollout.kind == DeployJobKind.REPROVISION:
            members = members.filter(phone__model_id__isnull=False)
        rows = list(
            await members.order_by("position")
            .limit(CHUNK)
            .values("phone_id", "position", company_id="phone__company_id")
        )
        if not rows:
            break
        after = rows[-1]["position"]
        chunk = [{"id": row["phone_id"], "company_id": row["company_id"]} for row in rows]
        messages: list[dict[str, Any]] = []
        for _ in range(3):
            if not chunk:
                break
            try:
                messages = await queue_chunk(
                    chunk,
                    DeployJobKind(rollout.kind),
                    rollout.requested_by,
                    result,
                    rollout_id=rollout.id,
                    guard=guard,
                )
                break
            except IntegrityError:
                chunk = await queue_chunk_again(chunk)
        else:
            raise RuntimeError("the phones of a rollout batch kept changing while queued")
        await publish(messages)
        if messages:
            wake_runner()
        if len(rows) < CHUNK:
            break
    if not await _update(
        rollout.id, epoch, "batch_queued = TRUE", "AND current_batch = $4", [k]
    ):
        raise RolloutFenced


async def advance(rollout_id: int, epoch: int) -> None:
    """Take the rollout as far as it can go now, under the lease ``epoch``."""
    for _ in range(8):  # a few steps per turn; the next turn goes on
        rollout = await Rollout.get_or_none(id=rollout_id)
        if rollout is None or rollout.lease_epoch != epoch:
            return
        status = RolloutStatus(rollout.status)
        if status == RolloutStatus.SCHEDULED:
            sql = dialect_sql()
            if not await _update(
                rollout_id,
                epoch,
                "status = 'RUNNING'",
                f"AND status = 'SCHEDULED' AND start_at <= {sql.now}",
            ):
                return
            continue
        if status == RolloutStatus.PAUSED:
            # A batch begun before the pause is queued whole; no new one starts.
            if rollout.current_batch > 0 and not rollout.batch_queued:
                await _queue_batch(rollout, epoch)
            return
        if status != RolloutStatus.RUNNING:
            return
        if rollout.current_batch == 0:
            if not await _update(
                rollout_id,
                epoch,
                "current_batch = 1, batch_queued = FALSE, next_batch_at = NULL",
                "AND status = 'RUNNING' AND current_batch = 0",
            ):
                return
            continue
        if not rollout.batch_queued:
            await _queue_batch(rollout, epoch)
            continue
        if await DeployJob.exists(rollout_id=rollout_id, status__in=UNFINISHED):
            return  # the batch is still being worked on
        failures = await DeployJob.filter(
            rollout_id=rollout_id, status__in=FAILED_STATUSES
        ).count()
        if rollout.max_failures is not None and failures > rollout.max_failures:
            await _end(rollout, epoch, RolloutStatus.FAILED)
            return
        if rollout.current_batch >= rollout.batch_count:
            await _end(rollout, epoch, RolloutStatus.SUCCEEDED)
            return
        sql = dialect_sql()
        if rollout.next_batch_at is None:
            if not await _update(
                rollout_id,
                epoch,
                f"next_batch_at = {sql.later(5)}",
                "AND status = 'RUNNING' AND current_batch = $4",
                [rollout.current_batch, rollout.batch_pause_seconds],
            ):
                return
            continue
        if not await _update(
            rollout_id,
            epoch,
            "current_batch = current_batch + 1, batch_queued = FALSE, next_batch_at = NULL",
            f"AND status = 'RUNNING' AND current_batch = $4 AND next_batch_at <= {sql.now}",
            [rollout.current_batch],
        ):
            return  # the pause is not over yet
        continue


async def take(rollout_id: int, runner_id: str) -> int | None:
    """Take the rollout's lease when nobody holds it (by the database's clock); the new
    epoch, or ``None``."""
    sql = dialect_sql()
    rows = await sql.rows(
        f"UPDATE rollout SET lease_epoch = lease_epoch + 1, lease_expires_at = {sql.later(3)}, "
        "runner_id = $2 WHERE id = $1 AND status IN ('SCHEDULED', 'RUNNING', 'PAUSED') "
        f"AND (lease_expires_at IS NULL OR lease_expires_at < {sql.now}) RETURNING lease_epoch",
        [rollout_id, runner_id, get_settings().lease_seconds],
    )
    return rows[0]["lease_epoch"] if rows else None


async def release(rollout_id: int, epoch: int) -> None:
    sql = dialect_sql()
    await sql.rows(
        "UPDATE rollout SET lease_expires_at = NULL WHERE id = $1 AND lease_epoch = $2",
        [rollout_id, epoch],
    )


async def work(rollout_id: int, epoch: int) -> None:
    """One turn on a rollout whose lease ``epoch`` this process holds, then let go."""
    try:
        await advance(rollout_id, epoch)
    except RolloutFenced:
        return  # another holder, or it changed: the next turn decides again
    finally:
        try:
            await release(rollout_id, epoch)
        except Exception:
            log.warning("could not let go of rollout %s; its lease expires", rollout_id)


# ---------------------------------------------------------------- pause, resume, abort


async def _visible_rollout(viewer: Viewer, rollout_id: str) -> Rollout:
    pk = decode_id(rollout_id, "Rollout", "id")
    row = await visible(Rollout, viewer).get_or_none(id=pk)
    if row is None:
        raise not_found("Rollout", "id")
    return row


def _refused(rollout: Rollout, what: str) -> Exception:
    return conflict(f"The rollout is {rollout.status}; it cannot be {what}", "id")


async def pause(viewer: Viewer, rollout_id: str) -> Rollout:
    """No new batch starts (the jobs queued or running go on): PAUSED."""
    rollout = await _visible_rollout(viewer, rollout_id)
    changed = await Rollout.filter(
        id=rollout.id, status__in=[RolloutStatus.SCHEDULED, RolloutStatus.RUNNING]
    ).update(status=RolloutStatus.PAUSED)
    if not changed:
        raise _refused(await Rollout.get(id=rollout.id), "paused")
    await rollouts_changed([rollout.id])
    return await Rollout.get(id=rollout.id)


async def resume(viewer: Viewer, rollout_id: str) -> Rollout:
    """A PAUSED rollout goes on (SCHEDULED again when it never started)."""
    rollout = await _visible_rollout(viewer, rollout_id)
    sql = dialect_sql()
    rows = await sql.rows(
        "UPDATE rollout SET status = CASE WHEN current_batch > 0 THEN 'RUNNING' "
        "ELSE 'SCHEDULED' END WHERE id = $1 AND status = 'PAUSED' RETURNING id",
        [rollout.id],
    )
    if not rows:
        raise _refused(await Rollout.get(id=rollout.id), "resumed")
    # Announced, and this process's worker woken, once the change committed.
    await rollouts_changed([rollout.id])
    return await Rollout.get(id=rollout.id)


async def abort(viewer: Viewer, rollout_id: str) -> Rollout:
    """ABORTED: its QUEUED jobs are cancelled and no more are queued (running ones
    finish), in one transaction with the status."""
    rollout = await _visible_rollout(viewer, rollout_id)
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        # The row first: a batch being queued (fenced on its status) stops here.
        rows = await sql.rows(
            f"UPDATE rollout SET status = 'ABORTED', finished_at = {sql.now} WHERE id = $1 "
            "AND status IN ('SCHEDULED', 'RUNNING', 'PAUSED') RETURNING id",
            [rollout.id],
        )
        if not rows:
            raise _refused(await Rollout.get(id=rollout.id), "aborted")
        cancelled = await sql.rows(
            f"UPDATE deploy_job SET status = 'CANCELLED', finished_at = {sql.now} "
            "WHERE rollout_id = $1 AND status = 'QUEUED' "
            "RETURNING id, phone_id, company_id, profile_id, kind, restart",
            [rollout.id],
        )
        # Each ends as a job cancelled on its own does (its DEPLOY_JOB_ENDED webhooks).
        for job in cancelled:
            await announce_end(
                job_id=job["id"],
                company_id=job["company_id"],
                phone_id=job["phone_id"],
                kind=job["kind"],
                status=DeployJobStatus.CANCELLED.value,
                restart=job["restart"],
            )
        events = []
        if cancelled:
            events = await sql.rows(
                'INSERT INTO "deploy_event" ("job_id", "step", "message", "at") '
                f"SELECT id, 'CANCELLED', $2, {sql.now} FROM deploy_job WHERE {sql.ids(1)} "
                "RETURNING id, job_id, at",
                [sql.id_list([row["id"] for row in cancelled]), ABORTED_MESSAGE],
            )
        row = await Rollout.get(id=rollout.id).using_db(conn)
        await rollout_ended.send(rollout=row)
    by_job = {job["id"]: job for job in cancelled}
    messages = [
        event_message(
            DeployEvent(
                id=e["id"],
                job_id=e["job_id"],
                step=DeployStep.CANCELLED,
                message=ABORTED_MESSAGE,
                at=as_datetime(e["at"]),
            ),
            phone_id=by_job[e["job_id"]]["phone_id"],
            company_id=by_job[e["job_id"]]["company_id"],
            profile_id=by_job[e["job_id"]]["profile_id"],
        )
        for e in sorted(events, key=lambda e: e["id"])
    ]
    for start in range(0, len(messages), CHUNK):
        await publish(messages[start : start + CHUNK])
    await rollouts_changed([rollout.id])
    return row

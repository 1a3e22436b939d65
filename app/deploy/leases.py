"""Leases on running deploy jobs: claimed, renewed and fenced in the database.

A RUNNING job holds a lease: the server process named in ``runner_id`` may work on it
until ``lease_expires_at``. Expiry is always computed and compared by the database
(``statement_timestamp()`` on PostgreSQL, ``strftime('now')`` on SQLite), never by a
server's clock, so clock skew between servers cannot make a live job look dead. The
process renews the leases of the jobs it actually holds every
``PHONEGRAPH_DEPLOY_HEARTBEAT`` seconds; only an expired lease may be taken over by
another process (:func:`take_over_expired`).

Fencing: every claim increments the job's ``lease_epoch``, and every write a running job
makes — its events, its status, the phone's active profile, releasing the phone's lock
and its concurrency slot — is one transaction whose first statement is an UPDATE of the
job's row conditioned on ``status = 'RUNNING' AND lease_epoch = <the holder's epoch>``.
That UPDATE locks the row, so a takeover and a write by the old holder are serialized:
whichever comes second finds the condition false and changes nothing.

Between writes, a job also checks its lease before touching the phone
(:meth:`Lease.check`). That check is local and cheap: a renewal sent at monotonic time
``t`` makes the database hold the lease until at least ``t + lease`` (the database
computes the expiry when the renewal reaches it, which is later), so the process knows
it still holds the lease until ``t + lease - margin`` by its own monotonic clock alone.
A process that was frozen (SIGSTOP, a VM pause) past that point stops before its next
side effect, even before it could reach the database again.

On PostgreSQL, claims take turns on a transaction-level advisory lock (each claim is one
short statement) and, like takeovers, pick rows with ``FOR UPDATE SKIP LOCKED``: rows
another transaction holds are skipped, never waited for or taken twice. SQLite runs one
writer at a time, which keeps a single process (or a few sharing one file) correct.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.deploy.models import DeployEvent, DeployJobStatus, DeployStep
from app.deploy.signals import announce_end
from app.deploy.sql import CLAIM_LOCK, DialectSql, as_datetime, dialect_sql
from app.devices.models import Phone


def lease_clock() -> float:
    """The local clock leases are trusted by: monotonic, and still counting while the
    machine is suspended (CLOCK_BOOTTIME where there is one), so a process woken from a
    suspend does not trust a lease the database has already let expire."""
    return _clock()


_clock = (
    (lambda: time.clock_gettime(time.CLOCK_BOOTTIME))
    if hasattr(time, "CLOCK_BOOTTIME")
    else time.monotonic
)

# A renewal sent at monotonic t is trusted locally until t + lease * SAFE_SHARE; the rest
# of the lease is the margin for the gap between a check and the action it guards.
SAFE_SHARE = 2 / 3
# Rows a takeover sweep handles per statement.
TAKEOVER_BATCH = 100


class LeaseLost(Exception):
    """The job's lease is no longer held by this process: stop, write nothing."""


@dataclass
class Lease:
    """What a process knows of a lease it holds on a RUNNING job."""

    job_id: int
    phone_id: int
    company_id: int | None
    profile_id: int | None
    epoch: int
    slot: int
    seconds: float
    # Monotonic time until which the lease is surely still held (see the module doc).
    valid_until: float = 0.0
    restart_sent: bool = False
    # Not held any more: the job ended or was handed back here, or was taken over.
    lost: bool = False
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    def renewed(self, sent_at: float) -> None:
        """A renewal (or fenced write) sent at monotonic ``sent_at`` succeeded."""
        self.valid_until = max(self.valid_until, sent_at + self.seconds * SAFE_SHARE)

    def drop(self) -> None:
        """The lease is not held any more; a wire step waiting on the phone stops."""
        self.lost = True
        self.gone.set()

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless the lease is surely still held."""
        if self.lost:
            raise LeaseLost(f"job {self.job_id}: the lease was taken over")
        if lease_clock() >= self.valid_until:
            raise LeaseLost(f"job {self.job_id}: the lease could not be renewed in time")


def _event(row: dict[str, Any], job_id: int, step: DeployStep, message: str | None) -> DeployEvent:
    at = as_datetime(row["at"])
    return DeployEvent(id=row["id"], job_id=job_id, step=step, message=message, at=at)


async def _insert_event(
    sql: DialectSql, job_id: int, step: DeployStep, message: str | None
) -> DeployEvent:
    rows = await sql.rows(
        f'INSERT INTO "deploy_event" ("job_id", "step", "message", "at") '
        f"VALUES ($1, $2, $3, {sql.now}) RETURNING id, at",
        [job_id, step.value, message],
    )
    return _event(rows[0], job_id, step, message)


# ---------------------------------------------------------------- claiming


async def claim(runner_id: str, limit: int, concurrency: int, seconds: float) -> list[Lease]:
    """Claim up to ``limit`` QUEUED jobs; return their leases.

    A job is claimable when it is the oldest unfinished job of its phone and no job of
    the phone is running (work behind a busy phone never holds up other phones: it is
    passed over, within the next :data:`PROBE_ROWS` queued jobs of its company). Each
    claimed job takes the phone's lock (``running_phone_id``) and one of the
    installation's ``concurrency`` slots (``running_slot``); both are unique, so the
    database refuses a second holder even if two processes' claims raced.

    Slots are shared fairly between companies (:func:`_shares`): the free slots go to
    the companies with queued work in turn, those running the fewest jobs first, so one
    company's bulk work holds up another company's single job for one job's time at
    most. The work per claim is bounded: at most :data:`COMPANIES_PER_CLAIM` companies
    are looked at (the next ones in company order on the next claim), each through the
    partial index of queued jobs; at most :data:`PROBE_ROWS` queued jobs of a company
    are examined per round, and a claim has at most :data:`CLAIM_ROUNDS` rounds.

    The tests of a candidate are correlated subqueries, one index lookup per row,
    rather than anti-joins: right after a bulk insert the planner's statistics are
    stale, and an anti-join planned on them can cost seconds. On PostgreSQL claims take
    turns on an advisory lock — two claims picking free slots at once would collide on
    the unique indexes, and could deadlock there — and skip rows other transactions
    hold (a cancel, a takeover) with ``FOR UPDATE SKIP LOCKED`` instead of waiting.
    """
    if limit < 1:
        return []
    for _ in range(3):
        sent_at = lease_clock()
        try:
            async with in_transaction() as conn:
                sql = dialect_sql(conn)
                await sql.serialize(CLAIM_LOCK)  # one claim at a time: no slot collisions
                rows = await _claim(sql, runner_id, limit, concurrency, seconds)
        except IntegrityError:
            # A slot or phone taken meanwhile (only possible without the lock): again.
            continue
        leases = []
        for row in rows:
            lease = Lease(
                job_id=row["id"],
                phone_id=row["phone_id"],
                company_id=row["company_id"],
                profile_id=row["profile_id"],
                epoch=row["lease_epoch"],
                slot=row["running_slot"],
                seconds=seconds,
            )
            lease.renewed(sent_at)
            leases.append(lease)
        return sorted(leases, key=lambda lease: lease.job_id)
    return []


# Companies with queued work looked at by one claim; beyond that many, the next claim
# goes on from where this one stopped (in company order), so every company gets its turn.
COMPANIES_PER_CLAIM = 200
# The company a process's last claim stopped at (see COMPANIES_PER_CLAIM).
_claim_cursor = {"after": -1}
# Rounds of one claim (see _claim); what is left waits for the next claim, a second on.
CLAIM_ROUNDS = 16
# Queued jobs of one company one claim looks at: the window its claimable jobs are taken
# from (jobs waiting behind a busy phone are passed over, at one index lookup each).
PROBE_ROWS = 512
# Jobs of phones without a company are grouped under this key.
_NO_COMPANY = -1


async def _claim(
    sql: DialectSql, runner_id: str, limit: int, concurrency: int, seconds: float
) -> list[dict[str, Any]]:
    running = {
        (row["company_id"] if row["company_id"] is not None else _NO_COMPANY): row["n"]
        for row in await sql.rows(
            "SELECT company_id, count(*) AS n FROM deploy_job "
            "WHERE running_slot IS NOT NULL GROUP BY company_id",
            [],
        )
    }
    room = min(limit, concurrency - sum(running.values()))
    if room <= 0:
        return []
    companies = await _queued_companies(sql)
    if not companies:
        return []
    chosen: list[int] = []
    last: dict[int, int] = {}  # per company: the newest job chosen so far
    given: dict[int, int] = {}
    exhausted: set[int] = set()
    # Each round fills the room or finds at least one company with no more claimable
    # work (exhausted), whose share goes to the others next round.
    for _ in range(CLAIM_ROUNDS):
        if len(chosen) >= room:
            break
        open_ = [c for c in companies if c not in exhausted]
        if not open_:
            break
        shares = _shares(open_, running, given, room - len(chosen))
        found = await _candidates(sql, shares, last)
        for company, want in shares.items():
            jobs = found.get(company, [])
            if len(jobs) < want:
                exhausted.add(company)
            given[company] = given.get(company, 0) + len(jobs)
            chosen.extend(job for job, _ in jobs)
            if jobs:
                last[company] = jobs[-1][0]
    if not chosen:
        return []
    return await sql.rows(
        _update_statement(sql),
        [concurrency, sql.id_list(chosen), runner_id, seconds],
    )


async def _queued_companies(sql: DialectSql) -> list[int]:
    """Up to :data:`COMPANIES_PER_CLAIM` companies with QUEUED jobs, going on after the
    company the last claim stopped at (and wrapping around)."""
    after = _claim_cursor["after"]
    found = await _company_scan(sql, after, None, COMPANIES_PER_CLAIM)
    if len(found) >= COMPANIES_PER_CLAIM:
        _claim_cursor["after"] = found[-1]
    else:
        _claim_cursor["after"] = -1
        if after >= 0:  # wrap around: the companies up to where the last claim stopped
            wrapped = await _company_scan(sql, -1, after, COMPANIES_PER_CLAIM - len(found))
            if wrapped and len(found) + len(wrapped) >= COMPANIES_PER_CLAIM:
                _claim_cursor["after"] = wrapped[-1]
            found += wrapped
    no_company = await sql.rows(
        "SELECT id FROM deploy_job WHERE status = 'QUEUED' AND company_id IS NULL LIMIT 1", []
    )
    return found + ([_NO_COMPANY] if no_company else [])


async def _company_scan(sql: DialectSql, after: int, upto: int | None, most: int) -> list[int]:
    """The companies with QUEUED jobs after ``after`` (up to ``upto``), in id order: a
    loose scan of the partial index of queued jobs, one index lookup per company."""
    if most < 1:
        return []
    nxt = "SELECT min(q.company_id) FROM deploy_job q WHERE q.status = 'QUEUED' AND q.company_id > "
    below = "AND c.company_id < $3" if upto is not None else ""
    upto_clause = "AND company_id <= $3" if upto is not None else ""
    rows = await sql.rows(
        f"""
        WITH RECURSIVE c(company_id, n) AS (
            SELECT ({nxt} $1), 1
            UNION ALL
            SELECT ({nxt} c.company_id), c.n + 1 FROM c
            WHERE c.company_id IS NOT NULL AND c.n < $2 {below}
        )
        SELECT company_id FROM c WHERE company_id IS NOT NULL {upto_clause}
        """,
        [after, most] + ([upto] if upto is not None else []),
    )
    return [row["company_id"] for row in rows]


def _shares(
    companies: list[int], running: dict[int, int], given: dict[int, int], free: int
) -> dict[int, int]:
    """How many of ``free`` slots each company gets: one at a time, always to the company
    running (or just given) the fewest jobs; ties go in the order of ``companies``."""
    turn = [(running.get(c, 0) + given.get(c, 0), i, c) for i, c in enumerate(companies)]
    heapq.heapify(turn)
    shares: dict[int, int] = {}
    for _ in range(free):
        load, i, company = heapq.heappop(turn)
        shares[company] = shares.get(company, 0) + 1
        heapq.heappush(turn, (load + 1, i, company))
    return shares


async def _candidates(
    sql: DialectSql, shares: dict[int, int], chosen: dict[int, int]
) -> dict[int, list[tuple[int, int]]]:
    """For each company of ``shares``, up to its share of claimable jobs (id order),
    after the last one already chosen for it, among the next :data:`PROBE_ROWS` of its
    queue: one statement for all of them."""
    parts: list[str] = []
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    for i, (company, want) in enumerate(shares.items()):
        key = sql.cast(param(company), "int")
        same = "q.company_id IS NULL" if company == _NO_COMPANY else f"q.company_id = {key}"
        parts.append(
            f"""SELECT * FROM (
                SELECT j.id, j.phone_id, {key} AS company FROM (
                    SELECT q.id FROM deploy_job q
                    WHERE q.status = 'QUEUED' AND {same} AND q.id > {param(chosen.get(company, 0))}
                    ORDER BY q.id
                    LIMIT {PROBE_ROWS}
                ) AS w JOIN deploy_job j ON j.id = w.id
                WHERE j.status = 'QUEUED'
                  AND (
                      SELECT r.id FROM deploy_job r WHERE r.running_phone_id = j.phone_id
                  ) IS NULL
                  AND (
                      SELECT e.id FROM deploy_job e
                      WHERE e.phone_id = j.phone_id AND e.status = 'QUEUED' AND e.id < j.id
                      LIMIT 1
                  ) IS NULL
                ORDER BY j.id
                LIMIT {param(want)}
                {sql.skip_locked("j")}
            ) AS c{i}"""
        )
    found: dict[int, list[tuple[int, int]]] = {}
    for row in await sql.rows(" UNION ALL ".join(parts), params):
        found.setdefault(row["company"], []).append((row["id"], row["phone_id"]))
    return found


def _update_statement(sql: DialectSql) -> str:
    """RUNNING under a new lease epoch, with a free slot each: the jobs of parameter 2."""
    return f"""
        WITH RECURSIVE slot_numbers(n) AS (
            SELECT 0 UNION ALL SELECT n + 1 FROM slot_numbers WHERE n + 1 < $1
        ),
        free_slots AS (
            SELECT n AS slot, row_number() OVER (ORDER BY n) AS k
            FROM slot_numbers
            WHERE (SELECT s.id FROM deploy_job s WHERE s.running_slot = n) IS NULL
        ),
        chosen AS ({sql.numbered_ids(2)})
        UPDATE deploy_job SET
            status = 'RUNNING',
            running_phone_id = deploy_job.phone_id,
            running_slot = free_slots.slot,
            runner_id = $3,
            lease_epoch = deploy_job.lease_epoch + 1,
            started_at = {sql.now},
            heartbeat_at = {sql.now},
            lease_expires_at = {sql.later(4)}
        FROM chosen JOIN free_slots ON free_slots.k = chosen.k
        WHERE deploy_job.id = chosen.id AND deploy_job.status = 'QUEUED'
        RETURNING deploy_job.id, deploy_job.phone_id, deploy_job.company_id,
            deploy_job.profile_id, deploy_job.lease_epoch, deploy_job.running_slot
    """


# ---------------------------------------------------------------- renewing


async def renew(runner_id: str, leases: list[Lease], seconds: float) -> list[Lease]:
    """Extend the leases this process holds; drop and return those it no longer holds."""
    if not leases:
        return []
    sql = dialect_sql()
    sent_at = lease_clock()
    rows = await sql.rows(
        f"UPDATE deploy_job SET lease_expires_at = {sql.later(3)}, heartbeat_at = {sql.now} "
        f"WHERE runner_id = $1 AND status = 'RUNNING' AND {sql.ids(2)} "
        "RETURNING id, lease_epoch",
        [runner_id, sql.id_list([lease.job_id for lease in leases]), seconds],
    )
    held = {row["id"]: row["lease_epoch"] for row in rows}
    lost = []
    for lease in leases:
        if held.get(lease.job_id) == lease.epoch:
            lease.renewed(sent_at)
        else:
            # Taken over — or just ended by its own task, which then needs nothing more.
            lease.drop()
            lost.append(lease)
    return lost


# ---------------------------------------------------------------- fenced writes


_FENCE = "WHERE id = $1 AND lease_epoch = $2 AND status = 'RUNNING'"


async def record(
    lease: Lease,
    step: DeployStep,
    message: str | None,
    *,
    cancellable: bool = False,
    restart: bool = False,
    also: Callable[[], Awaitable[None]] | None = None,
) -> DeployEvent | None:
    """Store an event of the job under its lease (renewing it); return the event.

    ``cancellable``: when cancelling was asked for, store nothing and return ``None``.
    ``restart``: the job is about to send the restart (remembered in the row).
    ``also``: more writes of the job (its config revision), made in the same fenced
    transaction: never by a process that lost the lease.
    Raises :class:`LeaseLost` when the lease is no longer this process's.
    """
    sent_at = lease_clock()
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        mark = ", restart_sent = TRUE" if restart else ""
        rows = await sql.rows(
            f"UPDATE deploy_job SET lease_expires_at = {sql.later(3)}, "
            f"heartbeat_at = {sql.now}{mark} {_FENCE} RETURNING cancel_requested",
            [lease.job_id, lease.epoch, lease.seconds],
        )
        if not rows:
            lease.drop()
            raise LeaseLost(f"job {lease.job_id}: the lease was taken over")
        if cancellable and rows[0]["cancel_requested"]:
            return None
        if also is not None:
            await also()
        event = await _insert_event(sql, lease.job_id, step, message)
    lease.renewed(sent_at)
    if restart:
        lease.restart_sent = True
    return event


async def cancel_requested(lease: Lease) -> bool:
    """Renew the lease; whether cancelling was asked for. Raises :class:`LeaseLost`."""
    sent_at = lease_clock()
    sql = dialect_sql()
    rows = await sql.rows(
        f"UPDATE deploy_job SET lease_expires_at = {sql.later(3)}, heartbeat_at = {sql.now} "
        f"{_FENCE} RETURNING cancel_requested",
        [lease.job_id, lease.epoch, lease.seconds],
    )
    if not rows:
        lease.drop()
        raise LeaseLost(f"job {lease.job_id}: the lease was taken over")
    lease.renewed(sent_at)
    return bool(rows[0]["cancel_requested"])


async def finish(
    lease: Lease,
    status: DeployJobStatus,
    step: DeployStep,
    message: str | None,
    *,
    restart: str | None = None,
    error: str | None = None,
    active_profile_id: int | None = None,
) -> DeployEvent:
    """End the job under its lease: its status, the phone's active profile, the release
    of the phone's lock and of the slot, and the final event, in one transaction.
    Raises :class:`LeaseLost` (writing nothing) when the lease is no longer held."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        rows = await sql.rows(
            f"UPDATE deploy_job SET status = $3, restart = $4, error = $5, "
            f"finished_at = {sql.now}, running_phone_id = NULL, running_slot = NULL, "
            f"lease_expires_at = NULL {_FENCE} RETURNING id, kind",
            [lease.job_id, lease.epoch, status.value, restart, error],
        )
        if not rows:
            lease.drop()
            raise LeaseLost(f"job {lease.job_id}: the lease was taken over")
        if active_profile_id is not None:
            await Phone.filter(id=lease.phone_id).update(active_profile_id=active_profile_id)
        event = await _insert_event(sql, lease.job_id, step, message)
        await announce_end(
            job_id=lease.job_id,
            company_id=lease.company_id,
            phone_id=lease.phone_id,
            kind=rows[0]["kind"],
            status=status.value,
            restart=restart,
        )
    lease.drop()  # nothing is held any more
    return event


async def hand_back(lease: Lease, message: str, if_restarted: str | None = None) -> DeployEvent:
    """Give the job up under its lease: back to QUEUED (another process runs it from the
    start; uploads are idempotent) with ``message`` when the restart was not sent, else
    INTERRUPTED with ``if_restarted`` (default: ``message``) — a phone is never restarted
    twice for one job. The database's word on the restart counts: a write marking it
    may have committed although its caller was cancelled before it heard so."""
    interrupted = if_restarted or message
    if lease.restart_sent:
        return await finish(
            lease, DeployJobStatus.INTERRUPTED, DeployStep.INTERRUPTED, interrupted
        )
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        rows = await sql.rows(
            "UPDATE deploy_job SET status = 'QUEUED', running_phone_id = NULL, "
            "running_slot = NULL, lease_expires_at = NULL, started_at = NULL "
            f"{_FENCE} AND NOT restart_sent RETURNING id",
            [lease.job_id, lease.epoch],
        )
        if rows:
            event = await _insert_event(sql, lease.job_id, DeployStep.QUEUED, message)
    if not rows:
        # Not ours any more, or ours with the restart marked: finish (fenced) tells.
        lease.restart_sent = True
        return await finish(
            lease, DeployJobStatus.INTERRUPTED, DeployStep.INTERRUPTED, interrupted
        )
    lease.drop()
    return event


# ---------------------------------------------------------------- taking over


@dataclass
class TakenOver:
    """A job whose lease had expired, and what became of it."""

    event: DeployEvent
    phone_id: int
    company_id: int | None
    profile_id: int | None
    requeued: bool


REQUEUED_AFTER_EXPIRY = (
    "The server process running the job stopped renewing its lease before it restarted "
    "the phone; the job is back in the queue"
)
INTERRUPTED_AFTER_EXPIRY = (
    "The server process running the job stopped renewing its lease after it had asked the "
    "phone to restart; the steps done so far stay done"
)


def too_many_claims(claims: int) -> str:
    return (
        f"The job was started {claims} times and never finished (each time its server "
        "process stopped); it is not tried again"
    )


async def take_over_expired(max_claims: int) -> list[TakenOver]:
    """Take over the RUNNING jobs whose lease has expired (by the database's clock).

    A job that had not sent the restart goes back to QUEUED, in its place in the line;
    one that had (or that was already claimed ``max_claims`` times) ends INTERRUPTED.
    Either way the phone's lock and the slot are freed. A RUNNING row without a lease
    (written before leases existed) counts as expired.
    """
    out: list[TakenOver] = []
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        expired = f"(lease_expires_at IS NULL OR lease_expires_at < {sql.now})"
        rows = await sql.rows(
            "SELECT id, lease_epoch, restart_sent, phone_id, company_id, profile_id, kind, "
            "restart "
            f"FROM deploy_job WHERE status = 'RUNNING' AND {expired} "
            f"ORDER BY id LIMIT {TAKEOVER_BATCH} {sql.skip_locked()}",
            [],
        )
        for row in rows:
            requeue = not row["restart_sent"] and row["lease_epoch"] < max_claims
            if requeue:
                changed = await sql.rows(
                    "UPDATE deploy_job SET status = 'QUEUED', running_phone_id = NULL, "
                    "running_slot = NULL, lease_expires_at = NULL, started_at = NULL "
                    f"{_FENCE} AND {expired} RETURNING id",
                    [row["id"], row["lease_epoch"]],
                )
                step, message = DeployStep.QUEUED, REQUEUED_AFTER_EXPIRY
            else:
                changed = await sql.rows(
                    "UPDATE deploy_job SET status = 'INTERRUPTED', "
                    f"finished_at = {sql.now}, running_phone_id = NULL, running_slot = NULL, "
                    f"lease_expires_at = NULL {_FENCE} AND {expired} RETURNING id",
                    [row["id"], row["lease_epoch"]],
                )
                step = DeployStep.INTERRUPTED
                message = (
                    INTERRUPTED_AFTER_EXPIRY
                    if row["restart_sent"]
                    else too_many_claims(row["lease_epoch"])
                )
            if not changed:
                continue
            event = await _insert_event(sql, row["id"], step, message)
            if not requeue:
                await announce_end(
                    job_id=row["id"],
                    company_id=row["company_id"],
                    phone_id=row["phone_id"],
                    kind=row["kind"],
                    status=DeployJobStatus.INTERRUPTED.value,
                    restart=row["restart"],
                )
            out.append(
                TakenOver(
                    event=event,
                    phone_id=row["phone_id"],
                    company_id=row["company_id"],
                    profile_id=row["profile_id"],
                    requeued=requeue,
                )
            )
    return out

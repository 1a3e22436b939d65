"""Hot-desk PIN checks and the lockout (CONTRACT §6).

A wrong PIN is a row of ``hotdesk_pin_failure`` stamped with the database's time, so
the count is the same for every server process and for the API and the phones alike.
Five wrong PINs for one user within :data:`WINDOW` seconds lock that user's hot-desk
login for :data:`LOCK_SECONDS` (a ``hotdesk_lock`` row); a correct PIN clears the
user's count. Attempts at one phone are limited too: :data:`PHONE_LIMIT` wrong ones
(unknown extensions included) within the window refuse further attempts there.

Every attempt is decided by the database *after* it is recorded: it is stored as a
wrong PIN first, then the wrong PINs in the window are counted, itself included, and
an attempt over the user's or the phone's limit (or of a locked user) is refused before
its PIN is checked at all. So attempts running at the same time, in one server process
or several, never get more PIN checks than the limits allow: the k-th attempt to be
stored sees at least k. A refused attempt is forgotten again (it checked nothing); a
right PIN is accepted only if the user is not locked by then (checked in the same
transaction that takes the lock, one user at a time), and clears the user's count.
The hash is checked in a worker thread (scrypt takes tens of milliseconds); an unknown
extension is checked against a dummy hash, so both answers take the same time.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from functools import lru_cache

from tortoise.transactions import in_transaction

from app.core.audit import outside_transaction
from app.core.crypto import hash_pin, verify_pin
from app.deploy.sql import DialectSql, dialect_sql
from app.hotdesk.clock import earlier

MAX_WRONG = 5
WINDOW = 15 * 60
LOCK_SECONDS = 15 * 60
PHONE_LIMIT = 10
# pg_advisory_xact_lock(key, user id): one user's lock and right PINs, one at a time.
USER_PIN_LOCK = 0x5047_0011


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_pin("00000000")


class Outcome(StrEnum):
    RIGHT = "RIGHT"
    WRONG = "WRONG"
    # This wrong PIN locked the user, or the user was locked (or over the limit) already.
    LOCKED = "LOCKED"
    # Too many wrong attempts at the phone.
    PHONE_BLOCKED = "PHONE_BLOCKED"


async def _serialize_user(sql: DialectSql, user_id: int) -> None:
    """Hold the user's PIN lock until the end of the transaction (PostgreSQL; SQLite
    runs one writing transaction at a time anyway): taking a lock and accepting a right
    PIN never overlap."""
    if sql.postgres:
        await sql.rows("SELECT pg_advisory_xact_lock($1, $2)", [USER_PIN_LOCK, user_id])


async def _record_attempt(user_id: int | None, phone_id: int | None, unknown: str | None) -> int:
    sql = dialect_sql()
    rows = await sql.rows(
        'INSERT INTO "hotdesk_pin_failure" '
        '("sip_user_id", "phone_id", "counts_for_user", "unknown_extension", "at") '
        f"VALUES ($1, $2, TRUE, $3, {sql.now}) RETURNING id",
        [user_id, phone_id, unknown],
    )
    return int(rows[0]["id"])


async def _unknown_failures(sql: DialectSql, unknown: str) -> int:
    rows = await sql.rows(
        "SELECT COUNT(*) AS n FROM hotdesk_pin_failure "
        f"WHERE unknown_extension = $1 AND at > {earlier(sql, 2)}",
        [unknown, WINDOW],
    )
    return int(rows[0]["n"])


async def _refusal(
    attempt_id: int, user_id: int | None, phone_id: int | None, unknown: str | None
) -> Outcome | None:
    """Whether the attempt just stored is refused without checking its PIN: the wrong
    attempts in the window (itself included) over the phone's or the user's limit, or
    a lock of the user. One statement: one view of the database."""
    sql = dialect_sql()
    window = earlier(sql, 3)
    rows = await sql.rows(
        "SELECT "
        "(SELECT COUNT(*) FROM hotdesk_pin_failure "
        f"WHERE phone_id = $1 AND at > {window}) AS at_phone, "
        "(SELECT COUNT(*) FROM hotdesk_pin_failure "
        f"WHERE sip_user_id = $2 AND counts_for_user AND at > {window}) AS of_user, "
        "(SELECT COUNT(*) FROM hotdesk_lock "
        f"WHERE sip_user_id = $2 AND locked_until > {sql.now}) AS locks",
        [phone_id, user_id, WINDOW],
    )
    counts = rows[0]
    refusal: Outcome | None = None
    if phone_id is not None and int(counts["at_phone"]) > PHONE_LIMIT:
        refusal = Outcome.PHONE_BLOCKED
    elif user_id is not None and (int(counts["locks"]) or int(counts["of_user"]) > MAX_WRONG):
        refusal = Outcome.LOCKED
    elif unknown is not None and await _unknown_failures(sql, unknown) > MAX_WRONG:
        refusal = Outcome.LOCKED
    if refusal is not None:
        # Nothing was checked: the attempt is forgotten (as one never made).
        await sql.rows('DELETE FROM "hotdesk_pin_failure" WHERE id = $1', [attempt_id])
    return refusal


async def _accept(attempt_id: int, user_id: int) -> bool:
    """A right PIN: unless the user got locked meanwhile, the attempt was no failure and
    the user's count starts again. Whether it was accepted."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        await _serialize_user(sql, user_id)
        await sql.rows('DELETE FROM "hotdesk_pin_failure" WHERE id = $1', [attempt_id])
        rows = await sql.rows(
            f"SELECT id FROM hotdesk_lock WHERE sip_user_id = $1 AND locked_until > {sql.now}",
            [user_id],
        )
        if rows:
            return False
        await sql.rows(
            'UPDATE "hotdesk_pin_failure" SET counts_for_user = FALSE WHERE sip_user_id = $1',
            [user_id],
        )
    return True


async def _lock_if_too_many(user_id: int) -> bool:
    """Lock the user when the window holds :data:`MAX_WRONG` wrong PINs (or the user is
    locked already); whether it is locked now."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        await _serialize_user(sql, user_id)
        rows = await sql.rows(
            "SELECT COUNT(*) AS n FROM hotdesk_pin_failure WHERE sip_user_id = $1 "
            f"AND counts_for_user AND at > {earlier(sql, 2)}",
            [user_id, WINDOW],
        )
        if int(rows[0]["n"]) < MAX_WRONG:
            rows = await sql.rows(
                "SELECT id FROM hotdesk_lock WHERE sip_user_id = $1 "
                f"AND locked_until > {sql.now}",
                [user_id],
            )
            return bool(rows)
        await sql.rows(
            'INSERT INTO "hotdesk_lock" ("sip_user_id", "locked_until") '
            f"VALUES ($1, {sql.later(2)}) "
            "ON CONFLICT (sip_user_id) DO UPDATE SET locked_until = excluded.locked_until",
            [user_id, LOCK_SECONDS],
        )
        # The lock has started: the failures that caused it are spent.
        await sql.rows(
            'UPDATE "hotdesk_pin_failure" SET counts_for_user = FALSE WHERE sip_user_id = $1',
            [user_id],
        )
    return True


async def check_pin(
    user_id: int | None,
    pin_hash: str | None,
    pin: str,
    phone_id: int | None,
    unknown: str | None = None,
) -> Outcome:
    """Check ``pin`` for the user (``None``: an unknown extension, named by ``unknown``,
    "<company id>:<extension>", which locks like a user) at the phone."""
    # Attempts are counted in transactions of their own, committed before the (slow)
    # check and kept whatever the login's outcome, so parallel attempts see them.
    async with outside_transaction():
        return await _check_pin(user_id, pin_hash, pin, phone_id, unknown)


async def _check_pin(
    user_id: int | None, pin_hash: str | None, pin: str, phone_id: int | None, unknown: str | None
) -> Outcome:
    unknown = unknown if user_id is None else None
    attempt = await _record_attempt(user_id, phone_id, unknown)
    refusal = await _refusal(attempt, user_id, phone_id, unknown)
    if refusal is not None:
        return refusal
    stored = pin_hash or _dummy_hash()
    right = await asyncio.to_thread(verify_pin, pin, stored)
    if right and user_id is not None and pin_hash is not None:
        return Outcome.RIGHT if await _accept(attempt, user_id) else Outcome.LOCKED
    if user_id is None:
        if unknown is not None and await _unknown_failures(dialect_sql(), unknown) >= MAX_WRONG:
            return Outcome.LOCKED
        return Outcome.WRONG
    return Outcome.LOCKED if await _lock_if_too_many(user_id) else Outcome.WRONG


async def prune() -> None:
    """Forget wrong PINs older than the window and locks that have run out."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        await sql.rows(
            f'DELETE FROM "hotdesk_pin_failure" WHERE at < {earlier(sql, 1)}', [WINDOW]
        )
        await sql.rows(f'DELETE FROM "hotdesk_lock" WHERE locked_until < {sql.now}', [])

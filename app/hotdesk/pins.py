"""Hot-desk PIN checks and the lockout (CONTRACT §6).

A wrong PIN is a row of ``hotdesk_pin_failure`` stamped with the database's time, so
the count is the same for every server process and for the API and the phones alike.
Five wrong PINs for one user within :data:`WINDOW` seconds lock that user's hot-desk
login for :data:`LOCK_SECONDS` (a ``hotdesk_lock`` row); a correct PIN clears the
user's count. Attempts at one phone are limited too: :data:`PHONE_LIMIT` wrong ones
(unknown extensions included) within the window refuse further attempts there.

An attempt is recorded as wrong *before* its PIN is checked, and cleared when the PIN
was right, so attempts running at the same time in several processes all count.
The hash is checked in a worker thread (scrypt takes tens of milliseconds); an unknown
extension is checked against a dummy hash, so both answers take the same time.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

from tortoise.transactions import in_transaction

from app.core.crypto import hash_pin, verify_pin
from app.deploy.sql import dialect_sql
from app.hotdesk.clock import earlier

MAX_WRONG = 5
WINDOW = 15 * 60
LOCK_SECONDS = 15 * 60
PHONE_LIMIT = 10


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_pin("00000000")


async def is_locked(user_id: int) -> bool:
    """Whether the user's hot-desk login is locked now (database time)."""
    sql = dialect_sql()
    rows = await sql.rows(
        f"SELECT id FROM hotdesk_lock WHERE sip_user_id = $1 AND locked_until > {sql.now}",
        [user_id],
    )
    return bool(rows)


async def phone_blocked(phone_id: int) -> bool:
    """Whether too many wrong attempts were made at this phone lately."""
    sql = dialect_sql()
    rows = await sql.rows(
        "SELECT COUNT(*) AS n FROM hotdesk_pin_failure "
        f"WHERE phone_id = $1 AND at > {earlier(sql, 2)}",
        [phone_id, WINDOW],
    )
    return int(rows[0]["n"]) >= PHONE_LIMIT


async def _record_attempt(user_id: int | None, phone_id: int | None) -> int:
    sql = dialect_sql()
    rows = await sql.rows(
        'INSERT INTO "hotdesk_pin_failure" ("sip_user_id", "phone_id", "counts_for_user", "at") '
        f"VALUES ($1, $2, TRUE, {sql.now}) RETURNING id",
        [user_id, phone_id],
    )
    return int(rows[0]["id"])


async def _clear(attempt_id: int, user_id: int) -> None:
    """A right PIN: the attempt was no failure, and the user's count starts again."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        await sql.rows('DELETE FROM "hotdesk_pin_failure" WHERE id = $1', [attempt_id])
        await sql.rows(
            'UPDATE "hotdesk_pin_failure" SET counts_for_user = FALSE WHERE sip_user_id = $1',
            [user_id],
        )


async def _lock_if_too_many(user_id: int) -> bool:
    """Lock the user when the window holds :data:`MAX_WRONG` wrong PINs; whether it is
    locked now."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        rows = await sql.rows(
            "SELECT COUNT(*) AS n FROM hotdesk_pin_failure WHERE sip_user_id = $1 "
            f"AND counts_for_user AND at > {earlier(sql, 2)}",
            [user_id, WINDOW],
        )
        if int(rows[0]["n"]) < MAX_WRONG:
            return False
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
    user_id: int | None, pin_hash: str | None, pin: str, phone_id: int | None
) -> tuple[bool, bool]:
    """Check ``pin`` for the user (``None``: an unknown extension); ``(right, locked)``
    — ``locked`` when this wrong PIN locked the user."""
    attempt = await _record_attempt(user_id, phone_id)
    stored = pin_hash or _dummy_hash()
    right = await asyncio.to_thread(verify_pin, pin, stored)
    if right and user_id is not None and pin_hash is not None:
        await _clear(attempt, user_id)
        return True, False
    if user_id is None:
        return False, False
    return False, await _lock_if_too_many(user_id)


async def prune() -> None:
    """Forget wrong PINs older than the window and locks that have run out."""
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        await sql.rows(
            f'DELETE FROM "hotdesk_pin_failure" WHERE at < {earlier(sql, 1)}', [WINDOW]
        )
        await sql.rows(f'DELETE FROM "hotdesk_lock" WHERE locked_until < {sql.now}', [])

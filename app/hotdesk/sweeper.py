"""Ends expired hot-desk sessions, in every server process, each session once.

Every ``PHONEGRAPH_HOTDESK_SWEEP_INTERVAL`` seconds (5 by default, at most 10) — and
once at start-up, which catches the sessions that expired while no server ran — each
process looks for OPEN sessions whose ``expires_at`` has passed by the database's
clock and ends each with a conditional UPDATE in the same transaction as its logout
job (``app.hotdesk.service.end_session``): when several processes find the same session,
the first UPDATE ends it and the others change nothing. The same round settles sessions
whose login job ended outside the pipeline and forgets old wrong-PIN records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.deploy.sql import dialect_sql
from app.hotdesk import jobs, pins
from app.hotdesk.models import HotdeskEndReason
from app.hotdesk.service import end_session
from app.settings import get_settings

log = logging.getLogger(__name__)

EXPIRED_BY = "expiry"
# Sessions ended per statement batch of one round.
BATCH = 200


async def expire_due() -> int:
    """End every OPEN session past its expiry (database time) with a logout job; how
    many this process ended."""
    sql = dialect_sql()
    due = f" AND state = 'OPEN' AND expires_at <= {sql.now}"
    ended = 0
    while True:
        rows = await sql.rows(
            "SELECT id FROM hotdesk_session WHERE open_phone_id IS NOT NULL"
            f"{due} ORDER BY expires_at, id LIMIT {BATCH}",
            [],
        )
        for row in rows:
            if await end_session(
                row["id"], HotdeskEndReason.EXPIRED, EXPIRED_BY, extra_condition=due
            ):
                ended += 1
        if len(rows) < BATCH:
            return ended


async def sweep() -> int:
    """One round: expiry, login jobs that ended unseen, old wrong PINs."""
    ended = await expire_due()
    await jobs.reconcile_pending()
    await pins.prune()
    return ended


class Sweeper:
    """The background task of one server process."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            ended = await sweep()  # sessions that expired while no server was running
            if ended:
                log.info("ended %d hot-desk session(s) that expired while stopped", ended)
        except Exception:
            log.exception("could not end expired hot-desk sessions at start-up")
        self._task = asyncio.create_task(self._loop(), name="hotdesk-sweeper")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not end expired hot-desk sessions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


_sweeper: Sweeper | None = None


async def start_sweeper() -> None:
    global _sweeper
    await stop_sweeper()
    sweeper = Sweeper(get_settings().hotdesk_sweep_interval)
    await sweeper.start()
    _sweeper = sweeper


async def stop_sweeper() -> None:
    global _sweeper
    if _sweeper is not None:
        await _sweeper.stop()
    _sweeper = None

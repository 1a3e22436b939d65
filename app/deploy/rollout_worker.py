"""Works the rollouts, in every server process (next to the deploy runner).

Every :data:`POLL_INTERVAL` seconds — sooner when a rollout changed in this process, such
as a job of it ending here (``app.deploy.rollout_events``) — the worker looks for rollouts
with work to do — RUNNING ones, SCHEDULED ones whose ``startAt`` has passed by the
database's clock, PAUSED ones with a batch half queued — whose lease nobody holds, at
most :data:`PAGE` per statement. It takes each one's lease with a conditional UPDATE
(only one process gets it), takes it as far as it goes (``app.deploy.rollouts.advance``)
and lets go. Nothing is kept in memory between turns: a process started after a crash
picks up where the database says, and a scheduled rollout starts on time as long as
any server process runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket

from app.deploy import rollouts
from app.deploy.sql import dialect_sql

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0
# Rollouts looked at per statement (the next ones on the next page of the same turn).
PAGE = 100
# Pages per turn: at most this many times PAGE rollouts are worked on per turn.
PAGES_PER_TURN = 10


async def due(after: int) -> list[int]:
    """Ids of rollouts with work to do and no lease held, after ``after``."""
    sql = dialect_sql()
    rows = await sql.rows(
        "SELECT id FROM rollout WHERE id > $1 AND ("
        "status = 'RUNNING' "
        f"OR (status = 'SCHEDULED' AND start_at <= {sql.now}) "
        "OR (status = 'PAUSED' AND NOT batch_queued)) "
        f"AND (lease_expires_at IS NULL OR lease_expires_at < {sql.now}) "
        f"ORDER BY id LIMIT {PAGE}",
        [after],
    )
    return [row["id"] for row in rows]


async def turn(runner_id: str) -> int:
    """Work every rollout that is due; how many this process worked on."""
    worked = 0
    after = 0
    for _ in range(PAGES_PER_TURN):
        ids = await due(after)
        for rollout_id in ids:
            epoch = await rollouts.take(rollout_id, runner_id)
            if epoch is None:
                continue  # another process has it
            worked += 1
            try:
                await rollouts.work(rollout_id, epoch)
            except Exception:
                # Retried on a later turn; the rollouts after it are not held up.
                log.exception("could not work rollout %s", rollout_id)
        if len(ids) < PAGE:
            break
        after = ids[-1]
    return worked


class RolloutWorker:
    def __init__(self) -> None:
        # Names the process in the rows, for people; the lease alone decides.
        self.runner_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="rollout-worker")

    async def _loop(self) -> None:
        while True:
            self.wake.clear()
            try:
                await turn(self.runner_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not work the rollouts")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_INTERVAL):
                    await self.wake.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


_worker: RolloutWorker | None = None


def wake_rollouts() -> None:
    """Look at the rollouts now (this process; the others within a poll)."""
    if _worker is not None:
        _worker.wake.set()


async def start_rollout_worker() -> None:
    global _worker
    await stop_rollout_worker()
    _worker = RolloutWorker()
    _worker.start()


async def stop_rollout_worker() -> None:
    global _worker
    if _worker is not None:
        await _worker.stop()
    _worker = None

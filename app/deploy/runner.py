"""The deploy job runner: works the durable queue in the database.

Any number of server processes may share one database; each runs a runner. A runner
claims QUEUED jobs in one short transaction (``app.deploy.leases.claim``): a claimed job holds a
lease, the phone's lock (``running_phone_id``, unique) and one of the installation's
``PHONEGRAPH_DEPLOY_CONCURRENCY`` slots (``running_slot``, unique), so no two processes
ever run the same job, nor two jobs of one phone at once, nor more jobs than slots. Jobs
of a phone run in the order they were queued; a busy phone holds up nobody else, and free
slots go to the companies with queued work in turn (one company's bulk work never holds up
another's single job for more than one job's time).

Every ``PHONEGRAPH_DEPLOY_HEARTBEAT`` seconds a runner renews the leases of the jobs it
holds — only those — and takes over the jobs whose lease expired by the database's
clock: their process died, froze or lost the database. Such a job goes back to the
queue if it had not sent the restart, and ends INTERRUPTED if it had. A job whose lease
this runner could not renew stops before it touches its phone again, and gives up a
wire step it is waiting in.

Stopping (SIGTERM) drains: no more claims; jobs that have not sent the restart go back
to the queue at their next step; the others get ``PHONEGRAPH_SHUTDOWN_GRACE`` seconds
to finish. What is left after that is handed back the same way — to the queue, or
INTERRUPTED when the restart was already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass

import aiohttp

from app.core.audit import call_after_commit
from app.deploy import leases
from app.deploy.leases import Lease, LeaseLost
from app.deploy.metrics import HANDED_BACK, LEASES_LOST, TAKEN_OVER
from app.deploy.pipeline import (
    HANDED_BACK_ON_STOP,
    HandBack,
    Wire,
    event_message,
    lease_message,
    publish,
    run_job,
)
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Seconds between looks at the queue when nothing woke the runner (jobs queued by
# another process are found this way).
POLL_INTERVAL = 1.0
# At most this many jobs are claimed by one statement.
CLAIM_BATCH = 64
# Seconds a stopping runner waits for a claim it has sent to the database to complete.
CLAIM_WAIT = 10.0
# A job started this many times without ending (each time its process stopped) is not
# tried again: it ends INTERRUPTED.
MAX_CLAIMS = 5

INTERRUPTED_ON_STOP = (
    "The server process stopped after the job had asked the phone to restart, before the "
    "phone was back; the restart stands, the steps done so far stay done"
)
RENEWAL_FAILED = (
    "The server process could not renew the job's lease in time; the job stopped before "
    "its next step"
)

_HOST = socket.gethostname()


@dataclass
class _Held:
    """A job this runner holds: its lease and the task working on it."""

    lease: Lease
    task: asyncio.Task[None]


class Runner:
    """Claims QUEUED jobs and runs them, ``deploy_concurrency`` at a time at most."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Names the process in the job rows (for people); liveness is the lease alone.
        self.runner_id = f"{_HOST}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease_seconds = settings.lease_seconds
        self.held: dict[int, _Held] = {}
        self.wake = asyncio.Event()
        self.draining = asyncio.Event()
        self.wire: Wire | None = None
        self._drain_deadline = 0.0
        self._stopped_leases: list[Lease] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._beat_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        from app.deploy.wire.ftp import config_target_from_settings

        connector = aiohttp.TCPConnector(limit=max(8, self.settings.deploy_concurrency))
        self.wire = Wire(
            http=aiohttp.ClientSession(connector=connector),
            target=config_target_from_settings(self.settings),
        )
        await self.take_over()
        self._loop_task = asyncio.create_task(self._work(), name="deploy-runner")
        self._beat_task = asyncio.create_task(self._heartbeat(), name="deploy-heartbeat")

    def begin_drain(self) -> None:
        """Stop claiming; running jobs that have not restarted their phone hand
        themselves back at their next step. The grace period starts now."""
        if self.draining.is_set():
            return
        self._drain_deadline = time.monotonic() + self.settings.shutdown_grace
        self.draining.set()
        self.wake.set()
        if self.held:
            log.warning(
                "stopping: %d deploy job(s) running, waiting up to %g s",
                len(self.held),
                self.settings.shutdown_grace,
            )

    async def stop(self) -> None:
        """Drain, then release everything."""
        self.begin_drain()
        # The queue loop ends by itself once draining: a claim it has sent completes, and
        # the jobs it claimed start (and hand themselves back at their first step),
        # instead of sitting RUNNING under a lease nobody renews until it expires.
        if self._loop_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._loop_task), CLAIM_WAIT)
        await _cancel(self._loop_task)
        tasks = [held.task for held in self.held.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, self._drain_deadline - time.monotonic()))
        for held in list(self.held.values()):
            held.task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        # The heartbeat kept the leases alive until here; the tasks are gone now.
        await _cancel(self._beat_task)
        for lease in self._stopped_leases:
            await self._hand_back(lease, HANDED_BACK_ON_STOP, INTERRUPTED_ON_STOP)
        self._stopped_leases.clear()
        if self.wire is not None:
            with contextlib.suppress(Exception):
                await self.wire.http.close()
            with contextlib.suppress(Exception):
                await self.wire.target.close()

    async def _hand_back(self, lease: Lease, message: str, if_restarted: str | None = None) -> None:
        """Back to the queue, or INTERRUPTED after a restart was sent (fenced: nothing is
        written when the lease was taken over)."""
        try:
            event = await leases.hand_back(lease, message, if_restarted)
        except LeaseLost:
            return
        except Exception:
            log.exception("could not hand back deploy job %s", lease.job_id)
            return  # its lease expires; another process takes it over
        HANDED_BACK.inc()
        await publish([lease_message(event, lease)])

    # ------------------------------------------------------------ leases

    async def take_over(self) -> int:
        """Take over the jobs whose lease expired (any process's); return how many."""
        taken = await leases.take_over_expired(MAX_CLAIMS)
        if taken:
            TAKEN_OVER.inc(len(taken))
            requeued = sum(1 for t in taken if t.requeued)
            log.warning(
                "took over %d deploy job(s) whose lease expired: %d back in the queue, "
                "%d interrupted",
                len(taken),
                requeued,
                len(taken) - requeued,
            )
            await publish(
                [
                    event_message(
                        t.event,
                        phone_id=t.phone_id,
                        company_id=t.company_id,
                        profile_id=t.profile_id,
                    )
                    for t in taken
                ]
            )
            self.wake.set()
        return len(taken)

    async def _heartbeat(self) -> None:
        beat = self.settings.deploy_heartbeat
        while True:
            await asyncio.sleep(beat)
            try:
                # A lease not renewed is dropped: its job's next check stops it, and a
                # wire step it waits in is given up (its database writes are fenced).
                held = [h.lease for h in self.held.values() if not h.lease.lost]
                await leases.renew(self.runner_id, held, self.lease_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not renew the leases of the running deploy jobs")
            try:
                await self.take_over()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not take over expired deploy jobs")

    # ------------------------------------------------------------ the queue

    async def _work(self) -> None:
        while not self.draining.is_set():
            self.wake.clear()
            try:
                await self._fill()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("deploy runner could not read the queue")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_INTERVAL):
                    await self.wake.wait()

    async def _fill(self) -> None:
        """Claim as many QUEUED jobs as this process has room for."""
        while not self.draining.is_set():
            room = min(self.settings.deploy_concurrency - len(self.held), CLAIM_BATCH)
            if room <= 0:
                return
            claimed = await leases.claim(
                self.runner_id, room, self.settings.deploy_concurrency, self.lease_seconds
            )
            for lease in claimed:
                task = asyncio.create_task(self._run(lease), name=f"deploy-job-{lease.job_id}")
                self.held[lease.job_id] = _Held(lease, task)
            if len(claimed) < room:
                return  # nothing more to claim now (or no free slot)

    async def _run(self, lease: Lease) -> None:
        give_up: str | None = None  # why the job is handed back, when it is
        try:
            try:
                assert self.wire is not None
                await run_job(lease, self.wire, self.settings, self.draining.is_set)
            except HandBack:
                give_up = HANDED_BACK_ON_STOP
            except LeaseLost:
                LEASES_LOST.inc()
                if not lease.lost:
                    # Only this process's renewals were late: the lease may still be
                    # ours, so give the job up now instead of when the lease expires.
                    log.warning("deploy job %s stopped: its lease ran out", lease.job_id)
                    give_up = RENEWAL_FAILED
                else:
                    log.warning(
                        "deploy job %s stopped: another process took it over", lease.job_id
                    )
            except Exception:
                log.exception("deploy job %s crashed", lease.job_id)
                # Never leave it RUNNING: hand it back now (if that fails too, its lease
                # expires and any process takes it over).
                give_up = "The job stopped on an internal error"
            if give_up is not None:
                await self._hand_back(lease, give_up)
        except asyncio.CancelledError:
            # The runner is stopping (also while a hand-back was under way): stop()
            # hands the job back once every task is gone (fenced, so at most once).
            if not lease.lost:
                self._stopped_leases.append(lease)
            raise
        finally:
            # Only this claim's entry: the job may have been claimed again meanwhile
            # (handed back, then claimed by this runner under a new lease epoch).
            held = self.held.get(lease.job_id)
            if held is not None and held.lease is lease:
                del self.held[lease.job_id]
            self.wake.set()


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


_runner: Runner | None = None


def wake_runner() -> None:
    """Tell this process's runner that jobs were queued (others find them by polling);
    inside a recorded call (a mutation), once its transaction has committed."""
    call_after_commit(_wake)


def _wake() -> None:
    if _runner is not None:
        _runner.wake.set()


def current_runner() -> Runner | None:
    return _runner


def draining() -> bool:
    """Whether this process is stopping (waiting requests should answer now)."""
    return _runner is not None and _runner.draining.is_set()


def begin_drain() -> None:
    """The server is shutting down: stop claiming and start the grace period."""
    if _runner is not None:
        _runner.begin_drain()


async def start_runner() -> None:
    """Take over jobs a dead process left behind and start working the queue."""
    global _runner
    if _runner is not None:
        await stop_runner()
    runner = Runner(get_settings())
    await runner.start()
    _runner = runner


async def stop_runner() -> None:
    """Drain (see the module doc) and stop."""
    global _runner
    runner = _runner
    if runner is not None:
        await runner.stop()
    _runner = None

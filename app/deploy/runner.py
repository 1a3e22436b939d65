"""The deploy job runner: works the durable queue in the database.

Any number of server processes may share one database; each runs a runner. A job is
claimed with a conditional UPDATE (QUEUED -> RUNNING only where it is still QUEUED), and
the claim also takes the phone's lock (``running_phone_id``, unique), so no two
processes ever run the same job, nor two jobs of one phone at once. Jobs of a phone run
in the order they were queued.

At most ``PHONEGRAPH_DEPLOY_CONCURRENCY`` jobs run at once in the whole installation:
a RUNNING job holds one of that many slot numbers (``running_slot``, unique). The jobs
of a process share one HTTP session and one config target, so connections are reused.

A process marks its running jobs alive every ``PHONEGRAPH_DEPLOY_HEARTBEAT`` seconds. A
RUNNING job whose process is gone — its process id no longer exists on this host, or
its heartbeat is older than three beats — is ended INTERRUPTED (with an event) at
start-up and by every runner's periodic sweep; QUEUED jobs simply run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from datetime import UTC, datetime, timedelta

import aiohttp
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery

from app.deploy.models import DeployJob, DeployJobStatus, DeployStep
from app.deploy.pipeline import Wire, finish, run_job
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Seconds between looks at the queue when nothing woke the runner (jobs queued by
# another process are found this way).
POLL_INTERVAL = 1.0
# A heartbeat older than this many beats means the process is gone.
STALE_BEATS = 3

_HOST = socket.gethostname()


class Runner:
    """Claims QUEUED jobs and runs them, ``deploy_concurrency`` at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runner_id = f"{_HOST}:{os.getpid()}:{secrets.token_hex(4)}"
        self.slots = asyncio.Semaphore(settings.deploy_concurrency)
        self.wake = asyncio.Event()
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.busy_phones: set[int] = set()
        self.wire: Wire | None = None
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
        await self.recover()
        self._loop_task = asyncio.create_task(self._work(), name="deploy-runner")
        self._beat_task = asyncio.create_task(self._heartbeat(), name="deploy-heartbeat")

    async def stop(self) -> None:
        for task in (self._loop_task, self._beat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        running = dict(self.tasks)
        for task in running.values():
            task.cancel()
        for job_id, task in running.items():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await self._interrupt(job_id, "The server stopped while the job was running")
        if self.wire is not None:
            with contextlib.suppress(Exception):
                await self.wire.http.close()
            with contextlib.suppress(Exception):
                await self.wire.target.close()

    # ------------------------------------------------------------ recovery

    def _stale_before(self) -> datetime:
        beat = self.settings.deploy_heartbeat
        return datetime.now(UTC) - timedelta(seconds=max(STALE_BEATS * beat, beat + 1.0))

    @staticmethod
    def _process_gone(runner_id: str | None) -> bool:
        """Whether ``runner_id`` names a process of this host that no longer exists."""
        if not runner_id:
            return True
        host, _, rest = runner_id.partition(":")
        pid_text = rest.partition(":")[0]
        if host != _HOST or not pid_text.isdigit():
            return False
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    async def recover(self) -> int:
        """End the RUNNING jobs whose process is gone as INTERRUPTED; return how many."""
        stale = self._stale_before()
        rows = (
            await DeployJob.filter(status=DeployJobStatus.RUNNING)
            .exclude(runner_id=self.runner_id)
            .values("id", "runner_id", "heartbeat_at")
        )
        count = 0
        for row in rows:
            beat = row["heartbeat_at"]
            if self._process_gone(row["runner_id"]) or beat is None or beat < stale:
                if await self._interrupt(
                    row["id"], "The server process running the job stopped before it ended"
                ):
                    count += 1
        if count:
            log.warning("marked %d deploy job(s) of a stopped process INTERRUPTED", count)
        return count

    async def _interrupt(self, job_id: int, message: str) -> bool:
        job = await DeployJob.get_or_none(id=job_id)
        if job is None:
            return False
        return await finish(job, DeployJobStatus.INTERRUPTED, DeployStep.INTERRUPTED, message)

    # ------------------------------------------------------------ the queue

    async def _heartbeat(self) -> None:
        beat = self.settings.deploy_heartbeat
        while True:
            await asyncio.sleep(beat)
            try:
                if self.tasks:
                    await DeployJob.filter(
                        runner_id=self.runner_id, status=DeployJobStatus.RUNNING
                    ).update(heartbeat_at=datetime.now(UTC))
                await self.recover()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("deploy heartbeat failed")

    async def _work(self) -> None:
        while True:
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
        """Claim as many QUEUED jobs as there are free slots."""
        while not self.slots.locked():
            free = self.settings.deploy_concurrency - len(self.tasks)
            candidates = (
                await DeployJob.filter(status=DeployJobStatus.QUEUED)
                .exclude(phone_id__in=list(self.busy_phones))
                .order_by("id")
                .limit(max(free, 1) * 4)
                .values_list("id", "phone_id")
            )
            if not candidates:
                return
            claimed_any = False
            seen: set[int] = set()
            for job_id, phone_id in candidates:
                if phone_id in seen or phone_id in self.busy_phones:
                    continue  # an earlier job of this phone goes first
                seen.add(phone_id)
                if self.slots.locked():
                    return
                await self.slots.acquire()
                if await self._claim(job_id, phone_id):
                    claimed_any = True
                    self.busy_phones.add(phone_id)
                    self.tasks[job_id] = asyncio.create_task(
                        self._run(job_id, phone_id), name=f"deploy-job-{job_id}"
                    )
                else:
                    self.slots.release()
            if not claimed_any:
                return

    async def _claim(self, job_id: int, phone_id: int) -> bool:
        """QUEUED -> RUNNING, only if still QUEUED, first in its phone's line, the phone's
        lock is free (the unique ``running_phone_id`` refuses a second holder) and one of
        the installation's concurrency slots is free (the unique ``running_slot`` refuses
        a slot taken by another process in the meantime)."""
        used = set(
            await DeployJob.filter(running_slot__isnull=False).values_list(
                "running_slot", flat=True
            )
        )
        free = [n for n in range(self.settings.deploy_concurrency) if n not in used]
        if not free:
            return False  # every slot is busy, in this process or another
        now = datetime.now(UTC)
        earlier = DeployJob.filter(
            phone_id=phone_id, status=DeployJobStatus.QUEUED, id__lt=job_id
        ).values("phone_id")
        for slot in free[:3]:  # another process may take a slot between read and write
            try:
                changed = (
                    await DeployJob.filter(id=job_id, status=DeployJobStatus.QUEUED)
                    .exclude(phone_id__in=Subquery(earlier))
                    .update(
                        status=DeployJobStatus.RUNNING,
                        running_phone_id=phone_id,
                        running_slot=slot,
                        runner_id=self.runner_id,
                        started_at=now,
                        heartbeat_at=now,
                    )
                )
            except IntegrityError:
                # The slot was just taken, or another job of this phone is running.
                continue
            return changed == 1
        return False

    async def _run(self, job_id: int, phone_id: int) -> None:
        try:
            job = await DeployJob.get(id=job_id)
            assert self.wire is not None
            await run_job(job, self.wire, self.settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("deploy job %s crashed", job_id)
            # Never leave it RUNNING: that would keep the phone locked until a restart.
            try:
                await self._interrupt(job_id, "The job stopped on an internal error")
            except Exception:
                log.exception("could not end crashed deploy job %s", job_id)
        finally:
            self.tasks.pop(job_id, None)
            self.busy_phones.discard(phone_id)
            self.slots.release()
            self.wake.set()


_runner: Runner | None = None


def wake_runner() -> None:
    """Tell this process's runner that jobs were queued (others find them by polling)."""
    if _runner is not None:
        _runner.wake.set()


def current_runner() -> Runner | None:
    return _runner


async def start_runner() -> None:
    """Recover jobs a dead process left behind and start working the queue."""
    global _runner
    if _runner is not None:
        await stop_runner()
    runner = Runner(get_settings())
    await runner.start()
    _runner = runner


async def stop_runner() -> None:
    """Stop taking jobs; jobs still running are ended INTERRUPTED."""
    global _runner
    runner, _runner = _runner, None
    if runner is not None:
        await runner.stop()

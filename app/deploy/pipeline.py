"""The steps of a deploy job (CONTRACT §5), each recorded as a DeployEvent.

Every event is stored first and published on the event bus second, so a subscriber
that missed the live message finds it in the database. A step that fails ends the job
FAILED with the step's message; nothing already done is undone (a config uploaded stays
uploaded when the restart fails).

A job runs under its lease (``app.deploy.leases``): every write is fenced by it, and the
lease is checked right before every message to the phone and every write to the config
target, so a job whose lease was taken over stops before its next side effect. While
the server drains (SIGTERM), a job that has not sent the restart yet goes back to the
queue at its next step instead of going on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from tortoise.transactions import in_transaction

from app.core.audit import after_commit
from app.core.crypto import decrypt
from app.core.events import get_bus
from app.core.networks import address_in_phone_networks
from app.deploy import kinds, leases, revisions
from app.deploy.leases import Lease, LeaseLost, lease_clock
from app.deploy.models import DeployEvent, DeployJob, DeployJobKind, DeployJobStatus, DeployStep
from app.deploy.rollout_events import jobs_changed
from app.deploy.signals import announce_end, phone_answered
from app.deploy.wire.errors import PhoneStepError
from app.devices.models import Phone, PhoneModel
from app.profiles.models import PhoneProfile
from app.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

# Extra seconds a wire call gets beyond its own timeout before the pipeline gives up on
# it: the wire functions time out themselves; this only guards against a hang.
_GRACE = 5.0
# Upload and CGI calls answer within seconds when they answer at all.
_SHORT_STEP = 30.0
# CONTRACT §5.3: NOTIFY retransmission gives up after 32 s at the latest.
_NOTIFY_LIMIT = 32.0
# A final write that fails on a database error is tried again after these pauses.
_FINAL_WRITE_RETRIES = (0.2, 0.5, 1.0)

HANDED_BACK_ON_STOP = (
    "The server process stopped before the job restarted the phone; the job is back in "
    "the queue for another process"
)


@dataclass
class Wire:
    """Connections shared by every job of a runner."""

    http: aiohttp.ClientSession
    target: Any  # app.deploy.wire.ftp.ConfigTarget


class JobCancelled(Exception):
    """Cancelling was asked for; the job stops before its next step."""


class HandBack(Exception):
    """The server is stopping and the restart was not sent: back to the queue."""


def now() -> datetime:
    return datetime.now(UTC)


def event_message(
    event: DeployEvent, *, phone_id: int, company_id: int | None, profile_id: int | None
) -> dict[str, Any]:
    """What subscribers receive: enough to filter and show the event without a query."""
    return {
        "kind": "deploy_event",
        "id": event.id,
        "job_id": event.job_id,  # type: ignore[attr-defined]
        "phone_id": phone_id,
        "company_id": company_id,
        "profile_id": profile_id,
        "step": str(event.step),
        "message": event.message,
        "at": event.at.isoformat(),
    }


def bus_message(event: DeployEvent, job: DeployJob) -> dict[str, Any]:
    """The bus message of an event of ``job``."""
    return event_message(
        event,
        phone_id=job.phone_id,  # type: ignore[attr-defined]
        company_id=job.company_id,  # type: ignore[attr-defined]
        profile_id=job.profile_id,  # type: ignore[attr-defined]
    )


def lease_message(event: DeployEvent, lease: Lease) -> dict[str, Any]:
    """The bus message of an event written under ``lease``."""
    return event_message(
        event, phone_id=lease.phone_id, company_id=lease.company_id, profile_id=lease.profile_id
    )


async def publish(messages: list[dict[str, Any]]) -> None:
    """Publish stored events; a bus failure never fails a job (the rows are stored).

    Inside a recorded call (a mutation), once its transaction has committed: subscribers
    read back what they are told of."""
    if not messages:
        return
    await after_commit(lambda: _publish_now(messages))


async def _publish_now(messages: list[dict[str, Any]]) -> None:
    try:
        await get_bus().publish_many(messages)
    except Exception:
        log.warning("could not publish %d deploy event(s)", len(messages), exc_info=True)
    try:
        await jobs_changed(messages)  # the rollouts these jobs belong to changed too
    except Exception:
        log.warning(
            "could not announce the rollouts of %d deploy event(s)", len(messages), exc_info=True
        )


async def finish_unclaimed(
    job: DeployJob, status: DeployJobStatus, step: DeployStep, message: str | None
) -> bool:
    """End a QUEUED job (nobody holds a lease on it) with its final event, atomically.

    Returns False when it was no longer QUEUED (a runner claimed it meanwhile): then
    nothing is written.
    """
    at = now()
    async with in_transaction():
        changed = await DeployJob.filter(id=job.id, status=DeployJobStatus.QUEUED).update(
            status=status, finished_at=at
        )
        if not changed:
            return False
        event = await DeployEvent.create(job_id=job.id, step=step, message=message, at=at)
        await announce_end(
            job_id=job.id,
            company_id=job.company_id,  # type: ignore[attr-defined]
            phone_id=job.phone_id,  # type: ignore[attr-defined]
            kind=job.kind,
            status=status.value,
            restart=job.restart,
        )
    job.status, job.finished_at = status, at
    await publish([bus_message(event, job)])
    return True


async def _bounded(call: Awaitable[T], limit: float, what: str, lease: Lease) -> T:
    """A wire step: given up when it hangs, or as soon as the lease is dropped."""
    step = asyncio.ensure_future(call)
    dropped = asyncio.ensure_future(lease.gone.wait())
    try:
        done, _ = await asyncio.wait(
            {step, dropped}, timeout=limit + _GRACE, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        dropped.cancel()
        if not step.done():
            step.cancel()
            with contextlib.suppress(BaseException):
                await step
    if step in done:
        return step.result()
    if dropped in done:
        raise LeaseLost(f"job {lease.job_id}: the lease was dropped during a step")
    raise PhoneStepError(f"{what} did not finish within {limit:g} s")


class Pipeline:
    """Runs one claimed (RUNNING) job to its end, under its lease."""

    def __init__(
        self,
        job: DeployJob,
        lease: Lease,
        wire: Wire,
        settings: Settings,
        draining: Callable[[], bool] = lambda: False,
    ) -> None:
        self.job = job
        self.lease = lease
        self.wire = wire
        self.settings = settings
        self.draining = draining
        self.step = DeployStep.QUEUED

    def _keep_going(self) -> None:
        """Before anything that touches the phone or the config target."""
        self.lease.check()
        if self.draining() and not self.lease.restart_sent:
            raise HandBack

    async def _checkpoint(self) -> None:
        """Between steps: stop here if cancelling was asked for (from any process)."""
        self._keep_going()
        if await leases.cancel_requested(self.lease):
            raise JobCancelled

    async def _enter(self, step: DeployStep, message: str | None, *, restart: bool = False) -> None:
        """Start a step, unless cancelling was asked for. ``restart``: the step sends the
        restart, which the job's row remembers before it is sent."""
        self._keep_going()
        event = await leases.record(self.lease, step, message, cancellable=True, restart=restart)
        if event is None:
            raise JobCancelled
        self.step = step
        await publish([lease_message(event, self.lease)])

    async def _done(
        self,
        step: DeployStep,
        message: str | None = None,
        also: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Record a step's outcome (no cancelling in the middle of a step); ``also``:
        more writes made with it under the lease."""
        event = await leases.record(self.lease, step, message, also=also)
        self.step = step
        await publish([lease_message(event, self.lease)])

    async def _end(
        self,
        status: DeployJobStatus,
        step: DeployStep,
        message: str | None,
        *,
        restart: str | None = None,
        error: str | None = None,
        active_profile_id: int | None = None,
    ) -> None:
        """The final write, tried again over a database blip (it is fenced, so a retry
        can never overwrite what a process that took the job over wrote)."""
        for pause in (*_FINAL_WRITE_RETRIES, None):
            try:
                event = await leases.finish(
                    self.lease,
                    status,
                    step,
                    message,
                    restart=restart,
                    error=error,
                    active_profile_id=active_profile_id,
                )
            except LeaseLost:
                raise
            except Exception:
                if pause is None:
                    raise
                log.warning("could not end deploy job %s; trying again", self.job.id)
                await asyncio.sleep(pause)
                continue
            self.job.status, self.job.restart, self.job.error = status, restart, error
            await publish([lease_message(event, self.lease)])
            return

    async def run(self) -> None:
        try:
            await self._run_and_end()
        finally:
            hooks = kinds.hooks_of(self.job.kind)
            status = DeployJobStatus(self.job.status)
            if hooks is not None and hooks.ended is not None and status.is_final:
                try:
                    await hooks.ended(self.job, status)
                except Exception:
                    log.exception("deploy job %s: its end hook failed", self.job.id)

    async def _run_and_end(self) -> None:
        try:
            await self._run()
        except JobCancelled:
            await self._end(
                DeployJobStatus.CANCELLED,
                DeployStep.CANCELLED,
                "Cancelled on request; the steps done so far stay done",
            )
        except PhoneStepError as exc:
            message = str(exc)
            if exc.detail:  # what tenants are not told (the config server's address...)
                log.warning("deploy job %s failed: %s", self.job.id, exc.detail)
            await self._end(
                DeployJobStatus.FAILED,
                DeployStep.FAILED,
                message,
                restart=message,
                error=message,
            )
        except (LeaseLost, HandBack, asyncio.CancelledError):
            raise  # nothing may be written any more, or the runner hands the job back
        except Exception:
            log.exception("deploy job %s failed unexpectedly", self.job.id)
            message = f"internal error while {_step_words(self.step)}; see the server log"
            await self._end(
                DeployJobStatus.FAILED,
                DeployStep.FAILED,
                message,
                restart=message,
                error=message,
            )

    async def _run(self) -> None:
        job = self.job
        phone = await Phone.get(id=job.phone_id)  # type: ignore[attr-defined]
        model = await PhoneModel.get_or_none(id=phone.model_id)  # type: ignore[attr-defined]
        timeout = self.settings.phone_timeout
        short = min(timeout, _SHORT_STEP)
        if phone.ip_address:  # refused before the config is even uploaded
            _require_phone_network(phone.ip_address, self.settings)

        hooks = kinds.hooks_of(job.kind)
        if job.kind in _BUILT_IN_UPLOADS or hooks:
            await self._checkpoint()
            config = await self._config(phone)
            filename, data = config.filename, config.data
            # The upload is a revision of the phone's config history (CONTRACT §7): made
            # ready first (nothing is uploaded that could not be kept), stored with the
            # CONFIG_UPLOADED event under the lease.
            revision = await revisions.prepare(job, phone, config)
            await self._enter(DeployStep.UPLOADING_CONFIG, f"Uploading {filename}")
            await _bounded(
                self.wire.target.upload(filename, data, guard=self._keep_going),
                short,
                "uploading the config",
                self.lease,
            )
            await self._done(
                DeployStep.CONFIG_UPLOADED,
                f"Stored {filename} ({len(data)} bytes)",
                also=revision.store,
            )
            if hooks is not None and hooks.uploaded is not None:
                await hooks.uploaded(job)

        host = phone.ip_address
        if job.kind != DeployJobKind.REBOOT and model is not None and _is_cisco(model):
            await self._enter(
                DeployStep.CLEARING_SESSION,
                f"Init:Services to http://{host}:{phone.http_port}/CGI/Execute",
            )
            address = _require_address(host, self.settings)
            from app.deploy.wire.cisco import clear_services_session

            password = decrypt(phone.web_password_enc) if phone.web_password_enc else None
            await _bounded(
                clear_services_session(
                    self.wire.http,
                    address,
                    phone.http_port,
                    phone.web_username,
                    password,
                    short,
                    guard=self._keep_going,
                ),
                short,
                "clearing the services session",
                self.lease,
            )

        from app.deploy.wire.sip import send_reboot_notify, wait_for_restart

        await self._enter(
            DeployStep.RESTARTING,
            f"SIP NOTIFY check-sync;reboot=true to {host}:{phone.sip_port}",
            restart=True,
        )
        address = _require_address(host, self.settings)
        started = time.monotonic()
        notify_limit = min(_NOTIFY_LIMIT, timeout)
        code = await _bounded(
            send_reboot_notify(address, phone.sip_port, notify_limit, guard=self.lease.check),
            notify_limit,
            "restarting the phone",
            self.lease,
        )
        # Cancelling here stops the wait only: the restart was already asked for.
        await self._enter(
            DeployStep.WAITING_FOR_PHONE, f"The phone accepted the NOTIFY ({code}); waiting for it"
        )
        remaining = max(1.0, timeout - (time.monotonic() - started))
        online = await _bounded(
            wait_for_restart(
                address,
                phone.sip_port,
                remaining,
                grace=self.settings.restart_grace,
                interval=self.settings.options_interval,
                guard=self.lease.check,
                on_probe=self._phone_answered,
            ),
            remaining,
            "waiting for the phone",
            self.lease,
        )
        await self._done(DeployStep.PHONE_ONLINE, online)
        await self._end(
            DeployJobStatus.SUCCEEDED,
            DeployStep.SUCCEEDED,
            None,
            restart="ok",
            active_profile_id=(
                job.profile_id  # type: ignore[attr-defined]
                if job.kind == DeployJobKind.PROFILE_DEPLOY
                else None
            ),
        )

    async def _phone_answered(self, status: int | None, round_trip: float) -> None:
        """An OPTIONS of the wait for the phone got its answer (or none): domains above
        learn of it (presence); what they do never stops the job. A process that may
        have lost the job (frozen past its lease) tells nothing: its news may be stale."""
        if self.lease.lost or lease_clock() >= self.lease.valid_until:
            return
        try:
            await phone_answered.send(
                phone_id=self.lease.phone_id, status=status, round_trip=round_trip
            )
        except Exception:
            log.warning(
                "deploy job %s: a phone_answered receiver failed", self.job.id, exc_info=True
            )

    async def _config(self, phone: Phone) -> kinds.ConfigFile:
        """The file to upload: the profile byte for byte, the rendered template, a
        revision's bytes (or, for a kind a domain above registered, what that domain
        says)."""
        hooks = kinds.hooks_of(self.job.kind)
        if hooks is not None:
            config = await hooks.config(self.job, phone, self.wire.target)
            return config if isinstance(config, kinds.ConfigFile) else kinds.ConfigFile(*config)
        if self.job.kind == DeployJobKind.PROFILE_DEPLOY:
            profile = await PhoneProfile.get_or_none(id=self.job.profile_id)  # type: ignore[attr-defined]
            if profile is None:
                raise PhoneStepError("the profile was deleted before it could be deployed")
            return kinds.ConfigFile(f"SEP{phone.mac}.cnf.xml", profile.cnf_xml.encode("utf-8"))
        if self.job.kind == DeployJobKind.ROLLBACK:
            return await revisions.rollback_config(self.job, phone)
        from app.core.errors import UserInputError
        from app.devices.rendering import render_phone_config_masked

        try:
            rendered = await render_phone_config_masked(phone.id)
        except UserInputError as exc:
            raise PhoneStepError(f"cannot render the phone's config: {exc}") from None
        return kinds.ConfigFile(rendered.filename, rendered.data, rendered.masked)


# The kinds deploy itself knows the config of (a REBOOT uploads nothing).
_BUILT_IN_UPLOADS = (
    DeployJobKind.PROFILE_DEPLOY,
    DeployJobKind.REPROVISION,
    DeployJobKind.ROLLBACK,
)


def _is_cisco(model: PhoneModel) -> bool:
    return model.vendor.strip().lower() == "cisco"


def _require_address(host: str | None, settings: Settings) -> str:
    """The phone's address, checked right before anything is sent to it."""
    if not host:
        raise PhoneStepError("phone unreachable: it has no IP address (set ipAddress)")
    _require_phone_network(host, settings)
    return host


def _require_phone_network(host: str, settings: Settings) -> None:
    """CONTRACT §12: nothing is sent to an address outside PHONEGRAPH_PHONE_NETWORKS."""
    if not address_in_phone_networks(host, settings.phone_networks):
        raise PhoneStepError(
            "the phone's address is outside the networks phones may be in "
            "(PHONEGRAPH_PHONE_NETWORKS); nothing was sent"
        )


_STEP_WORDS = {
    DeployStep.QUEUED: "starting",
    DeployStep.UPLOADING_CONFIG: "uploading the config",
    DeployStep.CONFIG_UPLOADED: "preparing the config",
    DeployStep.CLEARING_SESSION: "clearing the services session",
    DeployStep.RESTARTING: "restarting the phone",
    DeployStep.WAITING_FOR_PHONE: "waiting for the phone",
    DeployStep.PHONE_ONLINE: "finishing",
}


def _step_words(step: DeployStep) -> str:
    return _STEP_WORDS.get(step, "working")


async def run_job(
    lease: Lease, wire: Wire, settings: Settings, draining: Callable[[], bool]
) -> None:
    """Run a job this process has claimed (``lease``)."""
    job = await DeployJob.get(id=lease.job_id)
    await Pipeline(job, lease, wire, settings, draining).run()

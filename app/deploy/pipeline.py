"""The steps of a deploy job (CONTRACT §5), each recorded as a DeployEvent.

Every event is stored first and published on the event bus second, so a subscriber
that missed the live message finds it in the database. A step that fails ends the job
FAILED with the step's message; nothing already done is undone (a config uploaded stays
uploaded when the restart fails).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from tortoise.transactions import in_transaction

from app.core.crypto import decrypt
from app.core.events import get_bus
from app.deploy.models import DeployEvent, DeployJob, DeployJobKind, DeployJobStatus, DeployStep
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


@dataclass
class Wire:
    """Connections shared by every job of a runner."""

    http: aiohttp.ClientSession
    target: Any  # app.deploy.wire.ftp.ConfigTarget


class JobCancelled(Exception):
    """Cancelling was asked for; the job stops before its next step."""


def now() -> datetime:
    return datetime.now(UTC)


def bus_message(event: DeployEvent, job: DeployJob) -> dict[str, Any]:
    """What subscribers receive: enough to filter and show the event without a query."""
    return {
        "kind": "deploy_event",
        "id": event.id,
        "job_id": job.id,
        "phone_id": job.phone_id,  # type: ignore[attr-defined]
        "company_id": job.company_id,  # type: ignore[attr-defined]
        "profile_id": job.profile_id,  # type: ignore[attr-defined]
        "step": str(event.step),
        "message": event.message,
        "at": event.at.isoformat(),
    }


async def publish(messages: list[dict[str, Any]]) -> None:
    """Publish stored events; a bus failure never fails a job (the rows are stored)."""
    bus = get_bus()
    for message in messages:
        try:
            await bus.publish(message)
        except Exception:
            log.warning("could not publish deploy event %s", message.get("id"), exc_info=True)


async def record(job: DeployJob, step: DeployStep, message: str | None = None) -> DeployEvent:
    """Store an event of ``job`` and publish it."""
    event = await DeployEvent.create(job_id=job.id, step=step, message=message, at=now())
    await publish([bus_message(event, job)])
    return event


async def finish(
    job: DeployJob,
    status: DeployJobStatus,
    step: DeployStep,
    message: str | None,
    *,
    restart: str | None = None,
    error: str | None = None,
    active_profile_id: int | None = None,
    from_status: DeployJobStatus = DeployJobStatus.RUNNING,
) -> bool:
    """End ``job`` (if it is still ``from_status``) with its final event, atomically.

    Returns False when someone else ended it first (cancelled while queued, or declared
    interrupted): then nothing is written.
    """
    at = now()
    async with in_transaction():
        changed = await DeployJob.filter(id=job.id, status=from_status).update(
            status=status,
            restart=restart,
            error=error,
            finished_at=at,
            running_phone_id=None,
            running_slot=None,
            heartbeat_at=None,
        )
        if not changed:
            return False
        if active_profile_id is not None:
            await Phone.filter(id=job.phone_id).update(  # type: ignore[attr-defined]
                active_profile_id=active_profile_id
            )
        event = await DeployEvent.create(job_id=job.id, step=step, message=message, at=at)
    job.status, job.restart, job.error, job.finished_at = status, restart, error, at
    await publish([bus_message(event, job)])
    return True


async def _bounded(call: Awaitable[T], limit: float, what: str) -> T:
    try:
        async with asyncio.timeout(limit + _GRACE):
            return await call
    except TimeoutError:
        raise PhoneStepError(f"{what} did not finish within {limit:g} s") from None


class Pipeline:
    """Runs one claimed (RUNNING) job to its end."""

    def __init__(self, job: DeployJob, wire: Wire, settings: Settings) -> None:
        self.job = job
        self.wire = wire
        self.settings = settings
        self.step = DeployStep.QUEUED

    async def _checkpoint(self) -> None:
        """Between steps: stop here if cancelling was asked for (from any process)."""
        if await DeployJob.filter(id=self.job.id, cancel_requested=True).exists():
            raise JobCancelled

    async def _enter(self, step: DeployStep, message: str | None = None) -> None:
        """Start a step, unless cancelling was asked for."""
        await self._checkpoint()
        await self._done(step, message)

    async def _done(self, step: DeployStep, message: str | None = None) -> None:
        """Record a step's outcome (no cancelling in the middle of a step)."""
        self.step = step
        await record(self.job, step, message)

    async def run(self) -> None:
        try:
            await self._run()
        except JobCancelled:
            await finish(
                self.job,
                DeployJobStatus.CANCELLED,
                DeployStep.CANCELLED,
                "Cancelled on request; the steps done so far stay done",
            )
        except PhoneStepError as exc:
            message = str(exc)
            await finish(
                self.job,
                DeployJobStatus.FAILED,
                DeployStep.FAILED,
                message,
                restart=message,
                error=message,
            )
        except asyncio.CancelledError:
            raise  # the runner is stopping; it marks the job INTERRUPTED
        except Exception:
            log.exception("deploy job %s failed unexpectedly", self.job.id)
            message = f"internal error while {_step_words(self.step)}; see the server log"
            await finish(
                self.job,
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

        if job.kind in (DeployJobKind.PROFILE_DEPLOY, DeployJobKind.REPROVISION):
            await self._checkpoint()
            filename, data = await self._config(phone)
            await self._enter(DeployStep.UPLOADING_CONFIG, f"Uploading {filename}")
            await _bounded(self.wire.target.upload(filename, data), short, "uploading the config")
            await self._done(DeployStep.CONFIG_UPLOADED, f"Stored {filename} ({len(data)} bytes)")

        host = phone.ip_address
        if job.kind != DeployJobKind.REBOOT and model is not None and _is_cisco(model):
            await self._enter(
                DeployStep.CLEARING_SESSION,
                f"Init:Services to http://{host}:{phone.http_port}/CGI/Execute",
            )
            address = _require_address(host)
            from app.deploy.wire.cisco import clear_services_session

            password = decrypt(phone.web_password_enc) if phone.web_password_enc else None
            await _bounded(
                clear_services_session(
                    self.wire.http, address, phone.http_port, phone.web_username, password, short
                ),
                short,
                "clearing the services session",
            )

        from app.deploy.wire.sip import send_reboot_notify, wait_for_restart

        await self._enter(
            DeployStep.RESTARTING, f"SIP NOTIFY check-sync;reboot=true to {host}:{phone.sip_port}"
        )
        address = _require_address(host)
        started = time.monotonic()
        notify_limit = min(_NOTIFY_LIMIT, timeout)
        code = await _bounded(
            send_reboot_notify(address, phone.sip_port, notify_limit),
            notify_limit,
            "restarting the phone",
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
            ),
            remaining,
            "waiting for the phone",
        )
        await self._done(DeployStep.PHONE_ONLINE, online)
        await finish(
            job,
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

    async def _config(self, phone: Phone) -> tuple[str, bytes]:
        """The file to upload: the profile byte for byte, or the rendered template."""
        if self.job.kind == DeployJobKind.PROFILE_DEPLOY:
            profile = await PhoneProfile.get_or_none(id=self.job.profile_id)  # type: ignore[attr-defined]
            if profile is None:
                raise PhoneStepError("the profile was deleted before it could be deployed")
            return f"SEP{phone.mac}.cnf.xml", profile.cnf_xml.encode("utf-8")
        from app.core.errors import UserInputError
        from app.devices.rendering import render_phone_config

        try:
            return await render_phone_config(phone.id)
        except UserInputError as exc:
            raise PhoneStepError(f"cannot render the phone's config: {exc}") from None


def _is_cisco(model: PhoneModel) -> bool:
    return model.vendor.strip().lower() == "cisco"


def _require_address(host: str | None) -> str:
    if not host:
        raise PhoneStepError("phone unreachable: it has no IP address (set ipAddress)")
    return host


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


async def run_job(job: DeployJob, wire: Wire, settings: Settings) -> None:
    """Run a job this process has claimed."""
    await Pipeline(job, wire, settings).run()

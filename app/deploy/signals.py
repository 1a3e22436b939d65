"""What deploy tells the domains above it (see app.core.signals)."""

from __future__ import annotations

from app.core.signals import Signal

# Sent when a job reaches its final status (SUCCEEDED, FAILED, CANCELLED, INTERRUPTED),
# inside the transaction that writes it — for a running job, the fenced write of its
# lease holder — with keyword arguments ``job_id``, ``company_id``, ``phone_id``,
# ``kind``, ``status`` and ``restart`` (the stored values, as plain strings and ints).
# Sent by :func:`announce_end`, the one way every ending path sends it.
job_ended = Signal("deploy.job_ended")


async def announce_end(
    *,
    job_id: int,
    company_id: int | None,
    phone_id: int,
    kind: str,
    status: str,
    restart: str | None,
) -> None:
    """Tell the receivers of :data:`job_ended` (call inside the ending transaction)."""
    await job_ended.send(
        job_id=job_id,
        company_id=company_id,
        phone_id=phone_id,
        kind=str(getattr(kind, "value", kind)),
        status=str(getattr(status, "value", status)),
        restart=restart,
    )
# Sent after each SIP OPTIONS a deploy job sends while it waits for a restarted phone,
# with ``phone_id``, ``status`` (the final response's status code; None: no answer
# within the probe interval) and ``round_trip`` (seconds). Presence takes the phone's
# answers (or silence) as probes of its own. A receiver must return quickly and must not
# raise: the job goes on whatever it does.
phone_answered = Signal("deploy.phone_answered")


# A rollout reached its final status (SUCCEEDED, FAILED or ABORTED): sent once per
# rollout, inside the transaction that sets that status, with ``rollout=`` the
# ``app.deploy.models.Rollout`` row as it stands then.
rollout_ended = Signal("deploy.rollout_ended")

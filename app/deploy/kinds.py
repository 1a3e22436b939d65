"""Job kinds whose config a domain above deploy provides (hot desking).

The pipeline runs every kind through the same steps (CONTRACT §5). For the kinds
registered here it asks the registering domain, which deploy never imports, for the
file to upload, and tells it when the upload is stored and when the job has ended:

* ``config(job, phone, target)`` — the file name and exact bytes to upload (a
  :class:`ConfigFile`, with the text to keep in the phone's config history when the
  domain rendered it; ``(filename, bytes)`` is masked by the pipeline); raise
  ``PhoneStepError`` when there is nothing to write (the job fails with that message).
  ``target`` is the config target, for a config that depends on what is stored there.
* ``uploaded(job)`` — the config is on the target (before the restart).
* ``ended(job, status)`` — the job ended (SUCCEEDED, FAILED, CANCELLED) in the pipeline.

Hooks must be idempotent: a job handed back to the queue runs again from the start, and
a job that ended without reaching the pipeline's end (cancelled while queued, taken over
after its process died) calls no ``ended``; the domain reconciles those itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.deploy.models import DeployJob, DeployJobKind, DeployJobStatus
from app.devices.models import Phone


@dataclass(frozen=True)
class ConfigFile:
    """A file a job writes to the config target."""

    filename: str
    data: bytes
    # What people see of it (ConfigRevision.content): every stored secret the server
    # put in as ********. None: the pipeline masks the phone's known secrets in it.
    masked: str | None = None
    # With ``masked`` None: SIP users besides those on the phone's lines whose
    # passwords the file may hold (a hot-desk user's own profile), masked too.
    users: frozenset[int] = frozenset()


ConfigSource = Callable[[DeployJob, Phone, Any], Awaitable["ConfigFile | tuple[str, bytes]"]]


@dataclass(frozen=True)
class KindHooks:
    """What a domain contributes to the jobs of one kind."""

    config: ConfigSource
    queued_message: str
    uploaded: Callable[[DeployJob], Awaitable[None]] | None = None
    ended: Callable[[DeployJob, DeployJobStatus], Awaitable[None]] | None = None


_HOOKS: dict[DeployJobKind, KindHooks] = {}


def register_kind(kind: DeployJobKind, hooks: KindHooks) -> None:
    """Declare where the config of ``kind`` jobs comes from (the domain, at import)."""
    _HOOKS[kind] = hooks


def hooks_of(kind: DeployJobKind | str) -> KindHooks | None:
    """The hooks of ``kind``, if a domain registered it."""
    return _HOOKS.get(DeployJobKind(kind))

"""The one failure a deploy step can report (CONTRACT §5), and the guard that stops a step."""

from __future__ import annotations

from collections.abc import Callable


class PhoneStepError(Exception):
    """A network step towards a phone or its config store failed.

    ``message`` is shown to users as is (the job's ``error`` and the ``FAILED`` event), so
    it says what went wrong in plain words and never carries a traceback, nor anything of
    the server's own infrastructure (the config server's address, its replies, folders):
    tenants read it. ``detail``, when given, is the whole story for the server log.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


# Called right before every message to a phone and every write to the config target; it
# raises (anything but PhoneStepError) to stop the step there. The pipeline passes its
# lease check, so a job that lost its lease never touches the phone again.
Guard = Callable[[], None]


def _no_guard() -> None:
    return None


def guarded(guard: Guard | None) -> Guard:
    """``guard``, or a guard that never stops anything."""
    return guard or _no_guard

"""The one failure a deploy step can report (CONTRACT §5)."""

from __future__ import annotations


class PhoneStepError(Exception):
    """A network step towards a phone or its config store failed.

    ``message`` is shown to users as is (the job's ``error`` and the ``FAILED`` event), so
    it says what went wrong in plain words and never carries a traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

"""How the server's log lines are written: one record is one line, whatever it carries.

Log lines repeat what clients sent (paths, names, values in error messages and their
tracebacks). A value with a newline would start what looks like a line of its own — a
forged record — so every formatter here escapes control characters (``\\n`` becomes the
two characters ``\\`` ``n``); a traceback becomes one line with ``\\n`` in it. And the
access log never shows a provisioning key: it is the secret a phone's config (with its
SIP credentials) is fetched with, so ``/provisioning/<key>/…`` is logged with the key
masked (``/services/<key>/…`` likewise), and so is the query of such a path.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from uvicorn.logging import AccessFormatter, DefaultFormatter

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character (and Unicode line separator) written as an
    escape: nothing in it can break a log line."""
    return _CONTROL.sub(_escape, text)


class OneLineFormatter(DefaultFormatter):
    """uvicorn's default format (level prefix, message), one escaped line per record."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(super().format(record))


class OneLineAccessFormatter(AccessFormatter):
    """uvicorn's access-log format, one escaped line per record."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(super().format(record))


_KEYED_PATH = re.compile(r"(/(?:provisioning|services)/+)[^/?#]*([^?#]*)(\?.*)?", re.DOTALL)
MASK = "********"


def mask_keyed_path(path: str) -> str:
    """``/provisioning/<key>/file`` → ``/provisioning/********/file``; the query of such
    a path is masked too (phones send none; a PIN may be in a ``/services/`` one)."""

    def masked(m: re.Match[str]) -> str:
        query = f"?{MASK}" if m.group(3) else ""
        return f"{m.group(1)}{MASK}{m.group(2)}{query}"

    return _KEYED_PATH.sub(masked, path)


class ProvisioningKeyFilter(logging.Filter):
    """On ``uvicorn.access``: the request path of a record, keys masked. uvicorn logs
    ``(client, method, path, http version, status)`` as the record's arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], mask_keyed_path(args[2]), *args[3:])
        return True


def log_config(level: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a server process: uvicorn's own layout (so its
    lines look as usual) with the formatters above, the key filter on the access log,
    and the application's loggers (``app.*``, strawberry, tortoise) on stderr at
    ``level`` through the same one-line formatter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"provisioning_keys": {"()": "app.core.logs.ProvisioningKeyFilter"}},
        "formatters": {
            "default": {
                "()": "app.core.logs.OneLineFormatter",
                "fmt": "%(levelprefix)s %(message)s",
            },
            "app": {
                "()": "app.core.logs.OneLineFormatter",
                "fmt": "%(levelprefix)s %(name)s: %(message)s",
            },
            "access": {
                "()": "app.core.logs.OneLineAccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        },
        "handlers": {
            "default": {
                "formatter": "default",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "app": {
                "formatter": "app",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "formatter": "access",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {
                "handlers": ["access"],
                "level": "INFO",
                "propagate": False,
                "filters": ["provisioning_keys"],
            },
        },
        "root": {"handlers": ["app"], "level": level.upper()},
    }

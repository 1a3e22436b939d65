"""Partial inputs: a field left out is left alone, a field sent as null clears it."""

from __future__ import annotations

import dataclasses
from typing import Any

import strawberry


def provided(data: Any) -> dict[str, Any]:
    """The fields of a Strawberry input the client actually sent (``UNSET`` dropped)."""
    if data is None:
        return {}
    return {
        f.name: getattr(data, f.name)
        for f in dataclasses.fields(data)
        if getattr(data, f.name) is not strawberry.UNSET
    }

"""Secrets are masked by argument name at any depth; ids are found at any depth."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from app.core.audit import MASK, masked_arguments, target_ids


@dataclass
class _Line:
    sip_user_id: str
    user_password: str


@dataclass
class _Input:
    name: str
    web_password: str | None
    engineer_password: str
    lines: list[_Line]
    ftp_secret: str
    description: object = strawberry.UNSET


def test_secrets_are_masked_at_any_depth_and_left_out_fields_are_not_shown() -> None:
    shown = masked_arguments(
        {
            "mac": "001EBE000001",
            "input": _Input(
                name="Desk",
                web_password="w",
                engineer_password="e",
                lines=[_Line("U2lwVXNlcjox", "u")],
                ftp_secret="s",
            ),
            "pin": "1234",
            "token": "pgt_x",
            "extra": {"password": "p", "nested": [{"PIN": "9"}]},
        }
    )
    assert shown == {
        "mac": "001EBE000001",
        "input": {
            "name": "Desk",
            "webPassword": MASK,
            "engineerPassword": MASK,
            "lines": [{"sipUserId": "U2lwVXNlcjox", "userPassword": MASK}],
            "ftpSecret": MASK,
        },
        "pin": MASK,
        "token": MASK,
        "extra": {"password": MASK, "nested": [{"PIN": MASK}]},
    }
    assert target_ids(shown) == [("mac", "001EBE000001"), ("sipUserId", "U2lwVXNlcjox")]


def test_a_cleared_secret_shows_null() -> None:
    assert (
        masked_arguments({"input": _Input("x", None, "e", [], "s")})["input"]["webPassword"] is None
    )

"""Presence storage: one row per phone that is (or was) watched."""

from __future__ import annotations

from tortoise import fields
from tortoise.expressions import Q
from tortoise.models import Model

from app.core.scope import Rule, register_rule


class PhonePresence(Model):
    """What the probes found of one phone, and when it is probed next.

    ``next_probe_at`` (the database's clock) is the schedule: a server process claims a
    probe by moving it one interval on and counting up ``probe_epoch`` in one statement,
    so each probe is claimed by exactly one process; its result is written only while
    ``probe_epoch`` is still the one it claimed (see ``app.presence.monitor``).
    """

    id = fields.IntField(primary_key=True)
    phone = fields.OneToOneField(
        "models.Phone", related_name="presence", on_delete=fields.CASCADE
    )
    # None until the phone was first found up, or found down by two probes in a row.
    online = fields.BooleanField(null=True)
    last_seen_at = fields.DatetimeField(null=True)
    round_trip_ms = fields.IntField(null=True)
    # Probes in a row without an answer (two make the phone offline).
    misses = fields.IntField(default=0)
    # When ``online`` last changed.
    changed_at = fields.DatetimeField(null=True)
    next_probe_at = fields.DatetimeField(db_index=True)
    probe_epoch = fields.IntField(default=0)
    # The claim whose result was stored last (results of older claims are not stored).
    result_epoch = fields.IntField(default=0)

    class Meta:
        table = "phone_presence"
        ordering = ["id"]


# As the phone's own rule reads: a company's admins, and a USER with a line on it.
register_rule(
    PhonePresence,
    Rule("phone__company_id", lambda v: Q(phone__lines__sip_user_id=v.sip_user_id)),
)

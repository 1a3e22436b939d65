"""Presence state: what a probe's answer (or silence) does to a phone's row.

Any final response means online; two probes in a row without one mean offline (one lost
datagram is no outage). A change of ``online`` — the first answer of a phone, or the
second miss of one that was up or never seen — is stored, sent as
``presence.status_changed`` inside the same transaction, and published on the event bus
after the commit (so the subscription, in every process, sees it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from app.core.events import get_bus
from app.deploy.sql import DialectSql, as_datetime, dialect_sql
from app.presence import sql as psql
from app.presence.signals import status_changed

log = logging.getLogger(__name__)

# Probes in a row without an answer that make a phone offline (CONTRACT §9).
MISSES_FOR_OFFLINE = 2
# Phones looked at per statement when new phones are found.
DISCOVERY_PAGE = 1000

STATUS_EVENT = "phone_status"


@dataclass(frozen=True)
class Outcome:
    """One probe of one phone: answered (with its round trip) or not.

    ``epoch`` is the claim of a scheduled probe (``PhonePresence.probe_epoch``); its
    result is stored only while no later probe's result is (a process that stalled past
    the next probe writes nothing). ``None``: a deploy job's own OPTIONS.
    """

    phone_id: int
    answered: bool
    round_trip: float | None = None
    epoch: int | None = None


def status_message(
    *, phone_id: int, company_id: int | None, mac: str, online: bool, at: datetime
) -> dict[str, Any]:
    """What the event bus carries of a change (the subscription reads the phone itself)."""
    return {
        "kind": STATUS_EVENT,
        "phone_id": phone_id,
        "company_id": company_id,
        "mac": mac,
        "online": online,
        "at": at.isoformat(),
    }


def _phone_in(sql: DialectSql, param: int) -> str:
    """``pp.phone_id`` is one of the ids of parameter ``param`` (see ``DialectSql.ids``)."""
    if sql.postgres:
        return f"pp.phone_id = ANY(${param}::int[])"
    return f"pp.phone_id IN (SELECT value FROM json_each(${param}))"


def _json_rows(sql: DialectSql, columns: str) -> str:
    """Parameter 1, a JSON array of objects, as rows with ``columns`` ("name type, ...")."""
    pairs = [c.strip().split() for c in columns.split(",")]
    if sql.postgres:
        return f"jsonb_to_recordset($1::jsonb) AS v({columns})"
    picks = ", ".join(f"json_extract(value, '$.{name}') AS {name}" for name, _ in pairs)
    return f"(SELECT {picks} FROM json_each($1)) AS v"


async def add_missing(sql: DialectSql, interval: float, phone_ids: list[int] | None = None,
                      after: int = 0) -> tuple[int, int | None]:
    """Rows for watched phones without one (ACTIVE, with an address): the phones of
    ``phone_ids``, or the next :data:`DISCOVERY_PAGE` phones by id after ``after``. Each
    phone's first probe is spread into the coming interval. Returns how many rows were
    added and the last phone id looked at (``None``: no phone after ``after``)."""
    if phone_ids is not None:
        page = f"SELECT id FROM phone WHERE {sql.ids(2)}"
        params: list[Any] = [interval, sql.id_list(phone_ids)]
        last: int | None = None
    else:
        page = f"SELECT id FROM phone WHERE id > $2 ORDER BY id LIMIT {DISCOVERY_PAGE}"
        params = [interval, after]
        rows = await sql.rows(
            f"SELECT max(id) AS last FROM ({page.replace('$2', '$1')}) AS pg", [after]
        )
        last = rows[0]["last"] if rows else None
        if last is None:
            return 0, None
    first = psql.plus_seconds(sql, sql.now, psql.spread(sql, "p.id", "$1"))
    added = await sql.rows(
        "INSERT INTO phone_presence "
        '("phone_id", "next_probe_at", "misses", "probe_epoch", "result_epoch") '
        f"SELECT p.id, {first}, 0, 0, 0 FROM ({page}) AS pg JOIN phone p ON p.id = pg.id "
        "WHERE p.status = 'ACTIVE' AND p.ip_address IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM phone_presence x WHERE x.phone_id = p.id) "
        'ON CONFLICT ("phone_id") DO NOTHING RETURNING phone_id',
        params,
    )
    return len(added), last


async def respread(sql: DialectSql, interval: float, horizon: float) -> int:
    """Spread again over the coming interval the probes no process took up for a whole
    interval (every process was down: after a restart they would otherwise all go out
    at once) and those scheduled further ahead than one interval (by a run with a longer
    ``PHONEGRAPH_PRESENCE_INTERVAL``: they would wait that long). A claim never schedules
    a probe further than ``interval + horizon`` ahead, so probes kept up with are left
    alone. Returns how many were moved."""
    seconds = psql.number(sql, "$1")
    ahead = psql.plus_seconds(sql, sql.now, f"({seconds} + {psql.number(sql, '$2')})")
    behind = psql.minus_seconds(sql, sql.now, seconds)
    first = psql.plus_seconds(sql, sql.now, psql.spread(sql, "phone_id", "$1"))
    moved = 0
    while True:
        # A page at a time, skipping rows another transaction holds (never waiting for
        # them: a claim or a batch of results has them, and they are not behind).
        page = await sql.rows(
            f"UPDATE phone_presence SET next_probe_at = {first} WHERE id IN ("
            f"SELECT id FROM phone_presence WHERE next_probe_at > {ahead} "
            f"OR next_probe_at < {behind} ORDER BY id LIMIT {DISCOVERY_PAGE} "
            f"{sql.skip_locked()}) RETURNING id",
            [interval, horizon + 0.5],
        )
        moved += len(page)
        if len(page) < DISCOVERY_PAGE:
            return moved


async def record(outcomes: list[Outcome], interval: float) -> list[dict[str, Any]]:
    """Store ``outcomes`` (in their order) in one transaction; publish the changes.
    Returns the bus messages of the changes."""
    if not outcomes:
        return []
    phone_ids = sorted({o.phone_id for o in outcomes})
    messages: list[dict[str, Any]] = []
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        unscheduled = sorted({o.phone_id for o in outcomes if o.epoch is None})
        if unscheduled:  # a deploy job's phone not watched yet
            await add_missing(sql, interval, unscheduled)
        # Rows locked in id order (PostgreSQL): two processes' writes never deadlock.
        lock = "FOR UPDATE OF pp" if sql.postgres else ""
        rows = await sql.rows(
            "SELECT pp.id, pp.phone_id, pp.online, pp.misses, pp.result_epoch, "
            f"p.company_id, p.mac, {sql.now} AS at "
            "FROM phone_presence pp JOIN phone p ON p.id = pp.phone_id "
            f"WHERE {_phone_in(sql, 1)} AND p.status = 'ACTIVE' AND p.ip_address IS NOT NULL "
            f"ORDER BY pp.id {lock}",
            [sql.id_list(phone_ids)],
        )
        if not rows:
            return []
        at_value = rows[0]["at"]
        at = as_datetime(at_value)
        state = {row["phone_id"]: dict(row) for row in rows}
        changes: list[dict[str, Any]] = []
        touched: dict[int, dict[str, Any]] = {}
        for outcome in outcomes:
            row = state.get(outcome.phone_id)
            if row is None:
                continue  # deleted meanwhile, not watched (any more), or never watched
            if outcome.epoch is not None:
                if outcome.epoch <= row["result_epoch"]:
                    continue  # a later probe's result is stored already
                row["result_epoch"] = outcome.epoch
            before = None if row["online"] is None else bool(row["online"])
            if outcome.answered:
                row["misses"] = 0
                online: bool | None = True
                row["seen"] = True
                row["rtt"] = round((outcome.round_trip or 0.0) * 1000)
            else:
                row["misses"] += 1
                online = False if row["misses"] >= MISSES_FOR_OFFLINE else before
            row["online"] = online
            if online != before and online is not None:
                row["changed"] = True
                changes.append(
                    {
                        "phone_id": row["phone_id"],
                        "company_id": row["company_id"],
                        "mac": row["mac"],
                        "online": online,
                    }
                )
            touched[row["id"]] = row
        if not touched:
            return []
        values = [
            {
                "id": row["id"],
                "online": row["online"],
                "misses": row["misses"],
                "seen": bool(row.get("seen")),
                "rtt": row.get("rtt"),
                "epoch": row["result_epoch"],
                "changed": bool(row.get("changed")),
            }
            for row in touched.values()
        ]
        at_param = sql.cast("$2", "timestamptz")
        await sql.rows(
            "UPDATE phone_presence SET online = v.online, misses = v.misses, "
            f"last_seen_at = CASE WHEN v.seen THEN {at_param} ELSE last_seen_at END, "
            "round_trip_ms = CASE WHEN v.seen THEN v.rtt ELSE round_trip_ms END, "
            "result_epoch = v.epoch, "
            f"changed_at = CASE WHEN v.changed THEN {at_param} ELSE changed_at END "
            "FROM "
            + _json_rows(
                sql,
                "id int, online boolean, misses int, seen boolean, rtt int, epoch int, "
                "changed boolean",
            )
            + " WHERE phone_presence.id = v.id",
            [json.dumps(values), at_value],
        )
        for change in changes:
            await status_changed.send(**change, at=at)
            messages.append(status_message(**change, at=at))
    if messages:
        try:
            await get_bus().publish_many(messages)
        except Exception:
            log.warning("could not publish %d presence change(s)", len(messages), exc_info=True)
    return messages

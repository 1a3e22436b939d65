"""The presence monitor of one server process (CONTRACT §9).

Every ACTIVE phone with an ``ipAddress`` has a ``phone_presence`` row whose
``next_probe_at`` is its schedule, spread over the interval by phone id. Each process
claims the probes coming due (within :data:`HORIZON` seconds, by the database's clock)
with one statement that moves them one interval on and counts up their ``probe_epoch``;
on PostgreSQL rows another transaction holds are skipped (``FOR UPDATE SKIP LOCKED``).
A probe is therefore claimed by exactly one process, and with several processes each
phone is still probed once per interval in all. The claim is the lease on that one
probe: its result is stored only while no later probe's result is (``result_epoch``),
and a process that died simply leaves its claimed probes unanswered — the phones come
due again one interval later, for whichever process claims them then. No process owns
a phone for longer than one probe, so nothing has to be taken over.

The probes themselves go out over one UDP socket (:mod:`app.presence.prober`), each at
its due time, at most ``PHONEGRAPH_PRESENCE_CONCURRENCY`` awaiting an answer at once.
Results are written in batches (:func:`app.presence.service.record`), together with the
answers deploy jobs get to their own OPTIONS (``deploy.signals.phone_answered``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from prometheus_client import Counter, Histogram
from tortoise.transactions import in_transaction

from app.core.metrics import REGISTRY
from app.core.networks import address_in_phone_networks
from app.deploy.signals import phone_answered
from app.deploy.sql import as_datetime, dialect_sql
from app.presence import service
from app.presence import sql as psql
from app.presence.prober import OptionsProber
from app.presence.service import Outcome
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Probes claimed this many seconds before they are due (at most), then sent on time.
HORIZON = 1.0
# Rows one claim statement takes, at most.
CLAIM_BATCH = 500
# Results written per transaction, at most, and how long the writer gathers them.
WRITE_BATCH = 500
WRITE_LINGER = 0.2
# Results waiting to be written, at most (more are dropped: the next probe tells again).
RESULT_QUEUE = 20_000
# New phones are looked for this often (at most), a page of phones per statement.
DISCOVERY_PERIOD = 10.0

PROBES = Counter(
    "phonegraph_presence_probes_total",
    "Presence OPTIONS probes this process sent, by result.",
    ["result"],
    registry=REGISTRY,
)
LATENESS = Histogram(
    "phonegraph_presence_probe_lateness_seconds",
    "How long after its scheduled time each presence probe was sent.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)


class Monitor:
    """Claims, sends and records the probes of one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.interval = settings.presence_interval
        self.horizon = min(HORIZON, self.interval / 2)
        self.backlog_cap = max(1000, 4 * settings.presence_concurrency)
        self.prober = OptionsProber(settings.presence_concurrency)
        self.results: asyncio.Queue[Outcome] = asyncio.Queue(maxsize=RESULT_QUEUE)
        self._scheduled: dict[tuple[int, int], asyncio.TimerHandle | asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._dropped = False
        self._writing = False

    async def start(self) -> None:
        await self.prober.start()
        try:
            await self.respread()
        except Exception:
            log.exception("could not spread presence probes left behind")
        self._tasks = [
            asyncio.create_task(self._discover_loop(), name="presence-discovery"),
            asyncio.create_task(self._claim_loop(), name="presence-claims"),
            asyncio.create_task(self._write_loop(), name="presence-writer"),
        ]

    async def stop(self) -> None:
        for task in self._tasks[:2]:
            task.cancel()
        for handle in list(self._scheduled.values()):
            handle.cancel()
        self._scheduled.clear()
        for task in self._tasks[:2]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # What was answered already is still written, for a moment at most.
        writer = self._tasks[2] if len(self._tasks) > 2 else None
        if writer is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    while (self._writing or not self.results.empty()) and not writer.done():
                        await asyncio.sleep(0.05)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        self.prober.close()
        self._tasks = []

    # ------------------------------------------------------------ results

    def offer(self, outcome: Outcome) -> None:
        """Queue a result for the writer (dropped when the queue is full)."""
        try:
            self.results.put_nowait(outcome)
        except asyncio.QueueFull:
            if not self._dropped:
                log.warning("presence results are written too slowly; some were dropped")
            self._dropped = True

    async def _write_loop(self) -> None:
        while True:
            batch = [await self.results.get()]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WRITE_LINGER):
                    while len(batch) < WRITE_BATCH:
                        batch.append(await self.results.get())
            while len(batch) < WRITE_BATCH and not self.results.empty():
                batch.append(self.results.get_nowait())
            self._writing = True
            try:
                await service.record(batch, self.interval)
                self._dropped = False
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not store %d presence result(s)", len(batch))
            finally:
                self._writing = False

    # ------------------------------------------------------------ finding phones

    async def _discover_loop(self) -> None:
        period = min(self.interval, DISCOVERY_PERIOD)
        while True:
            started = time.monotonic()
            try:
                await self.discover()
                await self.respread()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not look for phones to watch")
            await asyncio.sleep(max(period - (time.monotonic() - started), 0.1))

    async def respread(self) -> int:
        """See :func:`app.presence.service.respread`."""
        return await service.respread(dialect_sql(), self.interval, self.horizon)

    async def discover(self) -> int:
        """Rows for every watched phone that has none yet, a page of phones at a time."""
        sql = dialect_sql()
        after, added = 0, 0
        while True:
            count, last = await service.add_missing(sql, self.interval, after=after)
            added += count
            if last is None:
                return added
            after = last

    # ------------------------------------------------------------ claiming and probing

    async def _claim_loop(self) -> None:
        while True:
            room = self.backlog_cap - len(self._scheduled)
            got = 0
            if room > 0:
                try:
                    got = await self._claim(min(room, CLAIM_BATCH))
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("could not claim presence probes")
            if got < min(room, CLAIM_BATCH) or room <= 0:
                await asyncio.sleep(self.horizon / 2)

    async def _claim(self, limit: int) -> int:
        """Claim the probes due within the horizon: one transaction that picks them (rows
        other transactions hold are skipped) and moves each one interval on, in phase
        (a phone whose probes fell behind keeps its place in the interval)."""
        async with in_transaction() as conn:
            sql = dialect_sql(conn)
            picked = await sql.rows(
                "SELECT pp.id, pp.phone_id, pp.next_probe_at AS due_at, p.status, "
                f"p.ip_address, p.sip_port, {sql.now} AS db_now "
                "FROM phone_presence pp JOIN phone p ON p.id = pp.phone_id "
                "WHERE pp.next_probe_at <= "
                f"{psql.plus_seconds(sql, sql.now, psql.number(sql, '$2'))} "
                f"ORDER BY pp.next_probe_at LIMIT $1 {sql.skip_locked('pp')}",
                [limit, self.horizon],
            )
            if not picked:
                return 0
            interval = psql.number(sql, "$2")
            step = psql.plus_seconds(sql, "next_probe_at", interval)
            behind = psql.whole(
                sql, f"{psql.seconds_between(sql, sql.now, 'next_probe_at')} / {interval}"
            )
            caught_up = psql.plus_seconds(sql, "next_probe_at", f"{interval} * ({behind} + 1)")
            claimed = await sql.rows(
                "UPDATE phone_presence SET next_probe_at = "
                f"CASE WHEN {step} > {sql.now} THEN {step} ELSE {caught_up} END, "
                f"probe_epoch = probe_epoch + 1 WHERE {sql.ids(1)} RETURNING id, probe_epoch",
                [sql.id_list([row["id"] for row in picked]), self.interval],
            )
            epochs = {row["id"]: row["probe_epoch"] for row in claimed}
            rows = [
                {**row, "probe_epoch": epochs[row["id"]]} for row in picked if row["id"] in epochs
            ]
            unwatched = [row["id"] for row in rows if not self._probed(row)]
            if unwatched:
                # Not ACTIVE, no address or outside the phone networks now: what was found
                # of it is forgotten (it starts afresh, null, if it is watched again), and
                # results of earlier claims still on their way are not stored.
                await sql.rows(
                    "UPDATE phone_presence SET online = NULL, misses = 0, "
                    f"result_epoch = probe_epoch WHERE {sql.ids(1)}",
                    [sql.id_list(unwatched)],
                )
        loop = asyncio.get_running_loop()
        now = loop.time()
        for row in rows:
            if not self._probed(row):
                continue  # its turn came and went
            host = row["ip_address"]
            # When it is due, on this process's clock (in the past for a late claim: it
            # goes out at once, and its lateness counts from when it was due).
            due = now + (as_datetime(row["due_at"]) - as_datetime(row["db_now"])).total_seconds()
            key = (row["phone_id"], row["probe_epoch"])
            self._scheduled[key] = loop.call_at(due, self._launch, key, host, row["sip_port"], due)
        return len(rows)

    def _probed(self, row: dict[str, Any]) -> bool:
        """Whether a claimed phone is probed: ACTIVE with an address, and (CONTRACT §12)
        inside the phone networks — nothing is sent outside them."""
        host = row["ip_address"]
        return (
            row["status"] == "ACTIVE"
            and bool(host)
            and address_in_phone_networks(host, self.settings.phone_networks)
        )

    def _launch(self, key: tuple[int, int], host: str, port: int, due: float) -> None:
        self._scheduled[key] = asyncio.get_running_loop().create_task(
            self._probe(key, host, port, due), name="presence-probe"
        )

    async def _probe(self, key: tuple[int, int], host: str, port: int, due: float) -> None:
        phone_id, epoch = key
        loop = asyncio.get_running_loop()
        try:
            round_trip = await self.prober.probe(
                host, port, on_send=lambda: LATENESS.observe(max(loop.time() - due, 0.0))
            )
            PROBES.labels("answered" if round_trip is not None else "unanswered").inc()
            self.offer(Outcome(phone_id, round_trip is not None, round_trip, epoch))
        finally:
            self._scheduled.pop(key, None)

    # ------------------------------------------------------------ deploy's probes

    async def deploy_probe(self, phone_id: int, status: int | None, round_trip: float) -> None:
        answered = status is not None and status >= 200
        self.offer(Outcome(phone_id, answered, round_trip if answered else None, None))


_monitor: Monitor | None = None


@phone_answered.connect
async def _deploy_answer(*, phone_id: int, status: int | None, round_trip: float, **_: Any) -> None:
    """A deploy job's OPTIONS counts as a probe (when presence is on in this process)."""
    if _monitor is not None:
        await _monitor.deploy_probe(phone_id, status, round_trip)


def running_monitor() -> Monitor | None:
    return _monitor


async def start_monitor() -> None:
    global _monitor
    await stop_monitor()
    settings = get_settings()
    if settings.presence_interval <= 0:
        return
    monitor = Monitor(settings)
    await monitor.start()
    _monitor = monitor


async def stop_monitor() -> None:
    global _monitor
    monitor, _monitor = _monitor, None
    if monitor is not None:
        await monitor.stop()

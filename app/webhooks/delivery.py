"""Posting the outbox's deliveries: one server process per delivery, each attempt under
a lease, retried with a doubling delay (CONTRACT §11).

Every ``poll`` each process claims due deliveries, in pages no larger than its free
in-flight room (:data:`MAX_IN_FLIGHT`): a claim is one UPDATE that raises the row's
``lease_epoch``, counts the attempt and sets ``lease_expires_at`` by the database's
clock (PostgreSQL picks rows with ``FOR UPDATE SKIP LOCKED``, so two processes never
claim one row; SQLite has one writer at a time). The attempt's result is written by an
UPDATE conditioned on that epoch and the row still PENDING: a process whose lease was
taken over writes nothing. The local check before posting uses the same monotonic
reckoning as deploy leases (:mod:`app.deploy.leases`): a claim sent at ``t`` holds at
least until ``t + lease``, so the process knows it may still start an attempt — which
lasts at most :data:`ATTEMPT_TIMEOUT` plus the name lookup — before ``t + lease *
SAFE_SHARE``.

A process that dies mid-attempt leaves a lease that expires: another process makes the
next attempt (the same delivery id; receivers should treat deliveries as at least once).
Deliveries survive restarts as rows; an attempt's 2xx makes them DELIVERED, the eighth
failure FAILED.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

import aiohttp
from tortoise.transactions import in_transaction

from app.core.crypto import decrypt
from app.core.ids import to_global_id
from app.deploy.leases import SAFE_SHARE, lease_clock
from app.deploy.sql import dialect_sql
from app.settings import get_settings
from app.webhooks import targets
from app.webhooks.models import Webhook

log = logging.getLogger(__name__)

# CONTRACT §11: a 2xx within this many seconds is delivered; 8 attempts in all.
ATTEMPT_TIMEOUT = 10.0
MAX_ATTEMPTS = 8
# How long a claim holds: an attempt (name lookup and POST) and a margin.
LEASE_SECONDS = 60.0
# Deliveries one process posts at once; a claim takes at most the room left.
MAX_IN_FLIGHT = 32
USER_AGENT = "PhoneGraph-Webhooks/1"
SECRET_UNREADABLE = (
    "the signing secret cannot be decrypted with the server's secret key (it changed "
    "since the secret was made): rotate the webhook's secret"
)
INTERNAL_ERROR = "internal error while making the attempt; see the server log"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``PhoneGraph-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>.<body>" keyed with the secret>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def retry_delay(attempts: int) -> float:
    """Seconds before the attempt after the ``attempts``-th failed one."""
    return get_settings().webhook_retry_seconds * 2 ** (attempts - 1)


@dataclass
class Claim:
    """A delivery this process holds under ``epoch`` (see the module doc)."""

    id: int
    webhook_id: int
    epoch: int
    attempts: int
    event: str
    payload: str
    sent_at: float

    def still_held(self, needed: float) -> bool:
        """Whether the lease surely lasts ``needed`` more seconds (local monotonic check)."""
        return lease_clock() + needed < self.sent_at + LEASE_SECONDS * SAFE_SHARE


async def any_due() -> bool:
    """Whether some delivery may be claimed now: a read, so an idle process writes nothing."""
    sql = dialect_sql()
    rows = await sql.rows(
        "SELECT id FROM webhook_delivery "
        f"WHERE status = 'PENDING' AND next_attempt_at <= {sql.now} LIMIT 1",
        [],
    )
    return bool(rows)


async def claim(limit: int) -> list[Claim]:
    """Claim up to ``limit`` due deliveries (oldest due first)."""
    if limit < 1 or not await any_due():
        return []
    sent_at = lease_clock()
    async with in_transaction() as conn:
        sql = dialect_sql(conn)
        rows = await sql.rows(
            "UPDATE webhook_delivery SET lease_epoch = lease_epoch + 1, "
            f"attempts = attempts + 1, lease_expires_at = {sql.later(2)} "
            "WHERE id IN ("
            "  SELECT id FROM webhook_delivery"
            f"  WHERE status = 'PENDING' AND next_attempt_at <= {sql.now}"
            f"    AND (lease_expires_at IS NULL OR lease_expires_at < {sql.now})"
            "    AND attempts < $3"
            f"  ORDER BY next_attempt_at, id LIMIT $1 {sql.skip_locked()}"
            ") AND status = 'PENDING' "
            "RETURNING id, webhook_id, lease_epoch, attempts, event, payload",
            [limit, LEASE_SECONDS, MAX_ATTEMPTS],
        )
    return sorted(
        (
            Claim(
                id=row["id"],
                webhook_id=row["webhook_id"],
                epoch=row["lease_epoch"],
                attempts=row["attempts"],
                event=row["event"],
                payload=row["payload"],
                sent_at=sent_at,
            )
            for row in rows
        ),
        key=lambda c: c.id,
    )


_FENCE = "WHERE id = $1 AND lease_epoch = $2 AND status = 'PENDING'"


async def record(
    claim: Claim, status_code: int | None, error: str | None, *, delivered: bool
) -> bool:
    """Write an attempt's result under its claim; False when the claim was not held."""
    sql = dialect_sql()
    if delivered:
        rows = await sql.rows(
            "UPDATE webhook_delivery SET status = 'DELIVERED', last_status_code = $3, "
            f"last_error = NULL, delivered_at = {sql.now}, lease_expires_at = NULL "
            f"{_FENCE} RETURNING id",
            [claim.id, claim.epoch, status_code],
        )
    elif claim.attempts >= MAX_ATTEMPTS:
        rows = await sql.rows(
            "UPDATE webhook_delivery SET status = 'FAILED', last_status_code = $3, "
            f"last_error = $4, lease_expires_at = NULL {_FENCE} RETURNING id",
            [claim.id, claim.epoch, status_code, error],
        )
    else:
        rows = await sql.rows(
            "UPDATE webhook_delivery SET last_status_code = $3, last_error = $4, "
            f"next_attempt_at = {sql.later(5)}, lease_expires_at = NULL {_FENCE} RETURNING id",
            [claim.id, claim.epoch, status_code, error, retry_delay(claim.attempts)],
        )
    return bool(rows)


async def give_up(claim: Claim, error: str) -> None:
    """End a delivery FAILED at once, under its claim (its webhook was deactivated)."""
    sql = dialect_sql()
    await sql.rows(
        f"UPDATE webhook_delivery SET status = 'FAILED', last_error = $3, "
        f"lease_expires_at = NULL {_FENCE}",
        [claim.id, claim.epoch, error],
    )


async def fail_exhausted() -> None:
    """Deliveries whose last attempt's process died (the lease expired): FAILED."""
    sql = dialect_sql()
    await sql.rows(
        "UPDATE webhook_delivery SET status = 'FAILED', last_error = $2 "
        f"WHERE status = 'PENDING' AND attempts >= $1 AND lease_expires_at < {sql.now}",
        [MAX_ATTEMPTS, "the server process making the last attempt stopped"],
    )


async def post(
    session: aiohttp.ClientSession, url: str, secret: str, claim: Claim
) -> tuple[int | None, str | None]:
    """One attempt: ``(status code, error)``; a 2xx has no error."""
    body = claim.payload.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "PhoneGraph-Event": claim.event,
        "PhoneGraph-Delivery": to_global_id("WebhookDelivery", claim.id),
        "PhoneGraph-Signature": signature(secret, int(time.time()), body),
    }
    try:
        targets.check_literal_at_delivery(url)
        async with session.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,  # a redirect could lead anywhere: not followed
            timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT),
        ) as response:
            status = response.status
    except targets.TargetRefused as exc:
        return None, str(exc)
    except TimeoutError:
        return None, f"no answer within {ATTEMPT_TIMEOUT:g} seconds"
    except (aiohttp.ClientError, OSError) as exc:
        return None, targets.describe(exc)
    if 200 <= status < 300:
        return status, None
    return status, f"answered HTTP {status}"


class Deliverer:
    """The background task of one server process: claims due deliveries and posts them."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._next_exhausted_check = 0.0

    @property
    def poll(self) -> float:
        return min(1.0, max(0.05, get_settings().webhook_retry_seconds / 2))

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=targets.CheckedResolver(),
            use_dns_cache=False,  # every connection resolves (and checks) again
            force_close=True,
            limit=MAX_IN_FLIGHT,
        )
        self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        self._task = asyncio.create_task(self._loop(), name="webhooks-deliverer")

    async def _loop(self) -> None:
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not claim webhook deliveries")
            await asyncio.sleep(self.poll)

    async def round(self) -> int:
        """Claim what there is room for and start posting it; how many were claimed."""
        now = lease_clock()
        if now >= self._next_exhausted_check:
            self._next_exhausted_check = now + LEASE_SECONDS / 2
            await fail_exhausted()
        claims = await claim(MAX_IN_FLIGHT - len(self._in_flight))
        if not claims:
            return 0
        hooks = {
            w.id: w for w in await Webhook.filter(id__in={c.webhook_id for c in claims})
        }
        for c in claims:
            task = asyncio.create_task(
                self._attempt(c, hooks.get(c.webhook_id)), name=f"webhooks-delivery-{c.id}"
            )
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(claims)

    async def _attempt(self, claim: Claim, webhook: Webhook | None) -> None:
        recorded = False
        try:
            if webhook is None:
                return  # deleted meanwhile: its deliveries went with it
            if not webhook.active:
                await give_up(claim, "the webhook was deactivated")
                return
            if not claim.still_held(ATTEMPT_TIMEOUT + targets.RESOLVE_TIMEOUT):
                return  # the lease expires first: another process makes the attempt
            assert self._session is not None
            try:
                secret = decrypt(webhook.secret_enc)
            except RuntimeError:
                # The server's secret key changed: nothing is sent unsigned.
                code, error = None, SECRET_UNREADABLE
            else:
                code, error = await post(self._session, webhook.url, secret, claim)
            recorded = True
            if not await record(claim, code, error, delivered=error is None):
                log.warning("webhook delivery %s: the lease was taken over", claim.id)
            elif error is not None:
                log.info(
                    "webhook %s delivery %s attempt %d failed: %s",
                    claim.webhook_id, claim.id, claim.attempts, error,
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery %s: the attempt failed unexpectedly", claim.id)
            if not recorded:
                # Counted as a failed attempt, retried on its schedule (not only once the
                # lease has run out), with a reason a tenant may read.
                with contextlib.suppress(Exception):
                    await record(claim, None, INTERNAL_ERROR, delivered=False)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._in_flight:
            # Attempts end within their timeout; what is left is cancelled (its lease
            # expires and another process makes the attempt again).
            _, pending = await asyncio.wait(self._in_flight, timeout=ATTEMPT_TIMEOUT + 2)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None


_deliverer: Deliverer | None = None


async def start_deliverer() -> None:
    global _deliverer
    await stop_deliverer()
    deliverer = Deliverer()
    await deliverer.start()
    _deliverer = deliverer


async def stop_deliverer() -> None:
    global _deliverer
    if _deliverer is not None:
        await _deliverer.stop()
    _deliverer = None

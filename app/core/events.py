"""The one event bus: in-process by default, Redis pub/sub when configured.

Deploy jobs publish their events here; subscriptions listen. With Redis, a client on
one server process sees jobs run by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "phonegraph:events"

# Delivered to every subscriber when messages may have been lost (the Redis connection
# dropped, the subscriber fell too far behind): it should re-read what it follows from
# the database. Every message the bus carries is stored before it is published.
RESYNC: dict[str, Any] = {"kind": "resync"}

# Redis commands (publish, and reading the subscription) are retried this many times on
# a lost connection, backing off exponentially with jitter (redis-py's own retry), before
# the listener starts over with a fresh subscription.
REDIS_RETRIES = 8
REDIS_BACKOFF_BASE = 0.1
REDIS_BACKOFF_CAP = 5.0


def is_resync(message: dict[str, Any]) -> bool:
    return message.get("kind") == RESYNC["kind"]


class Mailbox:
    """One subscriber's queue. A stalled subscriber must not stall the publisher: past
    ``maxsize`` messages are dropped, and the subscriber gets :data:`RESYNC` next."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=maxsize)
        self._overflowed = False

    def offer(self, message: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            if not self._overflowed:
                log.warning("a slow subscriber missed events; it will re-read them")
            self._overflowed = True

    async def get(self) -> dict[str, Any]:
        if self._overflowed:
            self._overflowed = False
            return RESYNC
        return await self._queue.get()


class EventBus:
    """Fan-out of JSON-able dicts to every local subscriber."""

    def __init__(self) -> None:
        self._subscribers: set[Mailbox] = set()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, event: dict[str, Any]) -> None:
        self._deliver(event)

    async def publish_many(self, events: list[dict[str, Any]]) -> None:
        """Publish several messages, in order (one round trip with Redis)."""
        for event in events:
            self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        for mailbox in list(self._subscribers):
            mailbox.offer(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Mailbox]:
        """A mailbox receiving every event published from now on (and :data:`RESYNC`
        whenever some may have been lost)."""
        mailbox = Mailbox()
        self._subscribers.add(mailbox)
        try:
            yield mailbox
        finally:
            self._subscribers.discard(mailbox)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


class RedisEventBus(EventBus):
    """Publishes through Redis; one listener task, with one subscription at a time,
    delivers every message locally.

    A lost connection is retried by redis-py (exponential backoff with jitter), which
    subscribes again; messages published meanwhile never reach this process, so every
    local subscriber gets :data:`RESYNC` once the subscription is back. When a publish
    fails for good, the message is delivered locally and a RESYNC is published for the
    other processes as soon as Redis answers again.
    """

    def __init__(self, url: str, channel: str = DEFAULT_CHANNEL) -> None:
        super().__init__()
        self._url = url
        self._channel = channel
        self._redis: Any = None
        self._backoff: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._owe_resync = False

    async def start(self) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialWithJitterBackoff

        self._backoff = ExponentialWithJitterBackoff(cap=REDIS_BACKOFF_CAP, base=REDIS_BACKOFF_BASE)
        self._redis = redis.from_url(
            self._url,
            retry=Retry(self._backoff, REDIS_RETRIES),
            socket_keepalive=True,
            # Names this process's connections in CLIENT LIST.
            client_name=f"phonegraph:{socket.gethostname()}:{os.getpid()}",
        )
        self._task = asyncio.create_task(self._listen(), name="redis-event-bus")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, event: dict[str, Any]) -> None:
        await self.publish_many([event])

    async def publish_many(self, events: list[dict[str, Any]]) -> None:
        owed = self._owe_resync
        messages = [RESYNC, *events] if owed else events
        if not messages:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for message in messages:
                    pipe.publish(self._channel, json.dumps(message))
                await pipe.execute()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("could not publish %d event(s) through Redis", len(events), exc_info=True)
            self._owe_resync = True
            for event in events:  # this process's subscribers still get them
                self._deliver(event)
            return
        if owed:
            self._owe_resync = False

    async def _listen(self) -> None:
        failures = 0
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        # The first confirmation, or one after redis-py reconnected: in
                        # between, messages may have gone by unheard.
                        failures = 0
                        if self._ready.is_set():
                            log.warning("event bus subscribed to Redis again")
                            self._deliver(RESYNC)
                        self._ready.set()
                        if self._owe_resync:
                            await self.publish_many([])  # the RESYNC owed to others
                    elif kind == "message":
                        try:
                            self._deliver(json.loads(message["data"]))
                        except (ValueError, TypeError):
                            log.warning("ignoring a malformed event on %s", self._channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # retries exhausted: start over with a new subscription
                log.warning("event bus lost Redis (%s); subscribing again", exc)
            finally:
                # One subscription at a time: the old one's connection is closed first.
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            failures += 1
            await asyncio.sleep(self._backoff.compute(failures))


_bus: EventBus | None = None


def get_bus() -> EventBus:
    global _bus
    if _bus is None:
        _bus = EventBus()
    return _bus


async def start_bus(redis_url: str | None, channel: str = DEFAULT_CHANNEL) -> EventBus:
    """Install and start the bus the settings ask for."""
    global _bus
    _bus = RedisEventBus(redis_url, channel) if redis_url else EventBus()
    await _bus.start()
    return _bus


async def stop_bus() -> None:
    global _bus
    if _bus is not None:
        await _bus.stop()
    _bus = None

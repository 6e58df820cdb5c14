"""The live bus: every committed change, published once, fanned out to local subscribers.

    write path ──(sync listener, after commit)──► outbound deque ──publisher task──► broadcaster channel
    broadcaster channel ──ONE subscription per process──► fan-out ──► Subscriber queues (bounded, coalescing)

The write path only appends to a bounded deque: publishing, the broker and the subscribers can never slow it.
Each process holds one broadcaster subscription per channel and fans events out in-process, so an event
crosses Redis once per process however many WebSocket clients watch it. A process's own events take the same
round trip as everyone else's: all processes see one order per channel, and local delivery needs no second path.

Channels are `<prefix>.points` and `<prefix>.devices` (prefix `t3000gql`); with `memory://` the bus works
inside one process, with `redis://` (or `postgres://`) across several.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from broadcaster import Broadcast

from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import StoredSample
from t3000gql.errors import LiveBusError
from t3000gql.live.events import (
    DeviceStatus,
    Message,
    decode,
    encode_changes,
    encode_probe,
    encode_statuses,
)
from t3000gql.live.subscriber import Counters, Subscriber, frozen_or_none

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "t3000gql"
DEFAULT_QUEUE_SIZE = 1000
"""Events a subscriber holds in order before it starts coalescing by point."""
MAX_PENDING = 100_000
"""Changes waiting to be published; beyond this (a broker that stopped answering) the oldest are dropped."""
MAX_BATCH = 1000
"""Most changes in one message."""
READY_TIMEOUT_SECONDS = 5.0
PROBE_INTERVAL_SECONDS = 0.05

E = TypeVar("E", StoredSample, DeviceStatus)


@dataclass(frozen=True, slots=True)
class LiveMetrics:
    backend: str
    subscribers: int
    lagging: int
    """Subscribers whose queue is full (coalescing now)."""
    published: int
    """Changes and statuses this process published."""
    messages: int
    """Messages this process published (a message carries a batch)."""
    received: int
    """Changes and statuses received from the channel (from every process)."""
    delivered: int
    """Events taken by local subscribers."""
    coalesced: int
    """Events a full subscriber queue replaced by a newer one of the same point or device: dropped for it."""
    pending: int
    """Changes waiting to be published."""
    outbound_dropped: int
    """Changes never published because the outbound backlog was full."""
    publish_errors: int
    """Changes lost because the broker refused a publish."""
    bad_messages: int


def _point_key(change: StoredSample) -> Hashable:
    return change.point


def _point_stamp(change: StoredSample) -> int:
    return change.ts_ms


def _device_key(status: DeviceStatus) -> Hashable:
    return status.device_id


def _device_stamp(status: DeviceStatus) -> int:
    return status.at_ms


class _Registry(Generic[E]):
    """Subscribers of one kind, indexed by device so an event is offered only to those that may want it."""

    def __init__(self) -> None:
        self.everything: set[Subscriber[E]] = set()
        self.by_device: dict[int, set[Subscriber[E]]] = {}
        self._devices: dict[Subscriber[E], frozenset[int]] = {}

    def add(self, subscriber: Subscriber[E], devices: Iterable[int] | None) -> None:
        if devices is None:
            self.everything.add(subscriber)
            return
        self._devices[subscriber] = frozenset(devices)
        for device_id in self._devices[subscriber]:
            self.by_device.setdefault(device_id, set()).add(subscriber)

    def remove(self, subscriber: Subscriber[E]) -> None:
        self.everything.discard(subscriber)
        for device_id in self._devices.pop(subscriber, ()):
            group = self.by_device.get(device_id)
            if group is not None:
                group.discard(subscriber)
                if not group:
                    del self.by_device[device_id]

    def all(self) -> list[Subscriber[E]]:
        return list(self.everything) + list(self._devices)


class LiveBus:
    """Start it with `await bus.start()` (it confirms its subscription before returning), stop with `stop()`.

    Publish with `publish_changes(samples)` (the write path's listener does this) and
    `publish_device_status(device_id, online, at_ms)` (the collector); both return at once.
    Watch with `watch_points(...)` / `watch_devices(...)`, which return a `Subscriber`.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        max_pending: int = MAX_PENDING,
        on_remote_changes: Callable[[list[StoredSample]], None] | None = None,
    ) -> None:
        """`on_remote_changes` is called with the changes another process published (to keep a local cache in
        step); it must not block."""
        self.url = url
        self.origin = uuid.uuid4().hex
        self.points_channel = f"{prefix}.points"
        self.devices_channel = f"{prefix}.devices"
        self._queue_size = queue_size
        self._on_remote_changes = on_remote_changes
        self._broadcast = Broadcast(url)
        self._pending_changes: deque[StoredSample] = deque(maxlen=max_pending)
        self._pending_statuses: deque[DeviceStatus] = deque(maxlen=max_pending)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._point_subs: _Registry[StoredSample] = _Registry()
        self._device_subs: _Registry[DeviceStatus] = _Registry()
        self._counters = Counters()
        self._probe_seen: dict[str, int] = {}
        self._probe_event = asyncio.Event()
        self._published = 0
        self._messages = 0
        self._received = 0
        self._outbound_dropped = 0
        self._publish_errors = 0
        self._bad_messages = 0

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connects, subscribes to both channels and waits until a probe of its own comes back on each, so a
        change published after `start` returns reaches this process's subscribers."""
        try:
            await self._broadcast.connect()
        except Exception as exc:
            raise LiveBusError(f"cannot connect the live bus to {_safe_url(self.url)}: {exc}") from exc
        self._running = True
        try:
            for channel, handle in (
                (self.points_channel, self._on_points),
                (self.devices_channel, self._on_devices),
            ):
                self._tasks.append(asyncio.create_task(self._listen(channel, handle), name=f"live {channel}"))
            await self._confirm_subscriptions()
        except BaseException:
            await self.stop()
            raise
        self._tasks.append(asyncio.create_task(self._publish_loop(), name="live publisher"))

    async def _confirm_subscriptions(self) -> None:
        channels = (self.points_channel, self.devices_channel)
        number = 0
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                while not all(self._probe_seen.get(channel, 0) > 0 for channel in channels):
                    for task in self._tasks:
                        if task.done():  # a subscription that failed: its error says why
                            task.result()
                    number += 1
                    for channel in channels:
                        await self._broadcast.publish(channel, encode_probe(self.origin, number))
                    self._probe_event.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(PROBE_INTERVAL_SECONDS):
                            await self._probe_event.wait()
        except TimeoutError:
            raise LiveBusError(
                f"the live bus at {_safe_url(self.url)} did not deliver a message within {READY_TIMEOUT_SECONDS} s"
            ) from None
        except LiveBusError:
            raise
        except Exception as exc:
            raise LiveBusError(f"the live bus at {_safe_url(self.url)} failed: {exc}") from exc

    async def stop(self) -> None:
        """Publishes what is still pending (briefly), unsubscribes, disconnects and ends every subscriber."""
        if self._running and self._tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._flush()
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self._broadcast.disconnect()
        for subscriber in self._point_subs.all():
            subscriber.close()
        for status_subscriber in self._device_subs.all():
            status_subscriber.close()

    async def __aenter__(self) -> LiveBus:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- publishing -----------------------------------------------------------------------------------------------

    def publish_changes(self, changes: Sequence[StoredSample]) -> None:
        """Queues committed changes for publishing; returns at once. Call it only after the commit."""
        if not changes or not self._running:
            return
        pending = self._pending_changes
        overflow = len(pending) + len(changes) - (pending.maxlen or 0)
        if overflow > 0:
            self._outbound_dropped += min(overflow, len(pending) + len(changes))
        pending.extend(changes)
        self._wake.set()

    def publish_device_status(self, device_id: int, online: bool, at_ms: int) -> None:
        """Queues a device's reachability change (when `DeviceRepository.set_status` says it changed)."""
        if not self._running:
            return
        pending = self._pending_statuses
        if pending.maxlen is not None and len(pending) >= pending.maxlen:
            self._outbound_dropped += 1
        pending.append(DeviceStatus(device_id, online, at_ms))
        self._wake.set()

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        while self._pending_statuses or self._pending_changes:
            if self._pending_statuses:
                statuses = list(self._pending_statuses)
                self._pending_statuses.clear()
                await self._send(self.devices_channel, encode_statuses(self.origin, statuses), len(statuses))
            pending = self._pending_changes
            if pending:
                batch = [pending.popleft() for _ in range(min(MAX_BATCH, len(pending)))]
                await self._send(self.points_channel, encode_changes(self.origin, batch), len(batch))

    async def _send(self, channel: str, message: bytes, count: int) -> None:
        try:
            await self._broadcast.publish(channel, message)
        except Exception:
            self._publish_errors += count
            log.warning("the live bus could not publish %s events on %s", count, channel, exc_info=True)
        else:
            self._published += count
            self._messages += 1

    # -- receiving and fan-out ------------------------------------------------------------------------------------

    async def _listen(self, channel: str, handle: Callable[[Message], None]) -> None:
        async with self._broadcast.subscribe(channel) as subscription:
            while True:
                event = await subscription.get()
                try:
                    message = decode(event.message)
                except (ValueError, KeyError, TypeError):
                    self._bad_messages += 1
                    log.warning("ignored a malformed live bus message on %s", channel)
                    continue
                if message.probe is not None:
                    if message.origin == self.origin:
                        self._probe_seen[channel] = message.probe
                        self._probe_event.set()
                    continue
                try:
                    handle(message)
                except Exception:
                    log.exception("fan-out of a live bus message failed")

    def _on_points(self, message: Message) -> None:
        changes = message.changes
        self._received += len(changes)
        if message.origin != self.origin and self._on_remote_changes is not None and changes:
            try:
                self._on_remote_changes(changes)
            except Exception:
                log.exception("on_remote_changes failed")
        everything = self._point_subs.everything
        by_device = self._point_subs.by_device
        for change in changes:
            for subscriber in everything:
                subscriber.offer(change)
            targets = by_device.get(change.point.device_id)
            if targets:
                for subscriber in targets:
                    points = subscriber.points
                    if points is None or change.point in points:
                        subscriber.offer(change)

    def _on_devices(self, message: Message) -> None:
        self._received += len(message.statuses)
        everything = self._device_subs.everything
        by_device = self._device_subs.by_device
        for status in message.statuses:
            for subscriber in everything:
                subscriber.offer(status)
            for subscriber in by_device.get(status.device_id, ()):
                subscriber.offer(status)

    # -- subscribing ----------------------------------------------------------------------------------------------

    def watch_points(
        self,
        *,
        device_ids: Iterable[int] | None = None,
        points: Iterable[PointRef] | None = None,
        queue_size: int | None = None,
    ) -> Subscriber[StoredSample]:
        """Changes of the given points and/or devices (both given: points of those devices; neither: all).

        Registration is immediate: every change received after this call returns is offered to it.
        """
        device_set = frozen_or_none(device_ids)
        point_set = frozen_or_none(points)
        if point_set is not None and device_set is not None:
            point_set = frozenset(ref for ref in point_set if ref.device_id in device_set)
        subscriber: Subscriber[StoredSample] = Subscriber(
            capacity=queue_size or self._queue_size,
            key=_point_key,
            stamp=_point_stamp,
            counters=self._counters,
            device_ids=device_set if point_set is None else None,
            points=point_set,
            on_close=self._point_subs.remove,
        )
        if point_set is not None:
            self._point_subs.add(subscriber, {ref.device_id for ref in point_set})
        else:
            self._point_subs.add(subscriber, device_set)
        if not self._running:
            subscriber.close()
        return subscriber

    def watch_devices(
        self, *, device_ids: Iterable[int] | None = None, queue_size: int | None = None
    ) -> Subscriber[DeviceStatus]:
        """Online/offline changes of the given devices (None: every device)."""
        device_set = frozen_or_none(device_ids)
        subscriber: Subscriber[DeviceStatus] = Subscriber(
            capacity=queue_size or self._queue_size,
            key=_device_key,
            stamp=_device_stamp,
            counters=self._counters,
            device_ids=device_set,
            on_close=self._device_subs.remove,
        )
        self._device_subs.add(subscriber, device_set)
        if not self._running:
            subscriber.close()
        return subscriber

    # -- health ---------------------------------------------------------------------------------------------------

    def metrics(self) -> LiveMetrics:
        subscribers = self._point_subs.all()
        device_subscribers = self._device_subs.all()
        return LiveMetrics(
            backend=urlsplit(self.url).scheme,
            subscribers=len(subscribers) + len(device_subscribers),
            lagging=sum(1 for s in subscribers if s.overflowing)
            + sum(1 for d in device_subscribers if d.overflowing),
            published=self._published,
            messages=self._messages,
            received=self._received,
            delivered=self._counters.delivered,
            coalesced=self._counters.coalesced,
            pending=len(self._pending_changes) + len(self._pending_statuses),
            outbound_dropped=self._outbound_dropped,
            publish_errors=self._publish_errors,
            bad_messages=self._bad_messages,
        )

    def metrics_dict(self) -> dict[str, Any]:
        m = self.metrics()
        return {
            "backend": m.backend,
            "subscribers": m.subscribers,
            "lagging": m.lagging,
            "published": m.published,
            "messages": m.messages,
            "received": m.received,
            "delivered": m.delivered,
            "coalesced": m.coalesced,
            "pending": m.pending,
            "outboundDropped": m.outbound_dropped,
            "publishErrors": m.publish_errors,
            "badMessages": m.bad_messages,
        }


def _safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url

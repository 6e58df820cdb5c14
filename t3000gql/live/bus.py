"""The live bus: every committed change, published once, fanned out to local subscribers.

    write path ──(sync listener, after commit)──► outbound deque ──publisher task──► broadcaster channel
    broadcaster channel ──ONE subscription per process──► fan-out ──► Subscriber queues (bounded, coalescing)

The write path only appends to a bounded deque: publishing, the broker and the subscribers can never slow it.
Each process holds one broadcaster subscription per channel and fans events out in-process, so an event
crosses Redis once per process however many WebSocket clients watch it. A process's own events take the same
round trip as everyone else's: all processes see one order per channel, and local delivery needs no second path.

Channels are `<prefix>.points` and `<prefix>.devices` (BROADCAST_CHANNEL_PREFIX); with `memory://` the bus works
inside one process, with `redis://` (or `postgres://`) across several.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from t3000gql.config import DEFAULTS
from t3000gql.domain.faults import Fault, PointFault
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import StoredSample
from t3000gql.errors import LiveBusError
from t3000gql.lifecycle import Lifecycle, LifecycleHook
from t3000gql.live.connection import HEARTBEAT_SECONDS, PROBE_TIMEOUT_SECONDS, BusConnection
from t3000gql.live.events import DeviceStatus, Message, encode_changes, encode_statuses
from t3000gql.live.registry import Registry, device_key, device_stamp, point_key, point_stamp
from t3000gql.live.subscriber import Counters, Subscriber, frozen_or_none

log = logging.getLogger(__name__)

MAX_PENDING = 100_000
"""Changes waiting to be published; beyond this (a broker that stopped answering) the oldest are dropped."""
MAX_BATCH = 1000
"""Most changes in one message."""
MAX_PUBLISH_ATTEMPTS = 3
"""A batch the broker refused this often (with the connection proven in between) is dropped and counted."""
STOP_FLUSH_SECONDS = 1.0


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
    connected: bool
    """Whether the broker connection is up (it is re-established by itself when lost)."""
    reconnects: int


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
        prefix: str = DEFAULTS.broadcast_channel_prefix,
        queue_size: int = DEFAULTS.live_queue_size,
        max_pending: int = MAX_PENDING,
        on_remote_changes: Callable[[list[StoredSample]], None] | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        probe_timeout_seconds: float = PROBE_TIMEOUT_SECONDS,
    ) -> None:
        """`queue_size`: events a subscriber holds in order before it starts coalescing by point.
        `on_remote_changes` is called with the changes another process published (to keep a local cache in
        step); it must not block."""
        self.url = url
        self.origin = uuid.uuid4().hex
        self.points_channel = f"{prefix}.points"
        self.devices_channel = f"{prefix}.devices"
        self._queue_size = queue_size
        self._on_remote_changes = on_remote_changes
        self._connection = BusConnection(
            url,
            {self.points_channel: self._on_points, self.devices_channel: self._on_devices},
            origin=self.origin,
            heartbeat_seconds=heartbeat_seconds,
            probe_timeout_seconds=probe_timeout_seconds,
            on_ready=self._wake_publisher,
        )
        self._pending_changes: deque[StoredSample] = deque(maxlen=max_pending)
        self._pending_statuses: deque[DeviceStatus] = deque(maxlen=max_pending)
        # A batch being published stays here until the broker took it, so a failed publish is retried first.
        self._inflight: tuple[str, bytes, int] | None = None
        self._inflight_attempts = 0
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()  # the publisher and stop() never publish the same batch twice
        self._running = False
        self._started = Lifecycle()
        self._point_subs: Registry[StoredSample] = Registry()
        self._device_subs: Registry[DeviceStatus] = Registry()
        self._counters = Counters()
        self._published = 0
        self._messages = 0
        self._received = 0
        self._outbound_dropped = 0
        self._publish_errors = 0

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self, hook: LifecycleHook | None = None) -> None:
        """Connects, subscribes to both channels and waits until a probe of its own comes back on each, so a
        change published after `start` returns reaches this process's subscribers. Raises LiveBusError."""
        async with Lifecycle("live bus", hook) as life:
            await life.start("connection", self._connection.open, lambda _: self._disconnect())
            self._running = True
            life.task("publisher", self._publish_loop)
            life.stop_with("flush", self._flush_pending)
            self._started = life.pop_all()

    async def stop(self) -> None:
        """Publishes what is still pending (for at most a second), disconnects and ends every subscriber."""
        await self._started.aclose()
        for subscriber in self._point_subs.all():
            subscriber.close()
        for status_subscriber in self._device_subs.all():
            status_subscriber.close()

    async def _flush_pending(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_FLUSH_SECONDS), self._flushing:
                await self._flush()

    async def _disconnect(self) -> None:
        self._running = False
        await self._connection.close()

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

    def publish_device_status(
        self,
        device_id: int,
        online: bool,
        at_ms: int,
        *,
        fault: Fault | None = None,
        failing: tuple[PointFault, ...] = (),
    ) -> None:
        """Queues a device's status: the collector's `DeviceHealth` listener (wired by `Services`), called when
        `online` changed or the set of the device's failing points did."""
        if not self._running:
            return
        pending = self._pending_statuses
        if pending.maxlen is not None and len(pending) >= pending.maxlen:
            self._outbound_dropped += 1
        pending.append(DeviceStatus(device_id, online, at_ms, fault, failing))
        self._wake.set()

    def _wake_publisher(self) -> None:
        self._wake.set()

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            async with self._flushing:
                await self._flush()

    async def _flush(self) -> None:
        """Publishes everything pending; stops early (keeping the batch in flight) when the broker fails, to
        be woken again once the connection is proven or restored."""
        while True:
            if self._inflight is None:
                self._inflight = self._next_batch()
                self._inflight_attempts = 0
                if self._inflight is None:
                    return
            if not self._connection.connected:
                return  # woken again once reconnected
            channel, message, count = self._inflight
            try:
                await self._connection.publish(channel, message)
            except LiveBusError:
                self._inflight_attempts += 1
                if self._inflight_attempts >= MAX_PUBLISH_ATTEMPTS:
                    self._publish_errors += count
                    self._inflight = None
                    log.warning(
                        "the live bus dropped %s events after %s failed publishes", count, MAX_PUBLISH_ATTEMPTS
                    )
                return
            self._inflight = None
            self._published += count
            self._messages += 1

    def _next_batch(self) -> tuple[str, bytes, int] | None:
        if self._pending_statuses:
            statuses = list(self._pending_statuses)
            self._pending_statuses.clear()
            return self.devices_channel, encode_statuses(self.origin, statuses), len(statuses)
        pending = self._pending_changes
        if pending:
            batch = [pending.popleft() for _ in range(min(MAX_BATCH, len(pending)))]
            return self.points_channel, encode_changes(self.origin, batch), len(batch)
        return None

    # -- receiving and fan-out ------------------------------------------------------------------------------------

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
            key=point_key,
            stamp=point_stamp,
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
            key=device_key,
            stamp=device_stamp,
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
            pending=len(self._pending_changes)
            + len(self._pending_statuses)
            + (self._inflight[2] if self._inflight else 0),
            outbound_dropped=self._outbound_dropped,
            publish_errors=self._publish_errors,
            bad_messages=self._connection.bad_messages,
            connected=self._connection.connected,
            reconnects=self._connection.reconnects,
        )

    def metrics_dict(self) -> dict[str, Any]:
        """The metrics as /health shows them (camelCase keys)."""
        metrics = self.metrics()
        return {_camel(f.name): getattr(metrics, f.name) for f in fields(metrics)}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)

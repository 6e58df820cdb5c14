"""The live bus in one process (memory://): fan-out, filters, ordering, bounded queues, metrics, lifecycle."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator

import pytest

from t3000gql.domain.points import PointType
from t3000gql.live import DeviceStatus, LiveBus
from tests.live.helpers import change, ref, take


@pytest.fixture
async def bus() -> AsyncIterator[LiveBus]:
    async with LiveBus("memory://") as started:
        yield started


async def test_a_published_change_reaches_a_subscriber_once(bus: LiveBus) -> None:
    with bus.watch_points() as sub:
        bus.publish_changes([change(ref(1, 1), 100, 2.5)])
        bus.publish_changes([change(ref(1, 1), 200, 3.5)])  # a marker: nothing may come between the two
        first, second = await take(sub, 2)
    assert (first.ts_ms, first.value, second.ts_ms) == (100, 2.5, 200)
    assert bus.metrics().received == 2


async def test_filters_by_device_by_point_and_by_both(bus: LiveBus) -> None:
    everything = bus.watch_points()
    device_2 = bus.watch_points(device_ids=[2])
    two_points = bus.watch_points(points=[ref(1, 1), ref(3, 7, PointType.VARIABLE)])
    point_of_device_1 = bus.watch_points(device_ids=[1], points=[ref(1, 1), ref(2, 1)])
    nothing = bus.watch_points(device_ids=[])
    published = [
        change(ref(1, 1), 1),
        change(ref(1, 2), 2),
        change(ref(2, 1), 3),
        change(ref(3, 7, PointType.VARIABLE), 4),
        change(ref(3, 7, PointType.INPUT), 5),
    ]
    bus.publish_changes(published)
    assert await take(everything, 5) == published
    assert [c.ts_ms for c in await take(device_2, 1)] == [3]
    assert [c.ts_ms for c in await take(two_points, 2)] == [1, 4]
    assert [c.ts_ms for c in await take(point_of_device_1, 1)] == [1]
    # Everything went through in one message, so what each one has now is all it will ever get of it.
    for sub in (device_2, two_points, point_of_device_1, nothing):
        assert sub.get_nowait() is None


async def test_device_status_changes_are_filtered_by_device(bus: LiveBus) -> None:
    every_device = bus.watch_devices()
    device_7 = bus.watch_devices(device_ids=[7])
    bus.publish_device_status(5, False, 1000)
    bus.publish_device_status(7, True, 2000)
    assert await take(every_device, 2) == [DeviceStatus(5, False, 1000), DeviceStatus(7, True, 2000)]
    assert await take(device_7, 1) == [DeviceStatus(7, True, 2000)]
    assert device_7.get_nowait() is None


async def test_changes_of_a_point_arrive_in_the_order_they_were_published(bus: LiveBus) -> None:
    points = [ref(1, n) for n in range(1, 6)]
    with bus.watch_points() as sub:
        for ts in range(200):
            bus.publish_changes([change(points[(ts + k) % 5], ts * 10 + k) for k in range(5)])
        received = await take(sub, 1000)
    for point in points:
        stamps = [c.ts_ms for c in received if c.point == point]
        assert len(stamps) == 200 and stamps == sorted(stamps)


async def test_a_stuck_subscriber_coalesces_while_a_healthy_one_gets_everything(bus: LiveBus) -> None:
    stuck = bus.watch_points(queue_size=10)
    healthy = bus.watch_points(queue_size=10)
    points = [ref(1, n) for n in range(1, 4)]
    received = []
    for ts in range(100):
        bus.publish_changes([change(point, ts) for point in points])
        received += await take(healthy, 3)
    assert [(c.point, c.ts_ms) for c in received] == [(p, ts) for ts in range(100) for p in points]
    # The stuck one holds its first 10 changes and the latest change of each of the 3 points; the other 287 are
    # coalesced away.
    assert stuck.pending == 13
    assert stuck.coalesced == 300 - 13
    metrics = bus.metrics()
    assert (metrics.coalesced, metrics.lagging, metrics.subscribers) == (287, 1, 2)
    latest = stuck.drain()[10:]
    assert sorted((c.point.point_number, c.ts_ms) for c in latest) == [(1, 99), (2, 99), (3, 99)]


async def test_a_closed_subscriber_is_forgotten(bus: LiveBus) -> None:
    with bus.watch_points(device_ids=[1]), bus.watch_points(points=[ref(2, 1)]), bus.watch_devices():
        assert bus.metrics().subscribers == 3
    assert bus.metrics().subscribers == 0
    with bus.watch_points() as marker:
        bus.publish_changes([change(ref(1, 1), 1)])
        await take(marker, 1)
    assert bus.metrics().delivered == 1


async def test_metrics_count_published_received_and_delivered(bus: LiveBus) -> None:
    with bus.watch_points() as sub:
        bus.publish_changes([change(ref(1, n), n) for n in range(1, 6)])
        bus.publish_device_status(1, True, 5)
        await take(sub, 5)
    metrics = bus.metrics_dict()
    assert metrics["backend"] == "memory"
    assert metrics["published"] == 6 and metrics["delivered"] == 5
    assert metrics["coalesced"] == 0 and metrics["pending"] == 0
    assert metrics["outboundDropped"] == 0 and metrics["publishErrors"] == 0


async def test_stop_ends_every_subscription_and_later_publishes_are_ignored() -> None:
    bus = LiveBus("memory://")
    await bus.start()
    sub = bus.watch_points()
    iterating = asyncio.create_task(anext(aiter(sub), None))
    await bus.stop()
    assert await asyncio.wait_for(iterating, 5) is None
    bus.publish_changes([change(ref(1, 1), 1)])
    bus.publish_device_status(1, False, 1)
    assert bus.metrics().pending == 0
    assert bus.watch_points().closed


async def test_the_outbound_backlog_is_bounded() -> None:
    bus = LiveBus("memory://", max_pending=10)
    await bus.start()
    try:
        # Published from one synchronous stretch: the publisher cannot run in between, as with a stuck broker.
        for ts in range(25):
            bus.publish_changes([change(ref(1, 1), ts)])
        assert bus.metrics().pending == 10
        assert bus.metrics().outbound_dropped == 15
        with bus.watch_points() as sub:
            received = await take(sub, 10)
        assert [c.ts_ms for c in received] == list(range(15, 25))  # the newest are kept
    finally:
        await bus.stop()


async def test_thousands_of_idle_subscribers_cost_little_memory(bus: LiveBus) -> None:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        subscribers = [bus.watch_points(device_ids=[n % 100]) for n in range(10_000)]
        per_subscriber = (tracemalloc.get_traced_memory()[0] - before) / len(subscribers)
    finally:
        tracemalloc.stop()
    assert bus.metrics().subscribers == 10_000
    assert per_subscriber < 2048, f"{per_subscriber:.0f} bytes per idle subscriber"

"""Subscription feeds: a snapshot of current values, then changes, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

import pytest

from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample, StoredSample
from t3000gql.errors import DeviceTimeout
from t3000gql.live import DeviceStatus
from t3000gql.live.feeds import device_statuses, point_values
from t3000gql.services import Services
from tests.live.helpers import TIMEOUT

T = TypeVar("T")
T0 = 1_700_000_000_000
A1 = PointRef(1, PointType.INPUT, 1)
A2 = PointRef(1, PointType.OUTPUT, 3)
B1 = PointRef(2, PointType.VARIABLE, 1)


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    settings = Settings.defaults(database_url=database_url, broadcast_url="memory://")
    started = await Services.start(settings)
    try:
        for device_id in (1, 2):
            await started.store.devices.create(DeviceInput(device_id, device_name="D", device_type="T3-BB"))
        await started.store.points.upsert(1, [PointInput(PointType.INPUT, 1), PointInput(PointType.OUTPUT, 3)])
        await started.store.points.upsert(2, [PointInput(PointType.VARIABLE, 1)])
        yield started
    finally:
        await started.stop()


async def record(services: Services, *samples: tuple[PointRef, int, float]) -> None:
    await services.store.writes.record([Sample(p, ts, v) for p, ts, v in samples], "test")


async def next_values(feed: AsyncIterator[T], count: int) -> list[T]:
    values = []
    async with asyncio.timeout(TIMEOUT):
        for _ in range(count):
            values.append(await anext(feed))
    return values


def brief(values: list[StoredSample]) -> list[tuple[PointRef, int, float]]:
    return [(v.point, v.ts_ms, v.value) for v in values]


def feed_of(
    services: Services,
    *,
    device_ids: list[int] | None = None,
    points: list[PointRef] | None = None,
    include_initial: bool = True,
) -> contextlib.aclosing[AsyncIterator[StoredSample]]:
    store = services.store
    feed = point_values(
        services.live,
        store.cache,
        store.points.directory,
        device_ids=device_ids,
        points=points,
        include_initial=include_initial,
    )
    return contextlib.aclosing(feed)


async def test_current_values_first_then_changes(services: Services) -> None:
    await record(services, (A1, T0, 1.0), (A2, T0, 2.0), (B1, T0, 3.0))
    async with feed_of(services) as feed:
        # Ordered by device, point type (OUTPUT=0 before INPUT=1) and number.
        assert brief(await next_values(feed, 3)) == [(A2, T0, 2.0), (A1, T0, 1.0), (B1, T0, 3.0)]
        await record(services, (A1, T0 + 1, 1.5))
        assert brief(await next_values(feed, 1)) == [(A1, T0 + 1, 1.5)]


async def test_a_change_still_in_flight_at_the_snapshot_is_not_sent_twice(services: Services) -> None:
    await record(services, (A1, T0, 1.0))  # committed (so in the cache), its publication not yet handled
    async with feed_of(services, device_ids=[1]) as feed:
        assert brief(await next_values(feed, 1)) == [(A1, T0, 1.0)]
        await record(services, (A2, T0 + 5, 9.0))  # a marker: the next value must be this, not A1 again
        assert brief(await next_values(feed, 1)) == [(A2, T0 + 5, 9.0)]


async def test_without_initial_values_only_changes_come(services: Services) -> None:
    await record(services, (A1, T0, 1.0))
    async with feed_of(services, include_initial=False) as feed:
        waiting = asyncio.ensure_future(anext(feed))  # registers on the bus; no snapshot comes
        await asyncio.sleep(0)
        await record(services, (B1, T0 + 1, 4.0))
        # The first write may still be on its way: without a snapshot it is a change like any other.
        values = [await asyncio.wait_for(waiting, TIMEOUT)]
        if values[0].point == A1:
            values += await next_values(feed, 1)
        assert brief(values)[-1] == (B1, T0 + 1, 4.0)


async def test_filters_by_device_and_by_points(services: Services) -> None:
    await record(services, (A1, T0, 1.0), (A2, T0, 2.0), (B1, T0, 3.0))
    async with feed_of(services, device_ids=[2]) as by_device, feed_of(services, points=[A2, B1]) as by_points:
        assert brief(await next_values(by_device, 1)) == [(B1, T0, 3.0)]
        assert brief(await next_values(by_points, 2)) == [(A2, T0, 2.0), (B1, T0, 3.0)]
        await record(services, (A1, T0 + 1, 1.1), (A2, T0 + 1, 2.1), (B1, T0 + 1, 3.1))
        assert brief(await next_values(by_device, 1)) == [(B1, T0 + 1, 3.1)]
        assert brief(await next_values(by_points, 2)) == [(A2, T0 + 1, 2.1), (B1, T0 + 1, 3.1)]


async def test_a_point_without_a_value_has_no_snapshot_entry(services: Services) -> None:
    async with feed_of(services, points=[A1]) as feed:
        waiting = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0)
        await record(services, (A1, T0, 7.0))
        assert (await asyncio.wait_for(waiting, TIMEOUT)).value == 7.0


async def test_device_status_changes(services: Services) -> None:
    async with contextlib.aclosing(device_statuses(services.live, device_ids=[2])) as feed:
        waiting = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0)
        services.live.publish_device_status(1, True, T0)
        services.live.publish_device_status(2, False, T0 + 1)
        assert await asyncio.wait_for(waiting, TIMEOUT) == DeviceStatus(2, False, T0 + 1)


async def test_the_collector_publishes_only_a_change_of_reachability(services: Services) -> None:
    health = services.collection.health
    async with contextlib.aclosing(device_statuses(services.live)) as feed:
        waiting = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0)
        await health.succeeded(1)  # unknown before: a change
        await health.succeeded(1)
        await health.failed(1, DeviceTimeout("no answer"))
        first = await asyncio.wait_for(waiting, TIMEOUT)
        (second,) = await next_values(feed, 1)
    assert (first.device_id, first.online, second.device_id, second.online) == (1, True, 1, False)
    device = await services.store.devices.require(1)
    assert device.online is False

"""The live bus across processes' worth of connections through the local Redis (skipped when Redis is absent,
failed under T3000GQL_REQUIRE_SERVICES=1). Every test uses channels of its own prefix, so runs never cross-talk."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as redis

from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample, StoredSample
from t3000gql.errors import LiveBusError
from t3000gql.live import DeviceStatus, LiveBus, RegistryNote
from t3000gql.services import Services
from tests.live.helpers import change, ref, take, wait_until

T0 = 1_700_000_000_000


@pytest.fixture
def prefix() -> str:
    return f"t3000gql-test-{uuid.uuid4().hex}"


async def test_a_change_published_by_one_bus_reaches_subscribers_of_both(redis_url: str, prefix: str) -> None:
    remote_seen: dict[str, list[StoredSample]] = {"a": [], "b": []}
    a = LiveBus(redis_url, prefix=prefix, on_remote_changes=remote_seen["a"].extend)
    b = LiveBus(redis_url, prefix=prefix, on_remote_changes=remote_seen["b"].extend)
    async with a, b:
        on_a = a.watch_points(device_ids=[1])
        on_b = b.watch_points(device_ids=[1])
        other_device_on_b = b.watch_points(device_ids=[2])
        published = [change(ref(1, 1), T0, 4.25), change(ref(1, 2), T0, 5.5)]
        a.publish_changes(published)
        assert await take(on_b, 2) == published
        assert await take(on_a, 2) == published
        b.publish_changes([change(ref(2, 1), T0 + 1)])  # a marker for the device-2 subscriber
        assert [c.ts_ms for c in await take(other_device_on_b, 1)] == [T0 + 1]
        assert remote_seen["b"] == published  # only the other process's changes count as remote
        # b's own subscriber having the marker says nothing about a's connection: wait for a's to deliver it.
        await wait_until(lambda: bool(remote_seen["a"]), "remote change on a")
        assert [c.ts_ms for c in remote_seen["a"]] == [T0 + 1]


async def test_device_status_crosses_processes(redis_url: str, prefix: str) -> None:
    async with LiveBus(redis_url, prefix=prefix) as a, LiveBus(redis_url, prefix=prefix) as b:
        with b.watch_devices(device_ids=[3]) as sub:
            a.publish_device_status(3, False, T0)
            assert await take(sub, 1) == [DeviceStatus(3, False, T0)]


async def test_a_malformed_message_is_counted_and_ignored(redis_url: str, prefix: str) -> None:
    async with LiveBus(redis_url, prefix=prefix) as bus:
        with bus.watch_points() as sub:
            client = redis.Redis.from_url(redis_url)
            try:
                await client.publish(bus.points_channel, b"not json")
                await client.publish(bus.points_channel, b'{"c": [[1]]}')
            finally:
                await client.aclose()
            bus.publish_changes([change(ref(1, 1), T0)])
            assert [c.ts_ms for c in await take(sub, 1)] == [T0]
        assert bus.metrics().bad_messages == 2


async def test_an_unreachable_broker_is_a_clear_error(prefix: str) -> None:
    bus = LiveBus("redis://127.0.0.1:1", prefix=prefix)  # nothing listens on port 1
    with pytest.raises(LiveBusError, match=r"redis://127\.0\.0\.1:1"):
        await bus.start()


@pytest.fixture
async def two_servers(database_url: str, redis_url: str, prefix: str) -> AsyncIterator[tuple[Services, Services]]:
    """Two sets of services on one database and one Redis, as two server processes would run."""
    settings = Settings.defaults(
        database_url=database_url,
        broadcast_url=redis_url,
        broadcast_channel_prefix=prefix,
    )
    first = await Services.start(settings)
    try:
        await first.store.devices.create(DeviceInput(20, device_name="VAV", device_type="T3-BB"))
        await first.store.points.upsert(20, [PointInput(PointType.VARIABLE, 1)])
        second = await Services.start(settings)
        try:
            yield first, second
        finally:
            await second.stop()
    finally:
        await first.stop()


async def test_a_write_on_one_server_reaches_a_subscriber_and_the_cache_of_the_other(
    two_servers: tuple[Services, Services],
) -> None:
    first, second = two_servers
    point = PointRef(20, PointType.VARIABLE, 1)
    with second.live.watch_points(points=[point]) as sub:
        await first.store.writes.record([Sample(point, T0, 18.5)], "collector")
        (received,) = await take(sub, 1)
    assert (received.point, received.ts_ms, received.value, received.source) == (point, T0, 18.5, "collector")
    point_id = second.store.points.directory.get(point)
    assert point_id is not None
    cached = second.store.cache.peek(point_id)
    assert cached is not None and (cached.ts_ms, cached.value) == (T0, 18.5)
    assert (await second.health())["live"]["backend"] == "redis"


async def test_the_bus_reconnects_when_redis_drops_its_connections(redis_url: str, prefix: str) -> None:
    name = prefix  # our connections carry this name, so only they are killed, not other users' of this Redis
    notes: list[RegistryNote] = []
    async with LiveBus(
        f"{redis_url}/?client_name={name}",
        prefix=prefix,
        heartbeat_seconds=0.05,
        probe_timeout_seconds=0.5,
        on_remote_notes=notes.extend,
    ) as bus:
        with bus.watch_points() as sub:
            bus.publish_changes([change(ref(1, 1), T0)])
            await take(sub, 1)
            client = redis.Redis.from_url(redis_url)
            try:
                killed = 0
                for entry in await client.client_list():
                    if entry.get("name") == name:
                        killed += await client.client_kill_filter(_id=entry["id"])
            finally:
                await client.aclose()
            assert killed >= 1
            await wait_until(lambda: bus.metrics().reconnects >= 1 and bus.metrics().connected, "a reconnection")
            assert notes == [RegistryNote("everything")]  # what others published in the gap is lost: reload
            bus.publish_changes([change(ref(1, 1), T0 + 1)])
            assert [c.ts_ms for c in await take(sub, 1)] == [T0 + 1]


async def test_registry_notes_reach_the_other_processes_only(redis_url: str, prefix: str) -> None:
    heard: dict[str, list[RegistryNote]] = {"a": [], "b": []}
    async with (
        LiveBus(redis_url, prefix=prefix, on_remote_notes=heard["a"].extend) as a,
        LiveBus(redis_url, prefix=prefix, on_remote_notes=heard["b"].extend) as b,
    ):
        note = RegistryNote("trend_log", (7,), deleted=True, ids=(12,))
        a.publish_registry(note)
        await wait_until(lambda: bool(heard["b"]), "the note on b")
        b.publish_registry(RegistryNote("device", (8,)))  # a marker: once a has it, a had its own note too
        await wait_until(lambda: bool(heard["a"]), "the marker on a")
    assert heard == {"a": [RegistryNote("device", (8,))], "b": [note]}

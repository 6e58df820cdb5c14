"""Processes sharing a database keep in step (t3000gql/peers.py): a registry change made through one is applied
by the other, over the live bus's registry channel on the local Redis (skipped when Redis is absent, failed under
T3000GQL_REQUIRE_SERVICES=1). Two Services on one SQLite file stand for two processes, each with its own records
in memory; the same through real server processes is in tests/scale/."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.domain.stations import StationInput
from t3000gql.live import RegistryNote
from t3000gql.peers import PARTITIONS, change_of, note_of
from t3000gql.registry import RegistryChange
from t3000gql.services import Services
from t3000gql.storage.store import Store
from tests.conftest import FakeClock
from tests.live.helpers import wait_until
from tests.postgres import NewDatabase

DEVICE = 31
POINT = PointRef(DEVICE, PointType.INPUT, 1)
T0 = 1_790_000_000_000


@pytest.fixture
async def pair(
    tmp_path: Path, redis_url: str, new_database_url: NewDatabase
) -> AsyncIterator[tuple[Services, Services]]:
    """The leader first, then a follower, on one database and one Redis (channels of this test's own prefix)."""
    prefix = f"t3000gql-test-{uuid.uuid4().hex}"
    settings = Settings.defaults(
        database_url=new_database_url("shared"),
        database_pool_size=2,
        broadcast_url=f"{redis_url}/?client_name={prefix}",
        broadcast_channel_prefix=prefix,
        station_spool_path=str(tmp_path / "spool"),
    )
    first = await Services.start(settings)
    try:
        await first.registry.upsert_device(DeviceInput(DEVICE, device_name="AHU-1", device_type="T3-BB"))
        await first.registry.upsert_points(DEVICE, [PointInput(PointType.INPUT, n) for n in (1, 2)])
        second = await Services.start(settings)
        try:
            yield first, second
        finally:
            await second.stop()
    finally:
        await first.stop()


async def test_a_device_renamed_through_one_process_is_read_renamed_from_the_other(
    pair: tuple[Services, Services],
) -> None:
    first, second = pair
    assert (await second.store.devices.require(DEVICE)).device_name == "AHU-1"  # now remembered there
    await first.registry.upsert_device(DeviceInput(DEVICE, device_name="AHU-1 east"))

    def renamed_or_forgotten() -> bool:
        record = second.store.devices.remembered(DEVICE)
        return record is None or record.device_name == "AHU-1 east"

    await wait_until(renamed_or_forgotten, "the other to drop the old record")
    assert (await second.store.devices.require(DEVICE)).device_name == "AHU-1 east"


async def test_a_point_deleted_through_one_process_leaves_the_others_directory_and_cache(
    pair: tuple[Services, Services],
) -> None:
    first, second = pair
    await first.store.writes.record([Sample(POINT, T0, 20.5)], "api")
    point_id = second.store.points.directory.get(POINT)
    assert point_id is not None
    await wait_until(lambda: second.store.cache.peek(point_id) is not None, "the value in the other's cache")
    assert await first.registry.delete_point(POINT)
    await wait_until(lambda: second.store.points.directory.get(POINT) is None, "the other to drop the point")
    assert second.store.cache.peek(point_id) is None
    assert second.store.points.directory.get(PointRef(DEVICE, PointType.INPUT, 2)) is not None


async def test_a_point_added_through_one_process_is_known_to_the_other(pair: tuple[Services, Services]) -> None:
    first, second = pair
    added = PointRef(DEVICE, PointType.VARIABLE, 9)
    await first.registry.upsert_points(DEVICE, [PointInput(PointType.VARIABLE, 9, point_name="setpoint")])
    await wait_until(lambda: second.store.points.directory.get(added) is not None, "the other to know the point")


async def test_a_trend_log_made_through_a_follower_is_scheduled_by_the_leader(
    pair: tuple[Services, Services],
) -> None:
    leader, follower = pair
    assert leader.leadership.is_leader and not follower.leadership.is_leader
    made = await follower.registry.upsert_trend_log(
        DEVICE, TrendLogInput(trend_log_name="every 7 s", interval_seconds=7, points=[POINT])
    )
    scheduled = leader.collection.collector.scheduler
    await wait_until(lambda: scheduled.intervals().get(made.id) == 7, "the leader to schedule it")
    await follower.registry.upsert_trend_log(DEVICE, TrendLogInput(id=made.id, interval_seconds=11))
    await wait_until(lambda: scheduled.intervals().get(made.id) == 11, "the leader to reschedule it")
    assert await follower.registry.delete_trend_log(made.id)
    await wait_until(lambda: made.id not in scheduled.intervals(), "the leader to drop it")


async def test_a_station_made_through_a_follower_is_monitored_by_the_leader(
    pair: tuple[Services, Services],
) -> None:
    leader, follower = pair
    monitor = leader.monitor
    assert monitor is not None
    station = await follower.registry.create_station(StationInput(name="ST-9", websocket_url="ws://127.0.0.1:1/x"))
    await wait_until(lambda: monitor.link(station.device_id) is not None, "the leader's monitor to take it")


async def test_a_year_dropped_by_the_leaders_retention_is_not_read_by_the_other(
    tmp_path: Path, redis_url: str, new_database_url: NewDatabase
) -> None:
    prefix = f"t3000gql-test-{uuid.uuid4().hex}"
    settings = Settings.defaults(
        database_url=new_database_url("retention"),
        broadcast_url=redis_url,
        broadcast_channel_prefix=prefix,
        station_spool_path=str(tmp_path / "spool"),
    )
    old, new = 1_609_459_200_000, 1_767_225_600_000  # 2021-01-01 and 2026-01-01 (UTC)
    clock = FakeClock(new + 200 * 86_400_000)
    async with await Services.start(settings, clock=clock) as leader, await Services.start(settings) as other:
        await leader.registry.upsert_device(DeviceInput(DEVICE, device_name="AHU-1", device_type="T3-BB"))
        await leader.registry.upsert_points(DEVICE, [PointInput(PointType.INPUT, 1)])
        await leader.store.writes.record([Sample(POINT, ts, 1.0) for ts in (old, new)], "api")
        point_id = await other.store.points.resolve([POINT])
        first_year = (old, old + 86_400_000)
        assert (await other.store.history.count(list(point_id.values()), *first_year)) == {point_id[POINT]: 1}
        await leader._retention()
        # 2021 is a year the other knows: only the note tells it the table is gone (a read would fail).
        await wait_until(lambda: 2021 not in other.store.partitions.years, "the other to forget 2021")
        assert (await other.store.history.count(list(point_id.values()), *first_year)) == {point_id[POINT]: 0}


async def test_years_dropped_elsewhere_are_forgotten_and_an_unknown_note_is_ignored(
    pair: tuple[Services, Services],
) -> None:
    first, second = pair
    await first.store.writes.record([Sample(POINT, T0, 1.0)], "api")
    await second.store.partitions.refresh(second.store.db)
    assert second.store.partitions.years == [2026]
    first.live.publish_registry(RegistryNote("tokens", ids=(5,)))  # a kind this version does not know
    first.live.publish_registry(RegistryNote(PARTITIONS, deleted=True, ids=(2026,)))
    await wait_until(lambda: second.store.partitions.years == [], "the other to forget the year")


async def test_a_note_of_everything_reloads_what_a_process_keeps(pair: tuple[Services, Services]) -> None:
    first, second = pair  # what the bus tells a process after a gap in its connection (tests/live/test_redis.py)
    await second.store.devices.require(DEVICE)
    async with await Store.open(first.settings) as unheard:  # a change made without a bus: no note went out
        await unheard.devices.upsert(DeviceInput(DEVICE, device_name="renamed unheard"))
    assert (await second.store.devices.require(DEVICE)).device_name == "AHU-1"
    first.live.publish_registry(RegistryNote("everything"))

    def reloaded() -> bool:
        record = second.store.devices.remembered(DEVICE)
        return record is None or record.device_name == "renamed unheard"

    await wait_until(reloaded, "the records to be reloaded")
    assert (await second.store.devices.require(DEVICE)).device_name == "renamed unheard"


def test_a_registry_change_survives_its_trip_as_a_note() -> None:
    for change in (
        RegistryChange("device", (1, 2)),
        RegistryChange("point", (3,), deleted=True),
        RegistryChange("trend_log", (4,), trend_log_id=17),
        RegistryChange("station", (4_000_001,)),
    ):
        assert change_of(note_of(change)) == change
    assert change_of(RegistryNote("everything")) == RegistryChange("everything", ())
    assert change_of(RegistryNote(PARTITIONS, ids=(2021,))) is None

"""The write path publishes each accepted change once, after its commit; the services wire it and report it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.errors import ConfigError, ValidationError
from t3000gql.services import Services
from t3000gql.storage.database import DRIVER_ERRORS
from tests.live.helpers import take

T0 = 1_700_000_000_000
P1 = PointRef(10, PointType.INPUT, 1)
P2 = PointRef(10, PointType.INPUT, 2)


REFUSE_666 = {
    "sqlite": [
        "CREATE TRIGGER refuse_666 BEFORE INSERT ON realtime_data_cache WHEN NEW.value = 666 "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.value = 666 THEN "
        "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse_666 BEFORE INSERT ON realtime_data_cache FOR EACH ROW EXECUTE FUNCTION refuse_666()",
    ],
}
"""A real failure inside the write transaction: the database refuses a cached value of 666."""


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    settings = Settings.defaults(database_url=database_url, broadcast_url="memory://")
    started = await Services.start(settings)
    try:
        await started.store.devices.create(DeviceInput(10, device_name="AHU", device_type="T3-BB"))
        await started.store.points.upsert(10, [PointInput(PointType.INPUT, 1), PointInput(PointType.INPUT, 2)])
        yield started
    finally:
        await started.stop()


async def test_an_accepted_write_is_published_once_with_its_source(services: Services) -> None:
    with services.live.watch_points(device_ids=[10]) as sub:
        result = await services.store.writes.record([Sample(P1, T0, 21.5), Sample(P2, T0, 7.0)], "api")
        received = await take(sub, 2)
    assert [(c.point, c.ts_ms, c.value, c.source) for c in received] == [
        (P1, T0, 21.5, "api"),
        (P2, T0, 7.0, "api"),
    ]
    assert received == result.changes


async def test_an_unchanged_value_is_not_published_again(services: Services) -> None:
    with services.live.watch_points() as sub:
        await services.store.writes.record([Sample(P1, T0, 1.0)], "api")
        await take(sub, 1)
        await services.store.writes.record([Sample(P1, T0, 1.0)], "api")  # same point, time and value
        await services.store.writes.record([Sample(P2, T0, 2.0)], "api")  # the marker
        (first,) = await take(sub, 1)
        assert first.point == P2
        assert sub.get_nowait() is None


async def test_a_batch_refused_by_validation_publishes_nothing(services: Services) -> None:
    with services.live.watch_points() as sub:
        with pytest.raises(ValidationError):
            await services.store.writes.record([Sample(P1, T0, 1.0), Sample(P2, T0, float("nan"))], "api")
        await services.store.writes.record([Sample(P2, T0 + 1, 3.0)], "marker")
        (first,) = await take(sub, 1)
    assert first.source == "marker"


async def test_a_batch_rolled_back_inside_its_transaction_publishes_nothing(services: Services) -> None:
    # A real failure after the history rows are written and before the commit: the cache upsert is refused.
    async with services.store.db.writer() as conn:
        for statement in REFUSE_666[services.store.db.backend]:
            await conn.execute(statement)
    with services.live.watch_points() as sub:
        with pytest.raises(DRIVER_ERRORS, match="refused by the test"):
            await services.store.writes.record([Sample(P1, T0, 5.0), Sample(P2, T0, 666.0)], "api")
        ids = [services.store.points.directory.get(P1), services.store.points.directory.get(P2)]
        assert set((await services.store.history.count([i for i in ids if i], 0, T0 + 10)).values()) == {0}
        await services.store.writes.record([Sample(P2, T0 + 1, 3.0)], "marker")
        (first,) = await take(sub, 1)
    assert first.source == "marker"
    rows = await services.store.db.fetch_all("SELECT value FROM realtime_data_cache")
    assert rows == [(3.0,)]


async def test_health_reports_the_live_bus(services: Services) -> None:
    with services.live.watch_points() as sub:
        await services.store.writes.record([Sample(P1, T0, 1.0)], "api")
        await take(sub, 1)
        health = await services.health()
    assert health["status"] == "ok" and health["live"]["connected"] is True
    assert health["live"]["backend"] == "memory"
    assert health["live"]["subscribers"] == 1
    assert health["live"]["published"] == 1 and health["live"]["delivered"] == 1
    assert health["live"]["coalesced"] == 0


async def test_the_services_use_the_configured_channel_prefix(database_url: str) -> None:
    settings = Settings.defaults(database_url=database_url, broadcast_channel_prefix="site-7.live")
    started = await Services.start(settings)
    try:
        assert started.live.points_channel == "site-7.live.points"
        assert started.live.devices_channel == "site-7.live.devices"
    finally:
        await started.stop()


@pytest.mark.parametrize("raw", ["", "has space", "x" * 101, "é"])
def test_a_bad_channel_prefix_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="BROADCAST_CHANNEL_PREFIX"):
        Settings.from_env({"BROADCAST_CHANNEL_PREFIX": raw}, env_file=Path("/nonexistent"))

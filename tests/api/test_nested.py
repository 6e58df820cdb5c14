"""Nested reads are batched by the DataLoaders: the number of SQL statements of a query does not grow with the
number of devices or points it walks through (`Database.statements` counts every read sent to SQLite)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
from t3000gql.domain.points import T3_POINT_COUNTS, PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.domain.timeutil import from_datetime
from t3000gql.storage.store import Store
from tests.api.conftest import open_client, seed_file
from tests.postgres import NewDatabase

START = from_datetime(datetime(2025, 1, 1, tzinfo=UTC))

NESTED = """{ devices {
    deviceId
    data { cacheStats { totalPoints } }
    trendLogs { points { pointNumber device { deviceName } } }
    points {
        pointType pointNumber
        current { value stale }
        history(start: "2025-01-01T00:00:00Z", end: "2025-01-02T00:00:00Z") { totalPoints columns { timestamps values } }
        hourly: history(start: "2025-01-01T00:00:00Z", end: "2025-01-02T00:00:00Z", intervalSeconds: 3600) {
            columns { values } }
    }
} }"""


def site(devices: int, points_per_type: dict[PointType, int]) -> Callable[[Store], Awaitable[None]]:
    """Devices with the given points each, a trend log of 14 points each, two samples per point."""

    async def seed(store: Store) -> None:
        samples: list[Sample] = []
        for device_id in range(1, devices + 1):
            await store.devices.upsert(DeviceInput(device_id, device_name=f"T3-{device_id}", device_type="T3-BB"))
            inputs = [PointInput(kind, n) for kind, count in points_per_type.items() for n in range(1, count + 1)]
            await store.points.upsert(device_id, inputs)
            refs = [PointRef(device_id, p.point_type, p.point_number) for p in inputs]
            await store.trend_logs.upsert(device_id, TrendLogInput(trend_log_name="log", points=tuple(refs[:14])))
            samples += [Sample(ref, START + minute * 60_000, float(minute)) for ref in refs for minute in (0, 90)]
        await store.writes.record(samples, "collector")

    return seed


def statements_of_nested_query(settings: Settings) -> tuple[int, dict]:
    # The token refresh reads the database every AUTH_TOKEN_REFRESH_SECONDS: not during this count.
    with open_client(replace(settings, auth_token_refresh_seconds=3600)) as client:
        db = client.services.store.db
        before = db.statements
        data = client.data(NESTED)
        return db.statements - before, data


@pytest.fixture
def small_site(settings: Settings) -> Settings:
    seed_file(settings, site(2, {kind: 3 for kind in T3_POINT_COUNTS}))
    return settings


@pytest.fixture
def big_site(settings: Settings, new_database_url: NewDatabase) -> Settings:
    big = replace(settings, database_url=new_database_url("big"))
    seed_file(big, site(50, T3_POINT_COUNTS))
    return big


def test_statements_do_not_grow_with_devices_or_points(small_site: Settings, big_site: Settings) -> None:
    small, _ = statements_of_nested_query(small_site)
    big, big_data = statements_of_nested_query(big_site)
    assert len(big_data["devices"]) == 50
    assert sum(len(device["points"]) for device in big_data["devices"]) == 50 * 256
    point = big_data["devices"][49]["points"][0]
    assert point["history"] == {
        "totalPoints": 2,
        "columns": {"timestamps": [START, START + 90 * 60_000], "values": [0.0, 90.0]},
    }
    assert point["hourly"]["columns"]["values"] == [0.0, 90.0]
    assert point["current"] == {"value": 90.0, "stale": True}
    assert big_data["devices"][0]["trendLogs"][0]["points"][13]["device"] == {"deviceName": "T3-1"}
    assert big == small
    assert big <= 8, big

"""For each REST route, GraphQL answers the same data: the same values, times, metadata and counts, in seed 000's
shapes (point types as numbers, times as Unix seconds, flags as 0/1) on one side and GraphQL's on the other.
Writes are compared on two copies of the same site, one written through each API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from t3000gql.api.enums import DataSource
from t3000gql.config import Settings
from t3000gql.domain.points import PointType
from tests.api.conftest import DAY_START, NOW, GraphQLClient, open_client, seed, seed_file
from tests.conftest import ANY_YEAR_SKEW_SECONDS
from tests.postgres import NewDatabase
from tests.rest.conftest import RestClient

NOW_S = NOW // 1000
START_S = DAY_START // 1000


def seconds(iso: str | None) -> int | None:
    return None if iso is None else int(datetime.fromisoformat(iso).timestamp())


def number(point_type: str) -> int:
    return int(PointType[point_type])


@pytest.fixture
def twin(new_database_url: NewDatabase) -> Iterator[RestClient]:
    """A second copy of the seeded site, for writes made through the other API."""
    settings = Settings.defaults(
        database_url=new_database_url("twin"),
        partition_cleanup_enabled=False,
        max_clock_skew_seconds=ANY_YEAR_SKEW_SECONDS,  # as the site it mirrors (tests/rest/conftest.py)
    )
    seed_file(settings, seed)
    with open_client(settings) as client:
        yield RestClient(client)


def graphql_points(client: GraphQLClient) -> list[dict[str, Any]]:
    data = client.data(
        "{ device(deviceId: 1001) { data { points { pointType pointNumber value timestamp stale source "
        "point { dataType unitCode unitSymbol description } } } } }"
    )
    return [as_data_point(p) for p in data["device"]["data"]["points"]]


def as_data_point(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "device_id": 1001,
        "point_type": number(p["pointType"]),
        "point_number": p["pointNumber"],
        "value": p["value"],
        "timestamp": seconds(p["timestamp"]),
        "data_type": p["point"]["dataType"],
        "unit_code": p["point"]["unitCode"],
        "unit_symbol": p["point"]["unitSymbol"],
        "description": p["point"]["description"],
        "is_fresh": 0 if p["stale"] else 1,
        "source": DataSource[p["source"]].value,  # GraphQL's enum of the stored name
    }


def test_device_data(rest: RestClient) -> None:
    by_rest = rest.get("/api/device/1001/data").data
    by_graphql = rest.graphql.data(
        "{ device(deviceId: 1001) { data { lastUpdated cacheStats { totalPoints freshPoints stalePoints } } } }"
    )["device"]["data"]
    assert by_rest["points"] == graphql_points(rest.graphql)
    assert by_rest["last_updated"] == seconds(by_graphql["lastUpdated"])
    stats = by_graphql["cacheStats"]
    assert [by_rest["cache_stats"][k] for k in ("total_points", "fresh_points", "stale_points")] == [
        stats["totalPoints"],
        stats["freshPoints"],
        stats["stalePoints"],
    ]


@pytest.mark.parametrize(("point_type", "point_number"), [("INPUT", 1), ("OUTPUT", 1), ("VARIABLE", 1)])
def test_point(rest: RestClient, point_type: str, point_number: int) -> None:
    by_rest = rest.get(f"/api/device/1001/point/{point_type}/{point_number}").data
    point = rest.graphql.data(
        f"{{ point(deviceId: 1001, pointType: {point_type}, pointNumber: {point_number}) {{ pointType pointNumber "
        "dataType unitCode unitSymbol description current { value timestamp stale source } } }"
    )["point"]
    current = point.pop("current")
    assert by_rest == as_data_point({**point, **current, "point": point})


def test_posting_device_data(rest: RestClient, twin: RestClient) -> None:
    values = [(1, 1, 24.0, NOW_S - 2), (1, 2, 18.0, NOW_S - 2), (2, 1, 22.0, NOW_S)]
    by_rest = rest.post(
        "/api/device/1001/data",
        {
            "device_id": 1001,
            "data_points": [
                {"point_type": t, "point_number": n, "value": v, "timestamp": ts} for t, n, v, ts in values
            ],
        },
    ).data
    given = ", ".join(
        f'{{pointType: {PointType(t).name}, pointNumber: {n}, value: {v}, timestamp: "{datetime.fromtimestamp(ts, tz=UTC).isoformat()}"}}'
        for t, n, v, ts in values
    )
    by_graphql = twin.graphql.data(
        f"mutation {{ updateDeviceData(deviceId: 1001, values: [{given}]) {{ inserted updated unchanged }} }}"
    )["updateDeviceData"]
    assert {k: by_rest[k] for k in ("inserted", "updated", "unchanged")} == by_graphql
    assert graphql_points(rest.graphql) == graphql_points(twin.graphql)
    assert rest.get("/api/device/1001/data").data["points"] == graphql_points(rest.graphql)


def test_timeseries(rest: RestClient) -> None:
    end = START_S + 86400
    for extra, arguments in (
        ("", ""),
        ("&interval_seconds=3600&aggregate=max", ", intervalSeconds: 3600, aggregate: MAX"),
    ):
        by_rest = rest.get(f"/api/timeseries/1001/1/1?start_time={START_S}&end_time={end}{extra}").data
        by_graphql = rest.graphql.data(
            f"{{ timeseries(deviceId: 1001, pointType: INPUT, pointNumber: 1, startTime: {START_S}, endTime: {end}"
            f"{arguments}) {{ totalPoints intervalSeconds columns {{ timestamps values }} "
            "point { pointName dataType unitCode device { deviceName } } } }"
        )["timeseries"]
        assert by_rest["total_points"] == by_graphql["totalPoints"] > 0
        assert [s["timestamp"] * 1000 for s in by_rest["data"]] == by_graphql["columns"]["timestamps"]
        assert [s["value"] for s in by_rest["data"]] == by_graphql["columns"]["values"]
        assert by_rest["interval_seconds"] == (by_graphql["intervalSeconds"] or 0)
        point = by_graphql["point"]
        assert (by_rest["point_info"]["point_name"], by_rest["point_info"]["data_type"]) == (
            point["pointName"],
            point["dataType"],
        )
        assert {s["unit_code"] for s in by_rest["data"]} == {point["unitCode"]}
        assert by_rest["device_info"]["device_name"] == point["device"]["deviceName"]


def test_storing_a_timeseries_batch(rest: RestClient, twin: RestClient) -> None:
    later = START_S + 3 * 86400
    samples = [(1, 1, 30.0, later), (1, 2, 31.0, later + 60), (1, 1, 20.0, START_S)]
    by_rest = rest.post(
        "/api/timeseries/batch",
        [
            {"device_id": 1001, "point_type": t, "point_number": n, "value": v, "timestamp": ts}
            for t, n, v, ts in samples
        ],
    ).data
    given = ", ".join(
        f"{{deviceId: 1001, pointType: {PointType(t).name}, pointNumber: {n}, value: {v}, timestamp: {ts}}}"
        for t, n, v, ts in samples
    )
    by_graphql = twin.graphql.data(
        f"mutation {{ storeTimeSeries(samples: [{given}]) {{ inserted updated unchanged }} }}"
    )["storeTimeSeries"]
    assert {k: by_rest[k] for k in ("inserted", "updated", "unchanged")} == by_graphql
    for number_ in (1, 2):
        path = f"/api/timeseries/1001/1/{number_}?start_time={START_S}&end_time={later + 3600}"
        assert rest.get(path).data["data"] == twin.get(path).data["data"]


def graphql_trend_logs(client: GraphQLClient) -> list[dict[str, Any]]:
    logs = client.data(
        "{ trendLogs(deviceId: 1001) { trendLogId deviceId trendLogName intervalSeconds maxPoints isActive lastCollected "
        "createdAt updatedAt } }"
    )["trendLogs"]
    return [
        {
            "id": log["trendLogId"],
            "device_id": log["deviceId"],
            "trend_log_name": log["trendLogName"],
            "interval_seconds": log["intervalSeconds"],
            "max_points": log["maxPoints"],
            "is_active": int(log["isActive"]),
            "last_collected": seconds(log["lastCollected"]),
            "created_at": seconds(log["createdAt"]),
            "updated_at": seconds(log["updatedAt"]),
        }
        for log in logs
    ]


def test_trend_logs(rest: RestClient) -> None:
    assert rest.get("/api/trend-logs/1001").data == graphql_trend_logs(rest.graphql)


def test_posting_a_trend_log(rest: RestClient, twin: RestClient) -> None:
    by_rest = rest.post(
        "/api/trend-logs/1001", {"trend_log_name": "Fast", "interval_seconds": 10, "max_points": 5, "is_active": 0}
    ).data
    twin.graphql.data(
        'mutation { upsertTrendLog(deviceId: 1001, input: {trendLogName: "Fast", intervalSeconds: 10, maxPoints: 5, '
        "isActive: false}) { id } }"
    )
    assert graphql_trend_logs(twin.graphql) == graphql_trend_logs(rest.graphql)
    assert by_rest == graphql_trend_logs(rest.graphql)[-1]


def test_monitoring_points(rest: RestClient) -> None:
    points = rest.graphql.data(
        "{ monitoringPoints(deviceId: 1001) { deviceId pointType pointNumber pointName description unitCode "
        "unitSymbol dataType isActive createdAt updatedAt } }"
    )["monitoringPoints"]
    by_rest = rest.get("/api/monitoring-points/1001").data
    assert [{k: v for k, v in p.items() if k != "id"} for p in by_rest] == [
        {
            "device_id": p["deviceId"],
            "point_type": number(p["pointType"]),
            "point_number": p["pointNumber"],
            "point_name": p["pointName"],
            "description": p["description"],
            "unit_code": p["unitCode"],
            "unit_symbol": p["unitSymbol"],
            "data_type": p["dataType"],
            "is_active": int(p["isActive"]),
            "created_at": seconds(p["createdAt"]),
            "updated_at": seconds(p["updatedAt"]),
        }
        for p in points
    ]

"""GET/POST /api/trend-logs/{id} and GET /api/monitoring-points/{id}."""

from __future__ import annotations

import pytest

from t3000gql.rest.models import MonitoringPoint, TrendLog
from tests.api.conftest import NOW
from tests.rest.conftest import RestClient

NOW_S = NOW // 1000


def test_trend_logs_of_a_device(rest: RestClient) -> None:
    answer = rest.get("/api/trend-logs/1001", list[TrendLog])
    assert answer.data == [
        {
            "id": 1,
            "device_id": 1001,
            "trend_log_name": "AHU temps",
            "interval_seconds": 900,
            "max_points": 1000,
            "is_active": 1,
            "last_collected": None,
            "created_at": NOW_S,
            "updated_at": NOW_S,
        }
    ]
    assert rest.get("/api/trend-logs/1002", list[TrendLog]).data == []
    assert rest.get("/api/trend-logs/4242").status == 404


def test_monitoring_points_of_a_device(rest: RestClient) -> None:
    points = rest.get("/api/monitoring-points/1001", list[MonitoringPoint]).data
    assert [(p["point_type"], p["point_number"], p["point_name"], p["is_active"]) for p in points] == [
        (0, 1, "Fan", 1),
        (1, 1, "Supply air", 1),
        (1, 2, "Return air", 1),
        (2, 1, "Setpoint", 0),
    ]
    assert points[0] | {"id": None} == {
        "id": None,
        "device_id": 1001,
        "point_type": 0,
        "point_number": 1,
        "point_name": "Fan",
        "description": None,
        "unit_code": 101,
        "unit_symbol": "OFF/ON",
        "data_type": "BOOLEAN",
        "is_active": 1,
        "created_at": NOW_S,
        "updated_at": NOW_S,
    }
    assert rest.get("/api/monitoring-points/4242").status == 404


def test_a_posted_trend_log_is_created_then_changed_and_scheduled(rest: RestClient) -> None:
    scheduler = rest.services.collection.collector.scheduler
    created = rest.post(
        "/api/trend-logs/1001",
        {
            "id": None,
            "device_id": 1001,
            "trend_log_name": "Hourly",
            "interval_seconds": 3600,
            "max_points": 24,
            "is_active": 1,
            "last_collected": None,
            "created_at": None,
            "updated_at": None,
        },
        TrendLog,
    ).data
    assert created == {
        "id": 2,
        "device_id": 1001,
        "trend_log_name": "Hourly",
        "interval_seconds": 3600,
        "max_points": 24,
        "is_active": 1,
        "last_collected": None,
        "created_at": NOW_S,
        "updated_at": NOW_S,
    }
    assert scheduler.intervals()[2] == 3600
    changed = rest.post(
        "/api/trend-logs/1001", {"id": 2, "device_id": 1001, "interval_seconds": 60}, TrendLog
    ).data
    assert (changed["trend_log_name"], changed["interval_seconds"]) == ("Hourly", 60)
    assert scheduler.intervals()[2] == 60
    rest.post("/api/trend-logs/1001", {"id": 2, "is_active": 0}, TrendLog)
    assert 2 not in scheduler.intervals()
    assert rest.graphql.data("{ trendLog(trendLogId: 2) { isActive intervalSeconds } }")["trendLog"] == {
        "isActive": False,
        "intervalSeconds": 60,
    }


def test_a_new_trend_log_takes_the_default_interval(rest: RestClient) -> None:
    created = rest.post("/api/trend-logs/1001", {"trend_log_name": "Defaults"}, TrendLog).data
    assert (created["interval_seconds"], created["max_points"], created["is_active"]) == (900, 1000, 1)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"interval_seconds": 60}, 400, "trend_log_name"),
        ({"trend_log_name": "x", "device_id": 1002}, 400, "device_id"),
        ({"trend_log_name": "x", "interval_seconds": 0}, 400, "interval_seconds"),
        ({"trend_log_name": "x", "is_active": 2}, 400, "is_active"),
        ({"trend_log_name": "x", "is_active": True}, 400, "is_active"),
        ({"trend_log_name": "   "}, 400, "trend_log_name"),
        ({"id": 99, "trend_log_name": "x"}, 404, None),
    ],
)
def test_a_bad_trend_log_is_refused_and_nothing_changes(
    rest: RestClient, body: dict[str, object], status: int, field: str | None
) -> None:
    answer = rest.post("/api/trend-logs/1001", body)
    assert answer.status == status, answer.body
    if field is not None:
        assert answer.body["details"][0]["field"] == field
    assert len(rest.get("/api/trend-logs/1001").data) == 1


def test_a_trend_log_of_another_device_cannot_be_changed_here(rest: RestClient) -> None:
    answer = rest.post("/api/trend-logs/1002", {"id": 1, "trend_log_name": "moved"})
    assert answer.status == 400
    assert answer.body["details"][0]["field"] == "id"
    assert rest.get("/api/trend-logs/1001").data[0]["trend_log_name"] == "AHU temps"


def test_a_trend_log_for_an_unknown_device_is_404(rest: RestClient) -> None:
    assert rest.post("/api/trend-logs/4242", {"trend_log_name": "x"}).status == 404

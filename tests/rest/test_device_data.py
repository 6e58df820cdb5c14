"""GET /api/device/{id}/data, GET /api/device/{id}/point/{type}/{number}, POST /api/device/{id}/data over the
seeded site (device 1001: OUTPUT 1 and VARIABLE 1 fresh, INPUT 1 and 2 stale; the clock at NOW)."""

from __future__ import annotations

import pytest

from t3000gql.rest.models import BatchResult, DataPoint, DeviceDataResponse
from tests.api.conftest import NOW
from tests.rest.conftest import RestClient

NOW_S = NOW // 1000
STALE_S = NOW_S - 30 - 15 * 60  # the last collected sample: 2025-01-01T23:45:00Z
GRAPHQL_CURRENT = (
    "{ point(deviceId: 1001, pointType: %s, pointNumber: %d) { current { value timestamp source } } }"
)


def data_point(point_type: int, number: int, value: float, ts: int, **fields: object) -> dict[str, object]:
    return {
        "device_id": 1001,
        "point_type": point_type,
        "point_number": number,
        "value": value,
        "timestamp": ts,
        "data_type": "REAL",
        "unit_code": 1,
        "unit_symbol": "degC",
        "description": None,
        "is_fresh": 1,
        "source": "api",
        **fields,
    }


FAN = data_point(0, 1, 1.0, NOW_S - 5, data_type="BOOLEAN", unit_code=101, unit_symbol="OFF/ON")
SUPPLY = data_point(1, 1, 23.5, STALE_S, is_fresh=0, source="collector")
RETURN = data_point(1, 2, 18.0, STALE_S, is_fresh=0, source="collector")
SETPOINT = data_point(2, 1, 21.0, NOW_S - 10)


def test_device_data_is_every_cached_value_with_cache_statistics(rest: RestClient) -> None:
    answer = rest.get("/api/device/1001/data", DeviceDataResponse)
    assert answer.status == 200
    assert answer.body == {
        "success": True,
        "data": {
            "device_id": 1001,
            "points": [FAN, SUPPLY, RETURN, SETPOINT],
            "last_updated": NOW_S - 5,
            "cache_stats": {"total_points": 4, "fresh_points": 2, "stale_points": 2, "cache_hit_rate": 0.5},
        },
        "error": None,
        "source": "cache",
        "timestamp": NOW_S,
    }


def test_a_device_without_values_has_empty_data(rest: RestClient) -> None:
    data = rest.get("/api/device/1002/data", DeviceDataResponse).data
    assert data["points"] == [] and data["last_updated"] == 0
    assert data["cache_stats"]["total_points"] == 0


def test_an_unknown_device_is_404(rest: RestClient) -> None:
    answer = rest.get("/api/device/4242/data")
    assert answer.status == 404
    assert (answer.body["code"], answer.body["error"]) == ("NOT_FOUND", "device 4242 does not exist")
    assert answer.body["data"] is None and answer.body["source"] == "error"


@pytest.mark.parametrize("point_type", ["1", "INPUT"])
def test_a_point_by_number_or_name(rest: RestClient, point_type: str) -> None:
    answer = rest.get(f"/api/device/1001/point/{point_type}/2", DataPoint)
    assert (answer.status, answer.data, answer.body["source"]) == (200, RETURN, "cache")


def test_a_fresh_point_comes_from_the_cache(rest: RestClient) -> None:
    answer = rest.get("/api/device/1001/point/VARIABLE/1", DataPoint)
    assert (answer.data, answer.body["source"]) == (SETPOINT, "cache")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/device/1001/point/INPUT/9", "point 1001/INPUT/9 does not exist"),
        ("/api/device/4242/point/INPUT/1", "device 4242 does not exist"),
    ],
)
def test_an_unknown_point_or_device_is_404_naming_which(rest: RestClient, path: str, message: str) -> None:
    answer = rest.get(path)
    assert (answer.status, answer.body["code"], answer.body["error"]) == (404, "NOT_FOUND", message)


@pytest.mark.parametrize("point_type", ["18", "input", "SENSOR", "-1", "1.5"])
def test_a_point_type_that_is_no_t3000_type_is_400(rest: RestClient, point_type: str) -> None:
    answer = rest.get(f"/api/device/1001/point/{point_type}/1")
    assert answer.status == 400
    [detail] = answer.body["details"]
    assert detail["field"] == "point_type" and detail["value"] == point_type
    assert (
        "must be a T3000 point type: a number from 0 to 17 or one of OUTPUT, INPUT, VARIABLE" in detail["message"]
    )
    assert answer.body["code"] == "BAD_USER_INPUT"


def test_a_point_nothing_wrote_is_404_with_a_reason(rest: RestClient) -> None:
    rest.graphql.data(
        "mutation { upsertMonitoringPoints(deviceId: 1001, points: [{pointType: INPUT, pointNumber: 3}]) "
        "{ inserted } }"
    )
    answer = rest.get("/api/device/1001/point/1/3")
    assert answer.status == 404
    assert "point 1001/INPUT/3 has no value yet" in answer.body["error"]


def test_posted_values_are_written_and_answer_the_count(rest: RestClient) -> None:
    answer = rest.post(
        "/api/device/1001/data",
        {
            "device_id": 1001,
            "data_points": [
                {
                    "device_id": 1001,
                    "point_type": 1,
                    "point_number": 1,
                    "value": 22.5,
                    "timestamp": NOW_S - 1,
                    "data_type": "REAL",
                    "unit_code": 1,
                    "unit_symbol": "degC",
                    "description": None,
                },
                {"point_type": "VARIABLE", "point_number": 1, "value": 21},
            ],
        },
        BatchResult,
    )
    assert answer.data == {
        "count": 2,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "message": "Updated 2 data points for device 1001",
    }
    assert answer.body["source"] == "database"
    assert rest.graphql.data(GRAPHQL_CURRENT % ("INPUT", 1))["point"]["current"] == {
        "value": 22.5,
        "timestamp": "2025-01-02T00:00:29.000+00:00",
        "source": "API",
    }
    # no timestamp: the server's now
    assert rest.graphql.data(GRAPHQL_CURRENT % ("VARIABLE", 1))["point"]["current"]["timestamp"] == (
        "2025-01-02T00:00:30.000+00:00"
    )


def test_posted_values_are_audited_as_graphql_audits_them(rest: RestClient) -> None:
    rest.post(
        "/api/device/1001/data",
        {
            "device_id": 1001,
            "data_points": [{"point_type": 2, "point_number": 1, "value": 19.0, "timestamp": NOW_S}],
        },
        BatchResult,
    )
    rest.graphql.data(
        "mutation { updateDeviceData(deviceId: 1001, values: [{pointType: VARIABLE, pointNumber: 1, value: 18.5}]) "
        "{ updated } }"
    )
    by_graphql, by_rest = rest.graphql.run(rest.services.store.audit.recent)
    assert (by_rest.operation, by_rest.source, by_rest.user_id) == ("update_device_data", "api", "anonymous")
    assert (by_graphql.operation, by_graphql.source, by_graphql.user_id) == (by_rest.operation, "api", "anonymous")
    assert (by_rest.old_value, by_rest.new_value) == (21.0, 19.0)
    assert (by_graphql.old_value, by_graphql.new_value) == (19.0, 18.5)


def _history_of_supply(rest: RestClient) -> list[float]:
    answer = rest.get(f"/api/timeseries/1001/1/1?start_time={NOW_S - 3600}&end_time={NOW_S + 3600}")
    return [sample["value"] for sample in answer.data["data"]]


@pytest.mark.parametrize(
    ("bad", "field", "index", "value"),
    [
        ({"point_type": 1, "point_number": 9, "value": 1.0}, "point", 1, "1001/INPUT/9"),
        ({"point_type": 1, "point_number": 2, "value": "warm"}, "data_points.value", 1, "warm"),
        ({"point_type": 1, "point_number": 2, "value": 1.0, "timestamp": -5}, "data_points.timestamp", 1, -5),
        ({"device_id": 7, "point_type": 1, "point_number": 2, "value": 1.0}, "device_id", 1, 7),
    ],
)
def test_a_bad_value_fails_the_whole_batch_naming_it(
    rest: RestClient, bad: dict[str, object], field: str, index: int, value: object
) -> None:
    before = _history_of_supply(rest)
    answer = rest.post(
        "/api/device/1001/data",
        {"device_id": 1001, "data_points": [{"point_type": 1, "point_number": 1, "value": 30.0}, bad]},
    )
    assert answer.status == 400 and answer.body["code"] == "BAD_USER_INPUT"
    [detail] = answer.body["details"]
    assert (detail["field"], detail["index"], detail["value"]) == (field, index, value)
    assert f"item {index}" in answer.body["error"]
    assert _history_of_supply(rest) == before
    assert rest.get("/api/device/1001/point/1/1").data["value"] == 23.5


def test_a_value_that_is_not_finite_is_400(rest: RestClient) -> None:
    body = b'{"device_id": 1001, "data_points": [{"point_type": 1, "point_number": 1, "value": NaN}]}'
    answer = rest.request(
        "POST", "/api/device/1001/data", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status == 400
    assert answer.body["details"][0]["message"] == "Input should be a finite number"


def test_the_batch_names_the_device_of_the_url(rest: RestClient) -> None:
    answer = rest.post("/api/device/1001/data", {"device_id": 1002, "data_points": []})
    assert answer.status == 400
    assert answer.body["details"] == [
        {"field": "device_id", "index": None, "value": 1002, "message": "must be the device of the URL, 1001"}
    ]


def test_posting_to_an_unknown_device_is_404(rest: RestClient) -> None:
    answer = rest.post("/api/device/4242/data", {"device_id": 4242, "data_points": []})
    assert (answer.status, answer.body["error"]) == (404, "device 4242 does not exist")

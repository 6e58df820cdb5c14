"""GET /api/timeseries/{id}/{type}/{number} and POST /api/timeseries/batch over the seeded site (INPUT 1 and 2
sampled every 15 minutes from 2024-12-31T00:00Z for two days, by trend log 1)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from t3000gql.config import Settings
from t3000gql.rest.models import BatchResult, TimeSeriesResponse
from tests.api.conftest import DAY_START, QUARTER, open_client, supply_value
from tests.rest.conftest import RestClient

START_S = DAY_START // 1000  # 2024-12-31T00:00:00Z
QUARTER_S = QUARTER // 1000
SUPPLY = "/api/timeseries/1001/1/1"


def sample(index: int, value: float, **fields: object) -> dict[str, object]:
    return {
        "id": None,
        "device_id": 1001,
        "point_type": 1,
        "point_number": 1,
        "value": value,
        "timestamp": START_S + index * QUARTER_S,
        "data_type": "REAL",
        "unit_code": 1,
        "trend_log_id": None,
        "created_at": None,
        **fields,
    }


def test_a_range_is_the_samples_in_it_with_device_and_point(rest: RestClient) -> None:
    answer = rest.get(f"{SUPPLY}?start_time={START_S}&end_time={START_S + 4 * QUARTER_S}", TimeSeriesResponse)
    data = answer.data
    assert answer.body["source"] == "database"
    assert data["data"] == [sample(i, supply_value(i)) for i in range(4)]
    assert (data["total_points"], data["start_time"], data["end_time"], data["interval_seconds"]) == (
        4,
        START_S,
        START_S + 4 * QUARTER_S,
        0,
    )
    assert (data["aggregate"], data["truncated"], data["next_start"]) == (None, False, None)
    assert data["device_info"]["device_name"] == "AHU-1" and data["device_info"]["device_id"] == 1001
    assert data["point_info"]["point_name"] == "Supply air" and data["point_info"]["unit_symbol"] == "degC"


def test_a_range_across_the_new_year_reads_both_partitions(rest: RestClient) -> None:
    new_year = START_S + 96 * QUARTER_S
    data = rest.get(f"{SUPPLY}?start_time={new_year - QUARTER_S}&end_time={new_year + 2 * QUARTER_S}").data
    assert [s["timestamp"] for s in data["data"]] == [new_year - QUARTER_S, new_year, new_year + QUARTER_S]


def test_buckets_when_interval_seconds_is_given(rest: RestClient) -> None:
    hour = 3600
    data = rest.get(
        f"/api/timeseries/1001/INPUT/1?start_time={START_S}&end_time={START_S + 2 * hour}&interval_seconds={hour}"
    ).data
    # each hour holds four samples: 20.0, 20.5, 21.0, 21.5 then 22.0 .. 23.5
    assert [(s["timestamp"], s["value"]) for s in data["data"]] == [(START_S, 20.75), (START_S + hour, 22.75)]
    assert (data["interval_seconds"], data["aggregate"]) == (hour, "avg")
    maxima = rest.get(
        f"{SUPPLY}?start_time={START_S}&end_time={START_S + 2 * hour}&interval_seconds={hour}&aggregate=max"
    ).data
    assert [s["value"] for s in maxima["data"]] == [21.5, 23.5]


def test_a_trend_log_filter_keeps_its_samples(rest: RestClient) -> None:
    end = START_S + 2 * QUARTER_S
    data = rest.get(f"{SUPPLY}?start_time={START_S}&end_time={end}&trend_log_id=1").data
    assert [s["trend_log_id"] for s in data["data"]] == [1, 1]
    assert rest.get(f"{SUPPLY}?start_time={START_S}&end_time={end}&trend_log_id=2").data["data"] == []


def test_a_limit_cuts_the_range_and_says_where_to_continue(rest: RestClient) -> None:
    first = rest.get(f"{SUPPLY}?start_time={START_S}&end_time={START_S + 10 * QUARTER_S}&limit=3").data
    assert [s["value"] for s in first["data"]] == [supply_value(i) for i in range(3)]
    assert (first["truncated"], first["next_start"]) == (True, START_S + 3 * QUARTER_S)
    rest_of_it = rest.get(f"{SUPPLY}?start_time={first['next_start']}&end_time={START_S + 10 * QUARTER_S}").data
    assert [s["value"] for s in rest_of_it["data"]] == [supply_value(i) for i in range(3, 10)]


def test_more_samples_than_the_budget_is_refused_with_what_to_ask_instead(seeded: Settings) -> None:
    with open_client(replace(seeded, api_max_history_samples=50)) as client:
        rest = RestClient(client)
        answer = rest.get(f"{SUPPLY}?start_time={START_S}&end_time={START_S + 86400}")
        assert answer.status == 400
        assert "API_MAX_HISTORY_SAMPLES" in answer.body["error"] and "interval_seconds" in answer.body["error"]
        assert "intervalSeconds" not in answer.body["error"]  # the seed's names, not GraphQL's
        assert answer.body["details"][0]["field"] == "interval_seconds"
        assert rest.get(f"{SUPPLY}?start_time={START_S}&end_time={START_S + 86400}&limit=50").data["truncated"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"start_time={START_S}&end_time={START_S}", "end_time"),
        (f"start_time={START_S}", "end_time"),
        (f"start_time=soon&end_time={START_S}", "start_time"),
        (f"start_time={START_S}&end_time=4102444800", "end_time"),
        (f"start_time={START_S}&end_time={START_S + 60}&interval_seconds=0", "interval_seconds"),
        (f"start_time={START_S}&end_time={START_S + 60}&aggregate=median", "aggregate"),
        (f"start_time={START_S}&end_time={START_S + 60}&limit=0", "limit"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_parameter(rest: RestClient, query: str, field: str) -> None:
    answer = rest.get(f"{SUPPLY}?{query}")
    assert answer.status == 400
    assert answer.body["details"][0]["field"] == field


def test_an_unknown_point_is_404(rest: RestClient) -> None:
    answer = rest.get(f"/api/timeseries/1001/1/7?start_time={START_S}&end_time={START_S + 60}")
    assert (answer.status, answer.body["error"]) == (404, "point 1001/INPUT/7 does not exist")


def batch_sample(number: int, value: object, ts: int, **fields: object) -> dict[str, object]:
    return {
        "device_id": 1001,
        "point_type": "INPUT",
        "point_number": number,
        "value": value,
        "timestamp": ts,
        **fields,
    }


def test_a_batch_is_stored_and_answers_what_it_did(rest: RestClient) -> None:
    later = START_S + 3 * 86400
    answer = rest.post(
        "/api/timeseries/batch",
        [
            batch_sample(1, 1.5, later, data_type="REAL", unit_code=1, id=None, created_at=None, trend_log_id=1),
            batch_sample(2, 2.5, later),
            batch_sample(1, supply_value(0), START_S),  # already stored with this value
        ],
        BatchResult,
    )
    assert answer.data == {
        "count": 3,
        "inserted": 2,
        "updated": 0,
        "unchanged": 1,
        "message": "Stored 3 time series data points",
    }
    data = rest.get(f"{SUPPLY}?start_time={later}&end_time={later + 1}&trend_log_id=1").data["data"]
    assert [(s["value"], s["trend_log_id"]) for s in data] == [(1.5, 1)]


@pytest.mark.parametrize(
    ("bad", "field", "value"),
    [
        (batch_sample(9, 1.0, START_S), "point", "1001/INPUT/9"),
        (batch_sample(2, None, START_S), "value", None),
        (batch_sample(2, 1.0, 4102444800), "timestamp", 4102444800),
        (batch_sample(2, 1.0, 1.5e9), "timestamp", 1.5e9),
        ({**batch_sample(2, 1.0, START_S), "point_type": "1"}, "point_type", "1"),
        ({"device_id": 1001, "point_type": 1, "value": 1.0, "timestamp": START_S}, "point_number", None),
    ],
)
def test_a_batch_with_one_bad_sample_stores_nothing(
    rest: RestClient, bad: dict[str, object], field: str, value: object
) -> None:
    later = START_S + 5 * 86400
    answer = rest.post("/api/timeseries/batch", [batch_sample(1, 9.0, later), bad])
    assert answer.status == 400
    detail = answer.body["details"][0]
    assert (detail["field"], detail["index"], detail["value"]) == (field, 1, value)
    assert rest.get(f"{SUPPLY}?start_time={later}&end_time={later + 1}").data["data"] == []


def test_an_empty_batch_stores_nothing(rest: RestClient) -> None:
    assert rest.post("/api/timeseries/batch", [], BatchResult).data["count"] == 0

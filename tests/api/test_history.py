"""History through /graphql: raw ranges across years, aggregation, truncation and continuation, the sample
limit, many points for one chart, DateTime input forms and storing samples."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from t3000gql.config import Settings
from t3000gql.domain.timeutil import from_datetime
from tests.api.conftest import DAY_START, QUARTER, SUPPLY_SAMPLES, GraphQLClient, open_client, supply_value

SUPPLY = "deviceId: 1001, pointType: INPUT, pointNumber: 1"


def ms(text: str) -> int:
    return from_datetime(datetime.fromisoformat(text).replace(tzinfo=UTC))


def supply_between(start: int, end: int) -> tuple[list[int], list[float]]:
    """What the seed stored for SUPPLY in [start, end)."""
    indexes = [i for i in range(SUPPLY_SAMPLES) if start <= DAY_START + i * QUARTER < end]
    return [DAY_START + i * QUARTER for i in indexes], [supply_value(i) for i in indexes]


def timeseries(client: GraphQLClient, arguments: str, fields: str) -> dict:
    return client.data(f"{{ timeseries({SUPPLY}, {arguments}) {{ {fields} }} }}")["timeseries"]


def test_raw_range_across_the_new_year_as_points_and_columns(client: GraphQLClient) -> None:
    series = timeseries(
        client,
        'startTime: "2024-12-31T23:00:00Z", endTime: "2025-01-01T01:00:00Z"',
        "point { pointName } totalPoints start end intervalSeconds aggregate truncated nextStart "
        "points { timestamp value } columns { timestamps values }",
    )
    stamps, values = supply_between(ms("2024-12-31T23:00:00"), ms("2025-01-01T01:00:00"))
    assert len(stamps) == 8
    assert series["point"] == {"pointName": "Supply air"}
    assert series["totalPoints"] == 8
    assert series["start"] == "2024-12-31T23:00:00.000+00:00"
    assert series["end"] == "2025-01-01T01:00:00.000+00:00"
    assert (series["intervalSeconds"], series["aggregate"], series["truncated"], series["nextStart"]) == (
        None,
        None,
        False,
        None,
    )
    assert series["columns"] == {"timestamps": stamps, "values": values}
    assert all(isinstance(stamp, int) for stamp in series["columns"]["timestamps"])
    assert series["points"][0] == {"timestamp": "2024-12-31T23:00:00.000+00:00", "value": values[0]}
    assert series["points"][4] == {"timestamp": "2025-01-01T00:00:00.000+00:00", "value": values[4]}


def _expected_buckets(width_s: int, start: int, end: int) -> dict[str, tuple[list[int], list[float]]]:
    stamps, values = supply_between(start, end)
    buckets: dict[int, list[float]] = {}
    for stamp, value in zip(stamps, values, strict=True):
        buckets.setdefault(stamp // (width_s * 1000) * width_s * 1000, []).append(value)
    starts = sorted(buckets)
    by = {
        "AVG": lambda v: sum(v) / len(v),
        "MIN": min,
        "MAX": max,
        "SUM": sum,
        "COUNT": lambda v: float(len(v)),
        "FIRST": lambda v: v[0],
        "LAST": lambda v: v[-1],
    }
    return {name: (starts, [func(buckets[s]) for s in starts]) for name, func in by.items()}


@pytest.mark.parametrize("aggregate", ["AVG", "MIN", "MAX", "SUM", "COUNT", "FIRST", "LAST"])
@pytest.mark.parametrize("width", [3 * 3600, 86400])
def test_aggregation_in_buckets_across_the_new_year(client: GraphQLClient, aggregate: str, width: int) -> None:
    start, end = ms("2024-12-31T05:00:00"), ms("2025-01-01T19:00:00")
    series = timeseries(
        client,
        f"startTime: {start // 1000}, endTime: {end // 1000}, intervalSeconds: {width}, aggregate: {aggregate}",
        "intervalSeconds aggregate totalPoints columns { timestamps values }",
    )
    starts, values = _expected_buckets(width, start, end)[aggregate]
    assert series["intervalSeconds"] == width
    assert series["aggregate"] == aggregate
    assert series["totalPoints"] == len(starts)
    assert series["columns"]["timestamps"] == starts
    assert series["columns"]["values"] == pytest.approx(values)


def test_interval_without_aggregate_averages_and_aggregate_needs_an_interval(client: GraphQLClient) -> None:
    series = timeseries(
        client,
        'startTime: "2024-12-31T00:00:00Z", endTime: "2025-01-02T00:00:00Z", intervalSeconds: 86400',
        "aggregate",
    )
    assert series == {"aggregate": "AVG"}
    error = client.error(
        f'{{ timeseries({SUPPLY}, startTime: "2024-12-31T00:00:00Z", endTime: "2025-01-02T00:00:00Z", '
        "aggregate: MAX) { totalPoints } }"
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "aggregate", "value": "MAX"}
    assert "needs intervalSeconds" in error["message"]


def test_limit_truncates_and_next_start_continues_without_gap_or_overlap(client: GraphQLClient) -> None:
    fields = "totalPoints truncated nextStart columns { timestamps values }"
    first = timeseries(
        client, 'startTime: "2024-12-31T00:00:00Z", endTime: "2025-01-02T00:00:00Z", limit: 50', fields
    )
    assert (first["totalPoints"], first["truncated"]) == (50, True)
    assert first["nextStart"] == "2024-12-31T12:30:00.000+00:00"
    rest = timeseries(
        client, f'startTime: "{first["nextStart"]}", endTime: "2025-01-02T00:00:00Z", limit: 500', fields
    )
    assert (rest["totalPoints"], rest["truncated"], rest["nextStart"]) == (142, False, None)
    stamps, values = supply_between(DAY_START, ms("2025-01-02T00:00:00"))
    assert first["columns"]["timestamps"] + rest["columns"]["timestamps"] == stamps
    assert first["columns"]["values"] + rest["columns"]["values"] == values


def test_limit_on_buckets(client: GraphQLClient) -> None:
    series = timeseries(
        client,
        'startTime: "2024-12-31T00:00:00Z", endTime: "2025-01-02T00:00:00Z", intervalSeconds: 3600, limit: 30',
        "totalPoints truncated nextStart",
    )
    assert series == {"totalPoints": 30, "truncated": True, "nextStart": "2025-01-01T06:00:00.000+00:00"}


@pytest.fixture
def small_limit(seeded: Settings) -> Settings:
    return replace(seeded, api_max_history_samples=100)


def test_more_samples_than_allowed_is_refused_with_advice(small_limit: Settings) -> None:
    with open_client(small_limit) as client:
        whole = 'startTime: "2024-12-31T00:00:00Z", endTime: "2025-01-02T00:00:00Z"'
        error = client.error(f"{{ timeseries({SUPPLY}, {whole}) {{ totalPoints }} }}")
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "intervalSeconds"}
        assert "more than 100 samples per point" in error["message"]
        assert "intervalSeconds: 60" in error["message"]
        assert error["body"]["data"] == {"timeseries": None}

        error = client.error(f"{{ timeseries({SUPPLY}, {whole}, intervalSeconds: 900) {{ totalPoints }} }}")
        assert "more than 100 buckets per point" in error["message"]
        assert "intervalSeconds: 1800" in error["message"]

        error = client.error(f"{{ timeseries({SUPPLY}, {whole}, limit: 101) {{ totalPoints }} }}")
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "limit", "value": 101}
        assert error["message"] == "field 'limit': must be from 1 to 100 (API_MAX_HISTORY_SAMPLES)"

        allowed = client.data(f"{{ timeseries({SUPPLY}, {whole}, limit: 100) {{ totalPoints truncated }} }}")
        assert allowed == {"timeseries": {"totalPoints": 100, "truncated": True}}
        hourly = client.data(f"{{ timeseries({SUPPLY}, {whole}, intervalSeconds: 3600) {{ totalPoints }} }}")
        assert hourly == {"timeseries": {"totalPoints": 48}}

        refs = "{deviceId: 1001, pointType: INPUT, pointNumber: 1}, {deviceId: 1001, pointType: INPUT, pointNumber: 2}"
        error = client.error(
            f'{{ series(points: [{refs}], start: "2024-12-31T00:00:00Z", end: "2025-01-01T00:00:00Z") '
            "{ totalPoints } }"
        )
        assert "more than 100 samples for these points together" in error["message"]


def test_trend_log_filter_keeps_only_its_samples(client: GraphQLClient) -> None:
    log_id = client.data("{ trendLogs(deviceId: 1001) { trendLogId } }")["trendLogs"][0]["trendLogId"]
    client.data(
        f"""mutation {{ storeTimeSeries(samples: [
            {{{SUPPLY}, value: 99, timestamp: "2024-12-31T00:05:00Z"}},
            {{{SUPPLY}, value: 98, timestamp: "2024-12-31T00:20:00Z", trendLogId: {log_id}}}
        ]) {{ inserted }} }}"""
    )
    window = 'startTime: "2024-12-31T00:00:00Z", endTime: "2024-12-31T00:30:00Z"'
    every = timeseries(client, window, "columns { values }")
    assert every["columns"]["values"] == [20.0, 99.0, 20.5, 98.0]
    logged = timeseries(client, f"{window}, trendLogId: {log_id}", "columns { values }")
    assert logged["columns"]["values"] == [20.0, 20.5, 98.0]
    counted = timeseries(
        client, f"{window}, trendLogId: {log_id}, intervalSeconds: 3600, aggregate: COUNT", "columns { values }"
    )
    assert counted["columns"]["values"] == [3.0]


def test_series_returns_points_in_the_order_asked_and_null_for_unknown_ones(client: GraphQLClient) -> None:
    body = client.post(
        """{ series(points: [
                {deviceId: 1001, pointType: INPUT, pointNumber: 2},
                {deviceId: 1001, pointType: INPUT, pointNumber: 63},
                {deviceId: 1001, pointType: INPUT, pointNumber: 1}
            ], start: "2024-12-31T23:00:00Z", end: "2025-01-01T01:00:00Z", intervalSeconds: 3600, aggregate: MAX) {
                point { pointName } aggregate columns { timestamps values } } }"""
    )
    first, missing, last = body["data"]["series"]
    assert first["point"] == {"pointName": "Return air"}
    assert first["columns"]["values"] == [18.0, 18.0]
    assert missing is None
    assert last["point"] == {"pointName": "Supply air"}
    assert last["columns"] == {
        "timestamps": [ms("2024-12-31T23:00:00"), ms("2025-01-01T00:00:00")],
        "values": _expected_buckets(3600, ms("2024-12-31T23:00:00"), ms("2025-01-01T01:00:00"))["MAX"][1],
    }
    assert body["errors"] == [
        {
            "message": "point 1001/INPUT/63 does not exist",
            "locations": [{"line": 1, "column": 3}],
            "path": ["series", 1],
            "extensions": {"code": "NOT_FOUND"},
        }
    ]


def test_nested_history_of_a_point(client: GraphQLClient) -> None:
    point = client.data(
        """{ point(deviceId: 1001, pointType: INPUT, pointNumber: 1) {
            day: history(start: "2025-01-01T00:00:00Z", end: "2025-01-02T00:00:00Z", intervalSeconds: 86400) {
                columns { values } }
            raw: history(start: "2025-01-01T00:00:00Z", end: "2025-01-01T00:30:00Z") { points { value } }
        } }"""
    )["point"]
    _, values = supply_between(ms("2025-01-01T00:00:00"), ms("2025-01-02T00:00:00"))
    assert point["day"]["columns"]["values"] == pytest.approx([sum(values) / len(values)])
    assert point["raw"]["points"] == [{"value": values[0]}, {"value": values[1]}]


def test_datetime_inputs_epoch_seconds_offsets_and_site_time(seeded: Settings) -> None:
    window = supply_between(ms("2025-01-01T00:00:00"), ms("2025-01-01T01:00:00"))[0]
    forms = [
        f"startTime: {ms('2025-01-01T00:00:00') // 1000}, endTime: {ms('2025-01-01T01:00:00') / 1000}",
        'startTime: "2025-01-01T01:00:00+01:00", endTime: "2025-01-01T02:00:00+01:00"',
        'startTime: "2025-01-01T00:00:00Z", endTime: "2025-01-01T01:00:00.000Z"',
        'startTime: "2025-01-01T01:00:00", endTime: "2025-01-01T02:00:00"',  # naive: read in Europe/Berlin
    ]
    with open_client(replace(seeded, timezone="Europe/Berlin")) as client:
        for form in forms:
            assert timeseries(client, form, "columns { timestamps }")["columns"]["timestamps"] == window, form
        error = client.error(f'{{ timeseries({SUPPLY}, startTime: "yesterday", endTime: 1) {{ totalPoints }} }}')
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "'yesterday' is not an ISO-8601 date-time" in error["message"]
        error = client.error(
            f"query($start: DateTime!) {{ timeseries({SUPPLY}, startTime: $start, endTime: 1) {{ totalPoints }} }}",
            {"start": True},
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        error = client.error(
            f'{{ timeseries({SUPPLY}, startTime: "2025-01-02T00:00:00Z", endTime: "2025-01-01T00:00:00Z") '
            "{ totalPoints } }"
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["message"] == "field 'endTime': must be later than startTime"


STORE = "mutation($samples: [TimeSeriesSampleInput!]!) { storeTimeSeries(samples: $samples) { inserted updated unchanged } }"


def sample(value: float, timestamp: str, number: int = 2) -> dict:
    """A storeTimeSeries sample of VARIABLE `number` of device 1001."""
    return {
        "deviceId": 1001,
        "pointType": "VARIABLE",
        "pointNumber": number,
        "value": value,
        "timestamp": timestamp,
    }


def test_store_time_series_counts_inserted_updated_unchanged(client: GraphQLClient) -> None:
    client.data(
        "mutation { upsertMonitoringPoints(deviceId: 1001, points: [{pointType: VARIABLE, pointNumber: 2}]) { inserted } }"
    )
    batch = [
        sample(1.0, "2025-06-01T00:00:00Z"),
        sample(2.0, "2025-06-01T00:15:00Z"),
        sample(3.0, "2026-01-01T00:00:00Z"),
    ]
    assert client.data(STORE, {"samples": batch})["storeTimeSeries"] == {
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
    }
    assert client.data(STORE, {"samples": batch})["storeTimeSeries"] == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 3,
    }
    changed = [sample(1.5, "2025-06-01T00:00:00Z"), sample(2.0, "2025-06-01T00:15:00Z")]
    assert client.data(STORE, {"samples": changed})["storeTimeSeries"] == {
        "inserted": 0,
        "updated": 1,
        "unchanged": 1,
    }
    repeated = [sample(4.0, "2025-06-02T00:00:00Z"), sample(5.0, "2025-06-02T00:00:00Z")]
    assert client.data(STORE, {"samples": repeated})["storeTimeSeries"] == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 1,
    }
    stored = client.data(
        '{ timeseries(deviceId: 1001, pointType: VARIABLE, pointNumber: 2, startTime: "2025-01-01T00:00:00Z", '
        'endTime: "2027-01-01T00:00:00Z") { columns { timestamps values } } }'
    )["timeseries"]["columns"]
    assert stored == {
        "timestamps": [
            ms("2025-06-01T00:00:00"),
            ms("2025-06-01T00:15:00"),
            ms("2025-06-02T00:00:00"),
            ms("2026-01-01T00:00:00"),
        ],
        "values": [1.5, 2.0, 5.0, 3.0],
    }


def test_store_time_series_is_all_or_nothing_and_names_the_bad_sample(client: GraphQLClient) -> None:
    batch = [sample(1.0, "2025-06-01T00:00:00Z", 1), sample(2.0, "1969-12-31T23:00:00Z", 1)]
    error = client.error(STORE, {"samples": batch})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["index"] == 1
    assert error["extensions"]["field"] == "timestamp"
    unknown = [sample(1.0, "2025-06-01T00:00:00Z", 1), sample(1.0, "2025-06-01T00:00:00Z", 99)]
    error = client.error(STORE, {"samples": unknown})
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "point",
        "index": 1,
        "value": "1001/VARIABLE/99",
    }
    error = client.error(STORE, {"samples": [{**sample(1.0, "2025-06-01T00:00:00Z", 1), "value": "warm"}]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    nothing = client.data(
        '{ timeseries(deviceId: 1001, pointType: VARIABLE, pointNumber: 1, startTime: "2025-06-01T00:00:00Z", '
        'endTime: "2025-06-02T00:00:00Z") { totalPoints } }'
    )
    assert nothing == {"timeseries": {"totalPoints": 0}}

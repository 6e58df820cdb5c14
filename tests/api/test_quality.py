"""Gaps, dataQuality and each sample's quality through /graphql, on crafted series (on each database).

The zone sensor's two hours cross the new year (two partitions) and hold one of each thing to find: a gap, a
spike, a run out of range and a flatline; the energy meter goes backwards once; one sample is stored UNCERTAIN.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Quality, Sample
from t3000gql.domain.timeutil import from_datetime, to_datetime
from t3000gql.storage.store import Store
from tests.api.conftest import GraphQLClient, open_client, seed_file

MIN = 60_000
START = from_datetime(datetime(2024, 12, 31, 23, 0, tzinfo=UTC))
END = START + 120 * MIN
ZONE = PointRef(3001, PointType.INPUT, 1)
METER = PointRef(3001, PointType.VARIABLE, 1)
ZONE_ARG = "{deviceId: 3001, pointType: INPUT, pointNumber: 1}"
METER_ARG = "{deviceId: 3001, pointType: VARIABLE, pointNumber: 1}"
MISSING = range(30, 36)
"""Minutes without a sample: the gap runs from minute 29 to 36."""
SPIKE, OUT_OF_RANGE, FLAT_FROM, STORED_UNCERTAIN = 50, (70, 71), 80, 10


def iso(ts_ms: int) -> str:
    return to_datetime(ts_ms).isoformat(timespec="milliseconds")


def zone_value(minute: int) -> float:
    if minute == SPIKE:
        return 30.0
    if minute in OUT_OF_RANGE:
        return 45.0
    if minute >= FLAT_FROM:
        return 22.0
    return 20.0 + (0.2 if minute % 2 else 0.0)


ZONE_MINUTES = [m for m in range(120) if m not in MISSING]
METER_VALUES = [100.0, 101.0, 102.5, 104.0, 3.0, 4.5, 6.0]


async def seed(store: Store) -> None:
    await store.devices.upsert(DeviceInput(3001, device_name="Zone controller", device_type="T3-BB"))
    await store.points.upsert(
        3001,
        [
            PointInput(PointType.INPUT, 1, point_name="Zone temp", unit_code=1, min_value=0.0, max_value=40.0),
            PointInput(PointType.VARIABLE, 1, point_name="Energy", unit_code=10),
        ],
    )
    log = await store.trend_logs.upsert(
        3001, TrendLogInput(trend_log_name="Zone", interval_seconds=60, points=(ZONE,))
    )
    await store.writes.record(
        [
            Sample(
                ZONE,
                START + m * MIN,
                zone_value(m),
                trend_log_id=log.id,
                quality=Quality.UNCERTAIN if m == STORED_UNCERTAIN else Quality.GOOD,
            )
            for m in ZONE_MINUTES
        ]
        + [Sample(METER, START + i * 15 * MIN, value) for i, value in enumerate(METER_VALUES)],
        "collector",
    )


@pytest.fixture
def quality_settings(settings: Settings) -> Settings:
    seed_file(settings, seed)
    return replace(settings, quality_flatline_seconds=1800)


@pytest.fixture
def client(quality_settings: Settings) -> Iterator[GraphQLClient]:
    with open_client(quality_settings) as client:
        yield client


RANGE = f'start: "{iso(START)}", end: "{iso(END)}"'


def gaps(client: GraphQLClient, arguments: str, point: str = ZONE_ARG) -> dict:
    return client.data(
        f"{{ gaps(point: {point}, {arguments}) {{ point {{ pointName }} start end minGapSeconds trendLogId samples "
        "totalGapSeconds truncated gaps { start end durationSeconds } } }"
    )["gaps"]


def test_gaps_default_to_one_and_a_half_trend_log_intervals(client: GraphQLClient) -> None:
    found = gaps(client, RANGE)
    assert found["point"] == {"pointName": "Zone temp"}
    assert (found["start"], found["end"]) == (iso(START), iso(END))
    assert found["minGapSeconds"] == 90.0
    assert found["trendLogId"] is not None
    assert found["samples"] == len(ZONE_MINUTES)
    assert found["gaps"] == [
        {"start": iso(START + 29 * MIN), "end": iso(START + 36 * MIN), "durationSeconds": 420.0}
    ]
    assert (found["totalGapSeconds"], found["truncated"]) == (420.0, False)


def test_min_gap_seconds_overrides_the_trend_log_and_the_edges_count(client: GraphQLClient) -> None:
    assert gaps(client, f"{RANGE}, minGapSeconds: 420")["gaps"] == []
    later = gaps(client, f'start: "{iso(START - 10 * MIN)}", end: "{iso(END + 5 * MIN)}", minGapSeconds: 240')
    assert later["minGapSeconds"] == 240.0 and later["trendLogId"] is None
    assert [(gap["start"], gap["end"]) for gap in later["gaps"]] == [
        (iso(START - 10 * MIN), iso(START)),
        (iso(START + 29 * MIN), iso(START + 36 * MIN)),
        (iso(START + 119 * MIN), iso(END + 5 * MIN)),
    ]


def test_a_point_in_no_trend_log_uses_the_default_interval(client: GraphQLClient) -> None:
    found = gaps(client, RANGE, METER_ARG)
    assert found["minGapSeconds"] == 1.5 * 900 and found["trendLogId"] is None
    # samples every 15 minutes (within 22.5) up to minute 90, then none for the last 30
    assert [(gap["start"], gap["end"]) for gap in found["gaps"]] == [(iso(START + 90 * MIN), iso(END))]
    longer = gaps(client, f'start: "{iso(START)}", end: "{iso(START + 180 * MIN)}"', METER_ARG)
    assert [(gap["start"], gap["durationSeconds"]) for gap in longer["gaps"]] == [(iso(START + 90 * MIN), 5400.0)]


def test_the_end_is_cut_at_now(client: GraphQLClient) -> None:
    found = gaps(client, f'start: "{iso(START)}", end: "2025-06-01T00:00:00Z"')
    assert found["end"] == "2025-01-02T00:00:30.000+00:00"  # the app's clock (tests/api/conftest.py NOW)
    assert found["gaps"][-1]["start"] == iso(START + 119 * MIN)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"{{ gaps(point: {ZONE_ARG}, {RANGE}, minGapSeconds: 0) {{ samples }} }}", "minGapSeconds"),
        (f'{{ gaps(point: {ZONE_ARG}, start: "{iso(END)}", end: "{iso(START)}") {{ samples }} }}', "end"),
        (f'{{ dataQuality(point: {ZONE_ARG}, start: "{iso(END)}", end: "{iso(END)}") {{ samples }} }}', "end"),
    ],
)
def test_bad_arguments_are_named(client: GraphQLClient, query: str, field: str) -> None:
    error = client.error(query)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert field in error["message"]


def test_an_unknown_point_is_not_found(client: GraphQLClient) -> None:
    error = client.error(
        f"{{ gaps(point: {{deviceId: 3001, pointType: INPUT, pointNumber: 9}}, {RANGE}) {{ samples }} }}"
    )
    assert error["extensions"]["code"] == "NOT_FOUND"


QUALITY = (
    "samples good uncertain bad minGapSeconds truncated "
    "counts { gaps flatlines spikes outOfRange counterBackwards } "
    "findings { kind start end durationSeconds samples }"
)


def data_quality(client: GraphQLClient, point: str = ZONE_ARG, arguments: str = RANGE) -> dict:
    return client.data(f"{{ dataQuality(point: {point}, {arguments}) {{ {QUALITY} }} }}")["dataQuality"]


def finding(kind: str, first: int, last: int, samples: int) -> dict:
    return {
        "kind": kind,
        "start": iso(START + first * MIN),
        "end": iso(START + last * MIN),
        "durationSeconds": (last - first) * 60.0,
        "samples": samples,
    }


def test_data_quality_finds_each_thing_once_with_its_time_range(client: GraphQLClient) -> None:
    found = data_quality(client)
    assert found["counts"] == {"gaps": 1, "flatlines": 1, "spikes": 2, "outOfRange": 1, "counterBackwards": 0}
    assert found["findings"] == [
        finding("GAP", 29, 36, 0),
        finding("SPIKE", SPIKE, SPIKE, 1),
        finding("OUT_OF_RANGE", 70, 71, 2),
        finding("SPIKE", 70, 71, 2),  # out of range and short: a spike too (each detector says what it sees)
        finding("FLATLINE", FLAT_FROM, 119, 40),
    ]
    # BAD: the two out of range; UNCERTAIN: the first spike, the flatline's 40 and the one stored so
    assert (found["samples"], found["bad"], found["uncertain"]) == (len(ZONE_MINUTES), 2, 1 + 40 + 1)
    assert found["good"] == len(ZONE_MINUTES) - 44
    assert (found["minGapSeconds"], found["truncated"]) == (90.0, False)


def test_data_quality_finds_a_counter_going_backwards(client: GraphQLClient) -> None:
    found = data_quality(client, METER_ARG)
    assert found["counts"]["counterBackwards"] == 1
    assert [f for f in found["findings"] if f["kind"] == "COUNTER_BACKWARDS"] == [
        finding("COUNTER_BACKWARDS", 45, 60, 1)
    ]
    assert (found["uncertain"], found["bad"]) == (1, 0)


def test_the_zone_is_not_a_counter_and_the_meter_has_no_range(client: GraphQLClient) -> None:
    meter = data_quality(client, METER_ARG)
    assert meter["counts"]["outOfRange"] == 0 and meter["counts"]["spikes"] == 0
    assert data_quality(client)["counts"]["counterBackwards"] == 0


def test_every_sample_has_its_quality_as_objects_and_as_a_column(client: GraphQLClient) -> None:
    series = client.data(
        f'{{ timeseries(deviceId: 3001, pointType: INPUT, pointNumber: 1, startTime: "{iso(START)}", '
        f'endTime: "{iso(END)}") {{ points {{ timestamp ...Trust }} columns {{ timestamps quality }} }} }} '
        "fragment Trust on TimeSeriesSample { quality }"  # selected through a fragment: computed all the same
    )["timeseries"]
    expected = []
    for minute in ZONE_MINUTES:
        if minute in OUT_OF_RANGE:
            expected.append("BAD")
        elif minute == SPIKE or minute >= FLAT_FROM or minute == STORED_UNCERTAIN:
            expected.append("UNCERTAIN")
        else:
            expected.append("GOOD")
    assert [point["quality"] for point in series["points"]] == expected
    assert series["columns"]["quality"] == expected
    assert series["columns"]["timestamps"] == [START + m * MIN for m in ZONE_MINUTES]


def test_quality_agrees_with_data_quality_through_series_and_nested_history(client: GraphQLClient) -> None:
    body = client.data(
        f'{{ series(points: [{ZONE_ARG}, {METER_ARG}], start: "{iso(START)}", end: "{iso(END)}") '
        "{ columns { quality } } "
        f'point(deviceId: 3001, pointType: VARIABLE, pointNumber: 1) {{ history(start: "{iso(START)}", '
        f'end: "{iso(END)}") {{ points {{ ... on TimeSeriesSample {{ value quality }} }} }} }} }}'
    )
    zone, meter = (answer["columns"]["quality"] for answer in body["series"])
    counts = data_quality(client)
    assert (zone.count("GOOD"), zone.count("UNCERTAIN"), zone.count("BAD")) == (
        counts["good"],
        counts["uncertain"],
        counts["bad"],
    )
    assert meter == ["GOOD"] * 4 + ["UNCERTAIN"] + ["GOOD"] * 2
    assert [p["quality"] for p in body["point"]["history"]["points"]] == meter


def test_buckets_are_bad_when_their_value_leaves_the_range(client: GraphQLClient) -> None:
    def bucket_quality(aggregate: str) -> list[str]:
        return client.data(
            f'{{ timeseries(deviceId: 3001, pointType: INPUT, pointNumber: 1, startTime: "{iso(START)}", '
            f'endTime: "{iso(END)}", intervalSeconds: 60, aggregate: {aggregate}) {{ columns {{ quality }} }} }}'
        )["timeseries"]["columns"]["quality"]

    maxima = bucket_quality("MAX")
    assert [i for i, q in enumerate(maxima) if q == "BAD"] == [ZONE_MINUTES.index(m) for m in OUT_OF_RANGE]
    assert set(bucket_quality("COUNT")) == {"GOOD"}


def test_quality_changes_nothing_stored(client: GraphQLClient) -> None:
    query = (
        f'{{ timeseries(deviceId: 3001, pointType: INPUT, pointNumber: 1, startTime: "{iso(START)}", '
        f'endTime: "{iso(END)}") {{ columns {{ values }} }} }}'
    )
    before = client.data(query)
    data_quality(client)
    client.data(
        f'{{ timeseries(deviceId: 3001, pointType: INPUT, pointNumber: 1, startTime: "{iso(START)}", '
        f'endTime: "{iso(END)}") {{ points {{ quality }} }} }}'
    )
    assert client.data(query) == before
    assert before["timeseries"]["columns"]["values"][ZONE_MINUTES.index(70)] == 45.0


def test_a_range_beyond_the_history_budget_is_refused_naming_end(quality_settings: Settings) -> None:
    with open_client(replace(quality_settings, api_max_history_samples=50)) as small:
        for field in ("gaps", "dataQuality"):
            error = small.error(f"{{ {field}(point: {ZONE_ARG}, {RANGE}) {{ samples }} }}")
            assert error["extensions"]["code"] == "BAD_USER_INPUT"
            assert error["extensions"]["field"] == "end"
            assert "API_MAX_HISTORY_SAMPLES" in error["message"]
        assert (
            small.data(
                f'{{ gaps(point: {ZONE_ARG}, start: "{iso(START)}", end: "{iso(START + 40 * MIN)}") {{ samples }} }}'
            )["gaps"]["samples"]
            == 34
        )

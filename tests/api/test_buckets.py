"""`buckets` through /graphql: calendar days in a time zone across New Year with their own start and end,
several aggregates at once, fill, the value in force at the start, and bad arguments named."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.api.conftest import DAY_START, QUARTER, SUPPLY_SAMPLES, GraphQLClient, supply_value

SUPPLY = "{deviceId: 1001, pointType: INPUT, pointNumber: 1}"


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, ZoneInfo("UTC")).isoformat(timespec="milliseconds")


def test_calendar_days_in_sydney_across_new_year(client: GraphQLClient) -> None:
    data = client.data(
        f'{{ buckets(point: {SUPPLY}, start: "2024-12-30T00:00:00Z", end: "2025-01-03T00:00:00Z", '
        'calendar: DAY, timeZone: "Australia/Sydney", aggregates: [AVG, MIN, RANGE, TWA]) '
        "{ timeZone starts ends counts columns { aggregate values } initialValue } }"
    )["buckets"]
    tz = ZoneInfo("Australia/Sydney")
    stamps = [DAY_START + i * QUARTER for i in range(SUPPLY_SAMPLES)]
    by_day: dict[int, list[float]] = {}
    for i, ts in enumerate(stamps):
        local = datetime.fromtimestamp(ts / 1000, tz)
        midnight = int(datetime(local.year, local.month, local.day, tzinfo=tz).timestamp() * 1000)
        by_day.setdefault(midnight, []).append(supply_value(i))
    days = sorted(by_day)
    assert data["timeZone"] == "Australia/Sydney"
    assert data["starts"] == [iso(d) for d in days]  # 13:00 UTC: Sydney is at +11 in summer
    assert all(s.endswith("T13:00:00.000+00:00") for s in data["starts"])
    assert data["counts"] == [len(by_day[d]) for d in days]
    columns = {c["aggregate"]: c["values"] for c in data["columns"]}
    assert list(columns) == ["AVG", "MIN", "RANGE", "TWA"]
    assert columns["AVG"] == pytest.approx([sum(by_day[d]) / len(by_day[d]) for d in days])
    assert columns["MIN"] == [min(by_day[d]) for d in days]
    assert columns["RANGE"] == pytest.approx([max(by_day[d]) - min(by_day[d]) for d in days])
    assert data["initialValue"] is None  # nothing before the seed's first sample


def test_fill_and_the_value_in_force_at_the_start(client: GraphQLClient) -> None:
    # hours of 2025-01-02, after the seed's last sample (2025-01-01T23:45Z): every bucket empty
    query = (
        f'{{ buckets(point: {SUPPLY}, start: "2025-01-01T22:00:00Z", end: "2025-01-02T02:00:00Z", '
        "intervalSeconds: 3600, aggregates: [LAST], fill: %s) { starts counts columns { values } initialValue } }"
    )
    previous = client.data(query % "PREVIOUS")["buckets"]
    last = supply_value(SUPPLY_SAMPLES - 1)
    assert previous["counts"] == [4, 4, 0, 0]
    assert previous["columns"][0]["values"][2:] == [last, last]
    nulls = client.data(query % "NULL")["buckets"]
    assert nulls["columns"][0]["values"][2:] == [None, None]
    none = client.data(query % "NONE")["buckets"]
    assert none["counts"] == [4, 4]
    later = client.data(query.replace("2025-01-01T22", "2025-01-02T01") % "PREVIOUS")["buckets"]
    assert later["initialValue"] == last
    assert later["columns"][0]["values"] == [last]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ("calendar: DAY, intervalSeconds: 3600, aggregates: [AVG]", "calendar"),
        ("aggregates: [AVG]", "calendar"),
        ('calendar: DAY, timeZone: "Mars/Olympus", aggregates: [AVG]', "timeZone"),
        ("calendar: DAY, maxGapSeconds: 0, aggregates: [TWA]", "maxGapSeconds"),
    ],
)
def test_bad_arguments_are_named(client: GraphQLClient, arguments: str, field: str) -> None:
    error = client.error(
        f'{{ buckets(point: {SUPPLY}, start: "2024-12-30T00:00:00Z", end: "2025-01-03T00:00:00Z", {arguments}) '
        "{ counts } }"
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert field in error["message"], error

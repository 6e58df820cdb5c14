"""`/export.csv` through the real app (lifespan running, seeded SQLite file): rows as GraphQL reads them, times
in the site's zone or epoch ms, pages that change nothing in the output, and a clear 400 per bad parameter."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from t3000gql.config import Settings
from t3000gql.domain.samples import Aggregate
from t3000gql.web.export_csv import prepare_export
from t3000gql.web.export_params import parse_export_query
from tests.api.conftest import (
    DAY_START,
    FAN,
    NOW,
    QUARTER,
    SUPPLY,
    SUPPLY_SAMPLES,
    GraphQLClient,
    open_client,
    seed,
    seed_file,
    supply_value,
)

BERLIN = "Europe/Berlin"


@pytest.fixture
def client(database_url: str) -> Iterator[GraphQLClient]:
    settings = Settings.defaults(database_url=database_url, partition_cleanup_enabled=False, timezone=BERLIN)
    seed_file(settings, seed)
    with open_client(settings) as opened:
        yield opened


def export(client: GraphQLClient, **params: str) -> list[list[str]]:
    response = client.http.get("/export.csv", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.reader(io.StringIO(response.text)))


def refused(client: GraphQLClient, **params: str) -> dict[str, object]:
    response = client.http.get("/export.csv", params=params)
    assert response.status_code == 400, response.text
    error: dict[str, object] = response.json()["errors"][0]
    return error


def test_raw_samples_of_two_points_in_one_row_per_time(client: GraphQLClient) -> None:
    rows = export(
        client, points="1001:INPUT:1,1001:OUTPUT:1", start=str(DAY_START), end=str(NOW + 1), timeFormat="ms"
    )
    assert rows[0] == ["time", "1001:INPUT:1 Supply air [degC]", "1001:OUTPUT:1 Fan [OFF/ON]"]
    body = rows[1:]
    assert len(body) == SUPPLY_SAMPLES + 1
    for i, row in enumerate(body[:SUPPLY_SAMPLES]):
        assert row == [str(DAY_START + i * QUARTER), repr(supply_value(i)), ""]
    assert body[-1] == [str(NOW - 5_000), "", "1.0"]


def test_iso_times_are_in_the_site_time_zone_and_so_are_offsetless_bounds(client: GraphQLClient) -> None:
    # 2024-12-31T01:00 in Berlin is DAY_START (midnight UTC); three quarter-hours from there.
    rows = export(client, points="1001:1:1", start="2024-12-31T01:00", end="2024-12-31T01:45")
    assert [row[0] for row in rows[1:]] == [
        "2024-12-31T01:00:00.000+01:00",
        "2024-12-31T01:15:00.000+01:00",
        "2024-12-31T01:30:00.000+01:00",
    ]
    assert [float(row[1]) for row in rows[1:]] == [supply_value(i) for i in range(3)]


def test_buckets_match_the_graphql_series_of_the_range(client: GraphQLClient) -> None:
    start, end = "2024-12-31T00:00:00Z", "2025-01-02T00:00:00Z"
    rows = export(client, points="1001:INPUT:1", start=start, end=end, interval="3600", aggregate="avg,MIN,max")
    assert rows[0] == ["time", *(f"1001:INPUT:1 Supply air [degC] {name}" for name in ("AVG", "MIN", "MAX"))]
    columns = {}
    for aggregate in ("AVG", "MIN", "MAX"):
        data = client.data(
            "query($a: Aggregate!) { series(points: [{deviceId: 1001, pointType: INPUT, pointNumber: 1}], "
            f'start: "{start}", end: "{end}", intervalSeconds: 3600, aggregate: $a) '
            "{ columns { timestamps values } } }",
            {"a": aggregate},
        )
        columns[aggregate] = data["series"][0]["columns"]
    assert len(rows) - 1 == len(columns["AVG"]["timestamps"]) == 48
    for row, ts, avg, low, high in zip(
        rows[1:],
        columns["AVG"]["timestamps"],
        columns["AVG"]["values"],
        columns["MIN"]["values"],
        columns["MAX"]["values"],
        strict=True,
    ):
        assert round(datetime.fromisoformat(row[0]).timestamp() * 1000) == ts
        assert [float(cell) for cell in row[1:]] == [avg, low, high]


def test_calendar_days_match_the_graphql_buckets_of_the_site_time_zone(client: GraphQLClient) -> None:
    """calendar=DAY: days by Berlin's clocks (starting 23:00 UTC in winter), the same values as the GraphQL
    `buckets` query in the site's zone; a day without samples is left out, as empty fixed buckets are."""
    start, end = "2024-12-29T00:00:00+01:00", "2025-01-03T00:00:00+01:00"
    rows = export(client, points="1001:INPUT:1", start=start, end=end, calendar="day", aggregate="AVG,COUNT")
    assert rows[0] == ["time", "1001:INPUT:1 Supply air [degC] AVG", "1001:INPUT:1 Supply air [degC] COUNT"]
    data = client.data(
        "{ buckets(point: {deviceId: 1001, pointType: INPUT, pointNumber: 1}, "
        f'start: "{start}", end: "{end}", aggregates: [AVG, COUNT], calendar: DAY) '
        "{ timeZone starts counts columns { values } } }"
    )["buckets"]
    assert data["timeZone"] == BERLIN
    expected = [
        (starts, avg, count)
        for starts, n, avg, count in zip(
            data["starts"], data["counts"], data["columns"][0]["values"], data["columns"][1]["values"], strict=True
        )
        if n
    ]
    assert len(expected) >= 2  # the seeded samples span more than one Berlin day
    assert [(datetime.fromisoformat(r[0]), float(r[1]), float(r[2])) for r in rows[1:]] == [
        (datetime.fromisoformat(ts), avg, count) for ts, avg, count in expected
    ]
    assert all(datetime.fromisoformat(r[0]).utcoffset() == timedelta(hours=1) for r in rows[1:])
    assert all(datetime.fromisoformat(r[0]).time() == time(0) for r in rows[1:])  # local midnights


def test_an_interval_alone_exports_averages(client: GraphQLClient) -> None:
    rows = export(
        client, points="1001:INPUT:1", start=str(DAY_START), end=str(DAY_START + 4 * 3600_000), interval="3600"
    )
    assert rows[0][1].endswith(" AVG") and len(rows) == 5


@pytest.mark.parametrize("interval", [None, 900, 3600, 7200])
def test_small_pages_give_the_same_csv(client: GraphQLClient, interval: int | None) -> None:
    """Pages of a few values (several per point, windows of one bucket, empty stretches skipped) change
    nothing: what the export reads at once is bounded by its page, not by the range."""
    params = [("points", "1001:INPUT:1,1001:INPUT:2,1001:OUTPUT:1,1001:VARIABLE:1")]
    params += [("start", "2020-01-01T00:00Z"), ("end", "2030-01-01T00:00Z"), ("timeFormat", "ms")]
    if interval is not None:
        params += [("interval", str(interval)), ("aggregate", "AVG,LAST,COUNT")]
    query = parse_export_query(params, BERLIN)
    services = client.services

    async def text(page_values: int) -> str:
        prepared = await prepare_export(services.store, query, BERLIN)
        prepared = replace(prepared, page_values=page_values)
        return "".join([chunk async for chunk in prepared.chunks()])

    whole, paged = client.run(text, 1_000_000), client.run(text, 5)
    assert paged == whole
    rows = list(csv.reader(io.StringIO(whole)))
    assert len(rows) > 2
    times = [int(row[0]) for row in rows[1:]]
    assert times == sorted(set(times))


def test_the_export_streams_in_chunks(client: GraphQLClient) -> None:
    query = parse_export_query({"points": "1001:INPUT:1", "start": str(DAY_START), "end": str(NOW)}, BERLIN)

    async def chunk_count() -> int:
        prepared = await prepare_export(client.services.store, query, BERLIN)
        return len([chunk async for chunk in prepared.chunks()])

    assert client.run(chunk_count) == 1  # 192 rows: the header and rows go out as one chunk
    assert query.aggregates == () and query.time_format == "iso"


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"start": "2025-01-01", "end": "2025-01-02"}, "points", "is required"),
        ({"points": "1001:INPUT:1", "end": "2025-01-02"}, "start", "is required"),
        ({"points": "1001:SENSOR:1", "start": "2025-01-01", "end": "2025-01-02"}, "points", "unknown point type"),
        ({"points": "1001-INPUT-1", "start": "2025-01-01", "end": "2025-01-02"}, "points", "DEVICE:TYPE:NUMBER"),
        ({"points": "1001:INPUT:x", "start": "2025-01-01", "end": "2025-01-02"}, "points", "whole device id"),
        ({"points": "1001:INPUT:9", "start": "2025-01-01", "end": "2025-01-02"}, "points", "no such point"),
        ({"points": "1001:INPUT:1", "start": "yesterday", "end": "2025-01-02"}, "start", "ISO-8601"),
        ({"points": "1001:INPUT:1", "start": "2025-01-01", "end": "2101-01-01"}, "end", "1970-01-01 .. 2100"),
        ({"points": "1001:INPUT:1", "start": "2025-01-02", "end": "2025-01-01"}, "end", "later than start"),
        (
            {"points": "1001:INPUT:1", "start": "2025-01-01", "end": "2025-01-02", "interval": "0"},
            "interval",
            "whole seconds",
        ),
        (
            {"points": "1001:INPUT:1", "start": "2025-01-01", "end": "2025-01-02", "interval": "1.5"},
            "interval",
            "whole seconds",
        ),
        (
            {"points": "1001:INPUT:1", "start": "2025-01-01", "end": "2025-01-02", "aggregate": "MAX"},
            "aggregate",
            "needs interval",
        ),
        (
            {
                "points": "1001:INPUT:1",
                "start": "2025-01-01",
                "end": "2025-01-02",
                "interval": "60",
                "aggregate": "MEDIAN",
            },
            "aggregate",
            "unknown aggregate",
        ),
        (
            {"points": "1001:INPUT:1", "start": "2025-01-01", "end": "2025-01-02", "timeFormat": "excel"},
            "timeFormat",
            "iso",
        ),
        (
            {"points": "1001:INPUT:1", "start": "2025-01-01", "end": "2025-01-02", "calendar": "FORTNIGHT"},
            "calendar",
            "must be one of HOUR",
        ),
        (
            {
                "points": "1001:INPUT:1",
                "start": "2025-01-01",
                "end": "2025-01-02",
                "calendar": "DAY",
                "interval": "3600",
            },
            "calendar",
            "exclude each other",
        ),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    client: GraphQLClient, params: dict[str, str], parameter: str, words: str
) -> None:
    error = refused(client, **params)
    extensions = error["extensions"]
    assert isinstance(extensions, dict)
    assert extensions["code"] == "BAD_USER_INPUT"
    assert extensions["parameter"] == parameter
    assert words in str(error["message"]) and repr(parameter) in str(error["message"])


def test_a_parameter_given_twice_is_refused_but_points_may_repeat(client: GraphQLClient) -> None:
    response = client.http.get(
        "/export.csv",
        params=[
            ("points", "1001:INPUT:1"),
            ("start", "2025-01-01"),
            ("start", "2025-01-02"),
            ("end", "2025-01-03"),
        ],
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["parameter"] == "start"
    response = client.http.get(
        "/export.csv",
        params=[
            ("points", "1001:INPUT:1"),
            ("points", "1001:OUTPUT:1"),
            ("start", str(DAY_START)),
            ("end", str(NOW + 1)),
        ],
    )
    assert response.status_code == 200
    assert response.text.splitlines()[0].count(",") == 2


def test_parsed_query_values() -> None:
    query = parse_export_query(
        [
            ("points", "1001:input:1, 1001:0:1,1001:INPUT:1"),
            ("start", "2025-01-01T00:00:00+00:00"),
            ("end", "1735779600000"),
        ],
        BERLIN,
    )
    assert query.points == (SUPPLY, FAN)
    assert query.start_ms == int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert query.end_ms == 1735779600000
    assert parse_export_query(
        {"points": "1001:INPUT:1", "start": "0", "end": "1", "interval": "5"}, BERLIN
    ).aggregates == (Aggregate.AVG,)

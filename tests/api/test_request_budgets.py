"""What one request may ask for: one history budget across all its history fields (nested or not), and samples
from the future refused by the server's clock (MAX_CLOCK_SKEW_SECONDS), through every way values come in."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from t3000gql.config import Settings
from tests.api.conftest import NOW, SUPPLY_SAMPLES, GraphQLClient, open_client

RANGE = 'start: "2024-12-31T00:00:00Z", end: "2025-01-02T00:00:00Z"'


@pytest.fixture
def budget_client(seeded: Settings) -> Any:
    # Each of SUPPLY and RETURN holds 192 samples in RANGE: either fits the budget alone, both do not.
    with open_client(replace(seeded, api_max_history_samples=300)) as client:
        yield client


def refused(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(tuple(error["path"]), error["extensions"]["code"]) for error in body.get("errors", [])]


def test_history_fields_of_one_request_share_one_budget(budget_client: GraphQLClient) -> None:
    one = budget_client.data(
        f"{{ point(deviceId: 1001, pointType: INPUT, pointNumber: 1) {{ history({RANGE}) {{ totalPoints }} }} }}"
    )
    assert one["point"]["history"]["totalPoints"] == SUPPLY_SAMPLES
    body = budget_client.post(
        f"{{ a: point(deviceId: 1001, pointType: INPUT, pointNumber: 1) {{ history({RANGE}) {{ totalPoints }} }} "
        f"b: point(deviceId: 1001, pointType: INPUT, pointNumber: 2) {{ history({RANGE}) {{ totalPoints }} }} }}"
    )
    histories = [body["data"][name]["history"] for name in ("a", "b")]
    assert sorted(histories, key=str) == [None, {"totalPoints": SUPPLY_SAMPLES}]  # one of them, not both
    [error] = body["errors"]
    assert error["path"][1] == "history" and error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "more than 300 samples in all history fields of this request together" in error["message"]


def test_nested_history_shares_the_budget_too(budget_client: GraphQLClient) -> None:
    body = budget_client.post(
        f"{{ device(deviceId: 1001) {{ points(pointType: INPUT) {{ pointNumber history({RANGE}) {{ totalPoints }} }} }} }}"
    )
    points = body["data"]["device"]["points"]
    assert [p["history"] for p in points] == [{"totalPoints": SUPPLY_SAMPLES}, None]
    assert refused(body) == [(("device", "points", 1, "history"), "BAD_USER_INPUT")]


def test_series_and_timeseries_draw_on_the_same_budget(budget_client: GraphQLClient) -> None:
    body = budget_client.post(
        "{ t: timeseries(deviceId: 1001, pointType: INPUT, pointNumber: 1, "
        f'startTime: "2024-12-31T00:00:00Z", endTime: "2025-01-02T00:00:00Z") {{ totalPoints }} '
        f"s: series(points: [{{deviceId: 1001, pointType: INPUT, pointNumber: 2}}], {RANGE}) {{ totalPoints }} }}"
    )
    # Root fields run concurrently: whichever reads first gets its samples, the other is refused.
    answered = {name: value for name, value in body["data"].items() if value is not None}
    assert len(answered) == 1 and next(iter(answered.values())) in (
        {"totalPoints": SUPPLY_SAMPLES},
        [{"totalPoints": SUPPLY_SAMPLES}],
    )
    [(path, code)] = refused(body)
    assert code == "BAD_USER_INPUT" and path[0] in {"t", "s"} - set(answered)
    again = budget_client.data(
        f"{{ series(points: [{{deviceId: 1001, pointType: INPUT, pointNumber: 2}}], {RANGE}) {{ totalPoints }} }}"
    )
    assert again["series"] == [{"totalPoints": SUPPLY_SAMPLES}]  # a new request: a new budget


@pytest.fixture
def skew_client(seeded: Settings) -> Any:
    with open_client(replace(seeded, max_clock_skew_seconds=300)) as client:
        yield client


@pytest.mark.parametrize(("ahead", "accepted"), [(300, True), (301, False)])
def test_a_sample_more_than_the_allowed_skew_in_the_future_is_refused(
    skew_client: GraphQLClient, ahead: int, accepted: bool
) -> None:
    at = NOW // 1000 + ahead
    writes = {
        "storeTimeSeries": (
            "storeTimeSeries(samples: [{deviceId: 1001, pointType: INPUT, pointNumber: 1, value: 99, "
            f"timestamp: {at}}}]) {{ inserted }}"
        ),
        "updateDeviceData": (
            "updateDeviceData(deviceId: 1001, values: [{pointType: INPUT, pointNumber: 1, value: 99, "
            f"timestamp: {at}}}]) {{ inserted }}"
        ),
    }
    for name, call in writes.items():
        body = skew_client.post(f"mutation {{ {call} }}")
        if accepted:
            assert "errors" not in body, body
            continue
        [error] = body["errors"]
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "timestamp",
            "index": 0,
            "value": at * 1000,
        }
        assert "lies 301 s after the server's time 2025-01-02T00:00:30+00:00" in error["message"], name
        assert "MAX_CLOCK_SKEW_SECONDS" in error["message"]
    current = skew_client.data("{ point(deviceId: 1001, pointType: INPUT, pointNumber: 1) { current { value } } }")
    assert (current["point"]["current"]["value"] == 99.0) is accepted  # a refused clock cannot pin the value


def test_a_power_reading_from_the_future_is_refused_naming_its_index(skew_client: GraphQLClient) -> None:
    skew_client.data('mutation { createStation(input: {name: "Roof"}) { deviceId } }')
    now = NOW // 1000
    body = skew_client.post(
        "mutation ($a: DateTime!, $b: DateTime!) { recordPowerReadings(inputs: ["
        '{timestamp: $a, station: "Roof", activePower1: 10}, {timestamp: $b, station: "Roof", activePower1: 11}'
        "]) { count } }",
        {"a": now, "b": now + 3600},
    )
    [error] = body["errors"]
    assert error["extensions"]["index"] == 1 and error["extensions"]["field"] == "timestamp"
    count = skew_client.data('{ powerReadingCount(filter: {stationName: "Roof"}) }')
    assert count["powerReadingCount"] == 0  # all or nothing

"""Two real server processes on one database and one Redis: what is written or changed through one is read,
pushed and seen through the other (docs/scaling.md, "What is shared how")."""

from __future__ import annotations

import time
from typing import Any

from t3000gql.domain.timeutil import to_datetime
from tests.api.wsclient import GraphQLSocket
from tests.scale.conftest import Site
from tests.scale.servers import Server, running, wait_for

DEVICE = 41
POINT = {"deviceId": DEVICE, "pointType": "INPUT", "pointNumber": 1}
SETUP = """
mutation {
  upsertDevice(input: {deviceId: 41, deviceName: "AHU-41", deviceType: "T3-BB"}) { deviceId }
  upsertMonitoringPoints(deviceId: 41, points: [{pointType: INPUT, pointNumber: 1}, {pointType: INPUT, pointNumber: 2}])
    { inserted }
}
"""
STORE = "mutation ($s: [TimeSeriesSampleInput!]!) { storeTimeSeries(samples: $s) { inserted updated } }"
CURRENT = "{ point(deviceId: 41, pointType: INPUT, pointNumber: 1) { current { value } } }"
WATCH = (
    "subscription ($points: [PointRefInput!]) { pointValues(points: $points) "
    "{ deviceId pointType pointNumber value timestamp source } }"
)
SERIES = (
    "query ($start: DateTime!, $end: DateTime!) { timeseries(deviceId: 41, pointType: INPUT, pointNumber: 2, "
    "startTime: $start, endTime: $end) { totalPoints points { timestamp value } } }"
)


def iso(ts_ms: int) -> str:
    return to_datetime(ts_ms).isoformat(timespec="milliseconds")


def sample(number: int, ts_ms: int, value: float) -> dict[str, Any]:
    return {
        "deviceId": DEVICE,
        "pointType": "INPUT",
        "pointNumber": number,
        "value": value,
        "timestamp": iso(ts_ms),
    }


async def current_on(server: Server) -> float | None:
    point = (await server.data(CURRENT))["point"]
    current = point["current"] if point else None
    return None if current is None else float(current["value"])


async def test_a_write_through_one_server_is_read_and_pushed_through_the_other(site: Site) -> None:
    env = site.environment()
    with running(site.workdir / "a", env, name="a") as a, running(site.workdir / "b", env, name="b") as b:
        await a.data(SETUP)
        now = int(time.time() * 1000)
        await a.data(STORE, {"s": [sample(1, now, 20.5)]})
        # The value reached the other process's cache over the bus (it is fresh there: no device is asked).
        assert await wait_for(lambda: _equal(current_on(b), 20.5), "the value in b's cache")
        async with GraphQLSocket.open(b.ws_url) as on_b:
            await on_b.subscribe("v", WATCH, {"points": [POINT]})
            first = (await on_b.next_data("v"))["pointValues"]  # the current value: subscribed by now
            assert (first["value"], first["timestamp"]) == (20.5, iso(now))
            await a.data(STORE, {"s": [sample(1, now + 1, 21.25)]})
            pushed = (await on_b.next_data("v"))["pointValues"]
            assert (pushed["value"], pushed["timestamp"], pushed["source"]) == (21.25, iso(now + 1), "API")


async def test_history_written_across_a_new_year_through_one_server_is_read_whole_through_the_other(
    site: Site,
) -> None:
    env = site.environment()
    with running(site.workdir / "a", env, name="a") as a, running(site.workdir / "b", env, name="b") as b:
        await a.data(SETUP)
        before = (await b.health())["partitions"]
        assert before == []  # b started with no yearly table at all
        new_year = 1_767_225_600_000  # 2026-01-01T00:00:00Z
        stamps = [new_year - 60_000, new_year - 1, new_year, new_year + 60_000]
        await a.data(STORE, {"s": [sample(2, ts, float(i)) for i, ts in enumerate(stamps)]})
        series = (await b.data(SERIES, {"start": iso(new_year - 3_600_000), "end": iso(new_year + 3_600_000)}))[
            "timeseries"
        ]
        assert series["totalPoints"] == 4
        assert [p["timestamp"] for p in series["points"]] == [iso(ts) for ts in stamps]


async def test_registry_changes_through_one_server_are_seen_through_the_other(site: Site) -> None:
    env = site.environment()
    with running(site.workdir / "a", env, name="a") as a, running(site.workdir / "b", env, name="b") as b:
        await a.data(SETUP)
        assert (await b.data("{ device(deviceId: 41) { deviceName } }"))["device"]["deviceName"] == "AHU-41"
        await a.data('mutation { upsertDevice(input: {deviceId: 41, deviceName: "AHU-41 east"}) { deviceId } }')

        async def renamed() -> bool:
            device = (await b.data("{ device(deviceId: 41) { deviceName } }"))["device"]
            return bool(device["deviceName"] == "AHU-41 east")

        assert await wait_for(renamed, "the new name through b")
        await a.data("mutation { deleteMonitoringPoint(deviceId: 41, pointType: INPUT, pointNumber: 1) }")

        async def gone() -> bool:
            points = (await b.data("{ device(deviceId: 41) { points { pointNumber } } }"))["device"]["points"]
            return [p["pointNumber"] for p in points] == [2]

        assert await wait_for(gone, "the deleted point gone through b")
        await a.data("mutation { deleteDevice(deviceId: 41) }")

        async def device_gone() -> bool:
            body = await b.graphql("{ device(deviceId: 41) { deviceName } }")
            return [error["extensions"]["code"] for error in body.get("errors", [])] == ["NOT_FOUND"]

        assert await wait_for(device_gone, "the deleted device gone through b")


async def _equal(value: Any, expected: float) -> bool:
    return bool(await value == expected)

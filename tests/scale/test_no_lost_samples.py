"""No lost samples (docs/outages.md), with real server processes and another process holding the database's write
lock (SQLite: `BEGIN EXCLUSIVE` from another connection; PostgreSQL: an EXCLUSIVE lock on every table): samples
collected during the outage all land once, in order, after it; API writes fail fast with DATABASE_UNAVAILABLE
while reads go on; an entry that cannot be written goes to the dead-letter file and the rest land."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from t3000gql.domain.health import HealthState
from tests.api.wsclient import GraphQLSocket
from tests.postgres import query_sql, write_lock_held_async
from tests.scale.conftest import Site
from tests.scale.servers import Server, running, start, wait_for

# scripts/station_sim.py is a script, not a package module: tests import it from there.
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from station_sim import StationSimulator  # noqa: E402

DEVICE = 71
INTERVAL_S = 2
SETUP = f"""
mutation {{
  upsertDevice(input: {{deviceId: {DEVICE}, deviceName: "AHU-71", deviceType: "T3-BB", protocol: SIMULATED}}) {{
    deviceId
  }}
  upsertMonitoringPoints(deviceId: {DEVICE}, points: [{{pointType: INPUT, pointNumber: 1}},
    {{pointType: INPUT, pointNumber: 2}}, {{pointType: INPUT, pointNumber: 3}}]) {{ inserted }}
}}
"""
TREND_LOG = f"""
mutation {{
  upsertTrendLog(deviceId: {DEVICE}, input: {{trendLogName: "fast", intervalSeconds: {INTERVAL_S},
    points: [{{pointType: INPUT, pointNumber: 1}}, {{pointType: INPUT, pointNumber: 2}}]}}) {{ trendLogId }}
}}
"""
STOP = (
    f"mutation {{ upsertTrendLog(deviceId: {DEVICE}, input: {{trendLogId: %d, isActive: false}}) "
    "{ trendLogId } }"
)
STORE = "mutation ($s: [TimeSeriesSampleInput!]!) { storeTimeSeries(samples: $s) { inserted } }"
UPDATE = (
    f"mutation {{ updateDeviceData(deviceId: {DEVICE}, values: [{{pointType: INPUT, pointNumber: 3, value: 3.5}}]) "
    "{ inserted } }"
)
HISTORY = (
    "{ timeseries(deviceId: %d, pointType: INPUT, pointNumber: %d, startTime: 0, endTime: 4000000000) "
    "{ columns { timestamps } } }"
)
LIVE = f"subscription {{ pointValues(deviceId: {DEVICE}, includeInitial: false) {{ pointNumber timestamp }} }}"


async def stamps(server: Server, number: int) -> list[int]:
    data = await server.data(HISTORY % (DEVICE, number))
    return list(data["timeseries"]["columns"]["timestamps"])


async def writes(server: Server) -> dict[str, Any]:
    health = await server.health()
    report: dict[str, Any] = health["writes"]
    return report


async def listen(server: Server, heard: list[tuple[int, int]]) -> None:
    """Every live value of the device, as (point number, epoch ms) in the order the server published them."""
    async with GraphQLSocket.open(server.ws_url) as socket:
        await socket.subscribe("live", LIVE)
        while True:
            message = json.loads(await socket.ws.recv())
            if message["type"] == "ping":
                await socket.send({"type": "pong"})
            elif message["type"] == "next":
                value = message["payload"]["data"]["pointValues"]
                ms = int(datetime.fromisoformat(value["timestamp"]).timestamp() * 1000)
                heard.append((value["pointNumber"], ms))


async def test_samples_collected_during_an_outage_all_land_once_in_order_and_api_writes_fail_fast(
    site: Site,
) -> None:
    env = site.environment(
        database_busy_timeout_ms=1000,
        api_request_timeout_seconds=3,
        collector_retry_interval_ms=200,
        collector_backlog_memory_samples=4,  # two runs in memory, the rest spooled to disk
    )
    with running(site.workdir / "s", env, name="server") as server:
        await server.data(SETUP)
        heard: list[tuple[int, int]] = []
        listener = asyncio.create_task(listen(server, heard))
        try:
            # the subscription is live once it hears a write (of a point the trend log does not collect)
            seconds = itertools.count(1_789_999_000)
            await wait_for(lambda: _heard_after_write(server, heard, next(seconds)), "the subscription")
            trend_log = (await server.data(TREND_LOG))["upsertTrendLog"]["trendLogId"]
            await wait_for(lambda: _at_least(server, 2), "two runs before the outage")

            # The outage: longer than the busy timeout (1 s), several collection intervals.
            async with write_lock_held_async(site.database_url):
                before = len(await stamps(server, 1))
                await wait_for(lambda: _spooled(server), "samples held in memory, then spooled", bound=60)

                # API writes: refused with DATABASE_UNAVAILABLE (not TIMEOUT, not a hang), six at once
                refusals = await asyncio.gather(
                    *(server.graphql(STORE, _sample(1_790_000_000 + i)) for i in range(6)),
                    server.graphql(UPDATE),
                )
                assert [[e["extensions"]["code"] for e in r["errors"]] for r in refusals] == [
                    ["DATABASE_UNAVAILABLE"]
                ] * 7
                database = (await writes(server))["database"]
                assert database["refusing"] is True and database["outages"] == 1
                assert database["refusedFast"] >= 7  # none of them waited for the busy timeout
                # reads go on
                assert len(await stamps(server, 1)) == before
                during = await writes(server)
                report = await server.health()  # /health: not ready (503), the backlog a warning of its own
                assert report["ready"] is False
                assert report["health"]["components"]["writeBacklog"]["state"] == HealthState.WARNING.value
            held = during["collector"]
            assert held["pending"] and held["spooledBytes"] > 0 and held["oldestMs"] is not None

            # After: every held sample lands, once, in order, and new runs follow them.
            await wait_for(lambda: _drained(server, held["kept"]), "the backlog to be written", bound=60)
            await wait_for(lambda: _at_least(server, before + held["kept"] // 2 + 1), "a run after the outage")
            await server.data(STOP % trend_log)  # the counts stand still from here
            await wait_for(lambda: _idle(server), "the last run to end")
            stored = {number: await stamps(server, number) for number in (1, 2)}
            await wait_for(lambda: _all_heard(heard, stored), "every stored sample published")
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        collected = (await server.health())["collection"]["total"]
        assert collected["failures"] == 0
        # every sample collected is stored, once (a run the scheduler skipped on a busy machine collected none)
        assert len(stored[1]) + len(stored[2]) == collected["samples"]
        for number in (1, 2):
            assert all(
                later - earlier >= INTERVAL_S * 1000 for earlier, later in itertools.pairwise(stored[number])
            )
            published = [ms for point, ms in heard if point == number]
            assert published == sorted(published) == stored[number]  # written in the order collected, once
        after = await writes(server)
        assert after["database"]["refusing"] is False
        assert after["collector"]["pending"] is False and after["collector"]["spooledBytes"] == 0
        assert after["collector"]["deadLetters"] == 0
        assert after["collector"]["drained"] == after["collector"]["kept"] >= held["kept"]
        spool = Path(_beside(site.database_url, site.workdir / "s", ".collector-spool"))
        assert not await asyncio.to_thread(lambda: [*spool.parent.glob(spool.name + ".*")])  # spool files gone
        # writes work again
        assert await server.data(STORE, _sample(1_790_000_100)) == {"storeTimeSeries": {"inserted": 1}}


async def _idle(server: Server) -> bool:
    collection = (await server.health())["collection"]
    return bool(collection["running"] == 0 and collection["scheduledTrendLogs"] == 0)


async def _all_heard(heard: list[tuple[int, int]], stored: dict[int, list[int]]) -> bool:
    return all(set(stored[number]) <= {ms for point, ms in heard if point == number} for number in stored)


async def _heard_after_write(server: Server, heard: list[tuple[int, int]], second: int) -> bool:
    if any(point == 3 for point, _ in heard):
        return True
    await server.data(STORE, _sample(second))
    return False


async def _at_least(server: Server, count: int) -> bool:
    return len(await stamps(server, 1)) >= count and len(await stamps(server, 2)) >= count


async def _spooled(server: Server) -> bool:
    held = (await writes(server))["collector"]
    return bool(held["spooledBytes"] > 0 and held["kept"] >= 8)


async def _drained(server: Server, kept: int) -> bool:
    held = (await writes(server))["collector"]
    return bool(not held["pending"] and held["drained"] >= kept)


def _sample(second: int) -> dict[str, Any]:
    return {"s": [{"deviceId": DEVICE, "pointType": "INPUT", "pointNumber": 3, "value": 1.5, "timestamp": second}]}


async def test_a_spooled_entry_that_cannot_be_written_goes_to_the_dead_letter_file_and_the_rest_land(
    site: Site,
) -> None:
    env = site.environment(collector_retry_interval_ms=200)
    workdir = site.workdir / "d"
    with running(workdir, env, name="setup") as server:
        await server.data(SETUP)
    spool = Path(_beside(site.database_url, workdir, ".collector-spool.1"))
    good = [[DEVICE, 1, 1, 1_790_000_000_000, 20.5, 0], [DEVICE, 1, 2, 1_790_000_000_000, 18.0, 0]]
    unknown = [[DEVICE, 1, 9, 1_790_000_002_000, 1.0, 0]]  # no such point
    later = [[DEVICE, 1, 1, 1_790_000_004_000, 21.0, 0]]
    lines = [
        {"trendLogId": None, "ts": 1_790_000_000_000, "samples": good},
        {"trendLogId": None, "ts": 1_790_000_002_000, "samples": unknown},
        {"trendLogId": None, "ts": 1_790_000_004_000, "samples": later},
    ]
    await asyncio.to_thread(spool.write_bytes, b"".join(orjson.dumps(line) + b"\n" for line in lines))
    with running(workdir, env, name="server") as server:
        await wait_for(lambda: _dead(server), "the bad entry to be set aside")
        assert await stamps(server, 1) == [1_790_000_000_000, 1_790_000_004_000]
        assert await stamps(server, 2) == [1_790_000_000_000]
        held = (await writes(server))["collector"]
    assert not await asyncio.to_thread(spool.exists)
    text = await asyncio.to_thread(Path(held["deadLetterPath"]).read_bytes)
    dead = [orjson.loads(line) for line in text.splitlines()]
    assert [entry["entry"]["samples"] for entry in dead] == [unknown]
    assert "not a known point" in dead[0]["reason"] and "item 0" in dead[0]["reason"]


async def _dead(server: Server) -> bool:
    held = (await writes(server))["collector"]
    return bool(held["deadLetters"] == 1 and not held["pending"])


def _beside(database_url: str, workdir: Path, suffix: str) -> str:
    """A file the server keeps beside its database: the SQLite file's, or its working directory's."""
    if database_url.startswith("sqlite:"):
        return database_url.removeprefix("sqlite:///") + suffix
    name = database_url.rsplit("/", 1)[1]
    return str(workdir / f"t3000gql-{name}{suffix}")


READINGS = 300


async def test_kill_9_with_readings_in_the_station_monitors_buffer_loses_none(site: Site) -> None:
    """Every reading the monitor counted as received is on disk (its journal of receipts) before it is buffered:
    a server killed with all of them still in its buffer stores all of them at its next start, once each."""
    workdir = site.workdir / "k"
    holding = site.environment(station_flush_interval_ms=60_000, station_flush_readings=100_000)
    async with StationSimulator(["ST-K"], rate_hz=100, max_readings=READINGS) as simulator:
        simulator.pause()
        server = start(workdir, holding, name="killed")
        try:
            await server.data(
                'mutation ($url: String) { createStation(input: {name: "ST-K", websocketUrl: $url}) { deviceId } }',
                {"url": simulator.url("ST-K")},
            )
            await wait_for(lambda: _connected(server), "the station's connection")
            simulator.resume()
            await wait_for(lambda: _buffered(server, READINGS), "every reading received and held in the buffer")
            assert _stored(site.database_url) == 0  # all of them only in the buffer (and the journal)
        finally:
            server.kill()
        assert simulator.total_sent == READINGS
    with running(workdir, site.environment(), name="restarted") as restarted:
        await wait_for(
            lambda: _stored_async(site.database_url, READINGS), "every reading stored after the restart"
        )
        monitor = (await writes(restarted))["stationMonitor"]
    assert _stored(site.database_url) == READINGS
    assert monitor["journaledBytes"] == 0 and monitor["spooledBytes"] == 0
    spool = Path(_beside(site.database_url, workdir, ".station-spool"))
    assert not await asyncio.to_thread(lambda: [*spool.parent.glob(spool.name + ".journal.*")] or spool.exists())


async def _connected(server: Server) -> bool:
    monitor = (await server.health())["stationMonitor"]
    return bool(monitor and monitor["connected"] == 1)


async def _buffered(server: Server, count: int) -> bool:
    monitor = (await writes(server))["stationMonitor"]
    return bool(monitor and monitor["buffered"] == count and monitor["journaledBytes"] > 0)


def _stored(database_url: str) -> int:
    return int(query_sql(database_url, "SELECT count(*) FROM power_readings")[0][0])


async def _stored_async(database_url: str, count: int) -> bool:
    return await asyncio.to_thread(_stored, database_url) == count


async def test_a_write_waiting_for_a_lock_past_its_requests_time_answers_database_unavailable_not_timeout(
    site: Site,
) -> None:
    """The busy timeout (10 s) is longer than the request's time (1.5 s): the write gives up before the request's
    deadline with DATABASE_UNAVAILABLE, and, having given up early, does not count as an outage."""
    env = site.environment(database_busy_timeout_ms=10_000, api_request_timeout_seconds=1.5)
    with running(site.workdir / "t", env, name="server") as server:
        await server.data(SETUP)
        async with write_lock_held_async(site.database_url):
            refused = await server.graphql(STORE, _sample(1_790_000_000))
            assert [e["extensions"]["code"] for e in refused["errors"]] == ["DATABASE_UNAVAILABLE"]
            assert (await writes(server))["database"]["outages"] == 0
            assert len(await stamps(server, 3)) == 0  # reads go on; nothing was written
        assert await server.data(STORE, _sample(1_790_000_000)) == {"storeTimeSeries": {"inserted": 1}}

"""kill -9 the leader: the other server takes collection over within LEADER_TIMEOUT_SECONDS, from the next
boundary, and no interval is collected twice. Real processes, a real Modbus simulator (in this test's process,
its values changing), one trend log sampled every second."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator
from tests.api.wsclient import GraphQLSocket
from tests.scale.conftest import Site
from tests.scale.servers import Server, running, wait_for

DEVICE = 51
LEADER_TIMEOUT = 5
WATCH = "subscription { pointValues(deviceId: 51, includeInitial: false) { pointNumber timestamp value } }"
SERIES = (
    "query ($n: Int!) { timeseries(deviceId: 51, pointType: INPUT, pointNumber: $n, "
    'startTime: "2020-01-01T00:00:00Z", endTime: "2100-01-01T00:00:00Z") { points { timestamp } } }'
)


def setup(sim: T3ModbusSimulator) -> str:
    return f"""
mutation {{
  upsertDevice(input: {{deviceId: {DEVICE}, deviceName: "T3 51", deviceType: "T3-BB", protocol: MODBUS,
    ipAddress: "{sim.host}", port: {sim.port}, modbusUnitId: 1}}) {{ deviceId }}
  upsertMonitoringPoints(deviceId: {DEVICE}, points: [{{pointType: INPUT, pointNumber: 1}},
    {{pointType: INPUT, pointNumber: 2}}, {{pointType: INPUT, pointNumber: 3}}]) {{ inserted }}
  upsertTrendLog(deviceId: {DEVICE}, input: {{trendLogName: "every second", intervalSeconds: 1, points: [
    {{pointType: INPUT, pointNumber: 1}}, {{pointType: INPUT, pointNumber: 2}}, {{pointType: INPUT, pointNumber: 3}}
  ]}}) {{ trendLogId }}
}}
"""


def collected(health: dict[str, Any]) -> dict[str, int]:
    total: dict[str, int] = health["collection"]["total"]
    return total


async def test_killing_the_leader_hands_collection_to_the_other_without_collecting_an_interval_twice(
    site: Site,
) -> None:
    env = site.environment(leader_timeout_seconds=LEADER_TIMEOUT, cache_duration_seconds=3600)
    async with T3ModbusSimulator(units=[1], update_interval=0.1) as sim:
        with running(site.workdir / "a", env, name="a") as a, running(site.workdir / "b", env, name="b") as b:
            health_a, health_b = await a.health(), await b.health()
            assert health_a["leadership"]["isLeader"] and not health_b["leadership"]["isLeader"]
            assert health_b["leadership"]["leader"]["pid"] == a.process.pid == health_a["process"]["pid"]
            await a.data(setup(sim))
            await wait_for(lambda: _runs_at_least(a, 2), "two runs on the leader")

            pushed: list[tuple[int, str]] = []
            async with GraphQLSocket.open(b.ws_url) as on_b:
                await on_b.subscribe("values", WATCH)
                listener = asyncio.create_task(_record(on_b, pushed))
                try:
                    await wait_for(lambda: _true(bool(pushed)), "a collected value pushed through the follower")
                    assert collected(await b.health())["runs"] == 0  # the follower collected nothing so far
                    a.kill()

                    async def b_leads() -> bool:
                        return bool((await b.health())["leadership"]["isLeader"])

                    await wait_for(b_leads, "the follower to lead", bound=LEADER_TIMEOUT)
                    await wait_for(lambda: _runs_at_least(b, 3), "three runs on the new leader")
                finally:
                    listener.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await listener

            health_b = await b.health()
            assert health_b["leadership"]["leader"]["pid"] == health_b["process"]["pid"]
            total = collected(health_b)
            assert total["failures"] == 0
            # Every sample the new leader collected was new to history: no interval was collected twice.
            assert total["repeatedSamples"] == 0
            assert len(pushed) == len(set(pushed))  # nor pushed twice, whoever collected it
            for number in (1, 2, 3):
                stamps = [p["timestamp"] for p in (await b.data(SERIES, {"n": number}))["timeseries"]["points"]]
                assert len(stamps) == len(set(stamps)) >= 5
                assert all(stamp.endswith(".000+00:00") for stamp in stamps)  # each on a second's boundary


async def _runs_at_least(server: Server, runs: int) -> bool:
    return collected(await server.health())["runs"] >= runs


async def _true(value: bool) -> bool:
    return value


async def _record(socket: GraphQLSocket, pushed: list[tuple[int, str]]) -> None:
    while True:
        value = (await socket.next_data("values"))["pointValues"]
        pushed.append((value["pointNumber"], value["timestamp"]))

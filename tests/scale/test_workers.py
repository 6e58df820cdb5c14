"""`t3000gql serve --workers N`: N processes on one port, one of them leading; a worker killed is started again;
SIGTERM stops them all; on SQLite one writer at a time, the others waiting their turn up to
DATABASE_BUSY_TIMEOUT_MS and answering DATABASE_UNAVAILABLE past it. Real processes throughout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.scale.conftest import Site
from tests.scale.servers import Server, running, start, wait_for

SETUP = """
mutation {
  upsertDevice(input: {deviceId: 61, deviceName: "VAV-61", deviceType: "T3-BB"}) { deviceId }
  upsertMonitoringPoints(deviceId: 61, points: [{pointType: VARIABLE, pointNumber: 1}]) { inserted }
}
"""
STORE = "mutation ($s: [TimeSeriesSampleInput!]!) { storeTimeSeries(samples: $s) { inserted } }"
T0_S = 1_790_000_000


def samples(second: int) -> dict[str, Any]:
    return {"s": [{"deviceId": 61, "pointType": "VARIABLE", "pointNumber": 1, "value": 1.5, "timestamp": second}]}


async def workers_seen(server: Server, count: int) -> dict[int, dict[str, Any]]:
    """/health of `count` different workers (each request on a new connection, so the kernel spreads them)."""
    seen: dict[int, dict[str, Any]] = {}

    async def probe() -> dict[int, dict[str, Any]] | None:
        health = await server.health()
        seen[health["process"]["pid"]] = health
        return dict(seen) if len(seen) >= count else None

    return await wait_for(probe, f"{count} workers answering")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_two_workers_share_one_port_one_leads_a_killed_one_is_replaced_and_sigterm_stops_all(
    site: Site,
) -> None:
    server = start(site.workdir / "w", site.environment(), "--workers", "2", name="workers")
    try:
        workers = await workers_seen(server, 2)
        leaders = [pid for pid, health in workers.items() if health["leadership"]["isLeader"]]
        assert len(leaders) == 1
        assert all(health["leadership"]["leader"]["pid"] == leaders[0] for health in workers.values())

        await server.data(SETUP)
        # Concurrent writes land on both workers; SQLite takes one writer at a time and every write succeeds.
        answers = await asyncio.gather(*(server.graphql(STORE, samples(T0_S + i)) for i in range(40)))
        assert [answer.get("errors") for answer in answers] == [None] * 40
        counted = await server.data(
            "{ timeseries(deviceId: 61, pointType: VARIABLE, pointNumber: 1, startTime: 0, endTime: 4000000000) "
            "{ totalPoints } }"
        )
        assert counted["timeseries"]["totalPoints"] == 40

        os.kill(leaders[0], signal.SIGKILL)

        async def replaced() -> dict[int, dict[str, Any]] | None:
            fresh = await workers_seen(server, 2)
            new = {pid: health for pid, health in fresh.items() if pid != leaders[0] and alive(pid)}
            if len(new) < 2:
                return None
            leading = {
                health["leadership"]["leader"]["pid"] for health in new.values() if health["leadership"]["leader"]
            }
            led = [pid for pid, health in new.items() if health["leadership"]["isLeader"]]
            return new if len(led) == 1 and leading == set(led) else None

        workers = await wait_for(replaced, "a new worker and a new leader")
    finally:
        status = server.stop()
    assert status == 0, server.output()[-2000:]
    await wait_for(lambda: _none_alive(workers), "every worker to end")


async def _none_alive(workers: dict[int, Any]) -> bool:
    return not any(alive(pid) for pid in workers)


def serve(env: dict[str, str], *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "t3000gql", "serve", "--port", "0", *arguments],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_several_workers_refuse_a_bus_of_one_process_and_the_demo(site: Site) -> None:
    env = site.environment()
    memory = serve({**env, "BROADCAST_URL": "memory://"}, "--workers", "2", cwd=site.workdir)
    assert memory.returncode == 2
    assert "configuration error: BROADCAST_URL='memory://' is not valid" in memory.stderr
    assert "redis://" in memory.stderr
    demo = serve(env, "--workers", "2", "--demo", cwd=site.workdir)
    assert demo.returncode == 2 and "--demo" in demo.stderr
    none = serve(env, "--workers", "0", cwd=site.workdir)
    assert none.returncode == 2 and "--workers='0'" in none.stderr


@pytest.mark.sqlite_only("SQLite's one write lock, held by another process")
async def test_a_write_that_waits_past_the_busy_timeout_answers_database_unavailable(site: Site) -> None:
    env = site.environment(database_busy_timeout_ms=300)
    with running(site.workdir / "s", env, name="server") as server:
        await server.data(SETUP)
        database = site.database_url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as holder:
            holder.execute("BEGIN IMMEDIATE")  # another process's writer, holding the lock too long
            try:
                refused = await server.graphql(STORE, samples(T0_S))
            finally:
                holder.execute("ROLLBACK")
        assert [error["extensions"]["code"] for error in refused["errors"]] == ["DATABASE_UNAVAILABLE"]
        assert await server.data(STORE, samples(T0_S)) == {"storeTimeSeries": {"inserted": 1}}

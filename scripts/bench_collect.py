#!/usr/bin/env python3
"""Collection benchmarks, registered into scripts/bench.py through `SCENARIOS` (or run alone).

    python scripts/bench.py --scenario collect-scan,api-cache-miss
    python scripts/bench_collect.py --repeats 5

collect-scan     100 simulated T3 controllers x 256 points (64 outputs, 64 inputs, 128 variables), one full
                 scan: every controller's two trend logs (128 + 128 points) read through the Modbus driver and
                 recorded through the write path, all at once as one tick starts them. Goal <= 5 s.
                 The controllers are unit ids 1..100 behind 4 simulator processes (25 each, as behind 4
                 gateways), so the simulators' CPU is not the collector's. Floor: bare pymodbus clients (one per
                 simulator, like our links) reading the same register blocks, plus stdlib sqlite3 inserting the
                 same 25,600 rows in one transaction.
api-cache-miss   `current` of a point without a fresh value over HTTP (POST /graphql to `t3000gql serve` in its
                 own process), answered from the simulator: one device read, stored through the write path.
                 p50/p95. Each request asks for a point not read before, so every one is a miss with the real
                 clock. Floor: a bare pymodbus read of the same two registers.
current-miss-service   the same miss at the service level (`Services.read_current`, no HTTP or GraphQL), with
                 an injected clock that makes the one point stale before each read.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pymodbus.client import AsyncModbusTcpClient  # noqa: E402  (the floor only; t3000gql goes through drivers)

from t3000gql.collect.drivers.base import PointSpec  # noqa: E402
from t3000gql.collect.drivers.modbus import plan_reads  # noqa: E402
from t3000gql.config import Settings  # noqa: E402
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput  # noqa: E402
from t3000gql.domain.points import T3_POINT_COUNTS, PointRef, PointType  # noqa: E402
from t3000gql.domain.samples import Sample  # noqa: E402
from t3000gql.services import Services  # noqa: E402
from t3000gql.storage.partitions import PARTITION_TEMPLATE  # noqa: E402

Result = dict[str, Any]
SCENARIOS: dict[str, Callable[[argparse.Namespace], Result]] = {}

CONTROLLERS = 100
SIMULATORS = 4
DEVICE_BASE = 5000


def scenario(
    name: str,
) -> Callable[[Callable[[argparse.Namespace], Result]], Callable[[argparse.Namespace], Result]]:
    def register(func: Callable[[argparse.Namespace], Result]) -> Callable[[argparse.Namespace], Result]:
        SCENARIOS[name] = func
        return func

    return register


def summary(times_ms: list[float], floor_ms: list[float] | None = None, **extra: Any) -> Result:
    """The same keys as scripts/bench.py's summary()."""
    import statistics

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    median = statistics.median(times_ms)
    floor = statistics.median(floor_ms) if floor_ms else None
    return {
        "median_ms": round(median, 3),
        "p95_ms": round(pct(times_ms, 0.95), 3),
        "floor_ms": round(floor, 3) if floor is not None else None,
        "ratio": round(median / floor, 2) if floor else None,
        "rate_per_s": None,
        "repeats": len(times_ms),
        **extra,
    }


class SimulatorProcess:
    """scripts/t3_modbus_sim.py in its own process, on a free port it prints."""

    def __init__(self, units: list[int]) -> None:
        self.units = units
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> SimulatorProcess:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "scripts" / "t3_modbus_sim.py"),
            "--units",
            ",".join(map(str, self.units)),
            "--interval",
            "3600",  # no input animation during the measurement: its CPU would compete with the collector's
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        line = (await asyncio.wait_for(self._process.stdout.readline(), 60)).decode()
        match = re.search(r"on 127\.0\.0\.1:(\d+)", line)
        if not match:
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.port = int(match.group(1))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()


def all_points(device_id: int) -> list[PointRef]:
    return [
        PointRef(device_id, point_type, number)
        for point_type, count in T3_POINT_COUNTS.items()
        for number in range(1, count + 1)
    ]


async def register_site(services: Services, sims: list[SimulatorProcess]) -> None:
    store = services.store
    for sim in sims:
        for unit in sim.units:
            device_id = DEVICE_BASE + unit
            await store.devices.upsert(
                DeviceInput(
                    device_id,
                    device_name=f"T3 {unit}",
                    device_type="T3-BB",
                    protocol="modbus",
                    ip_address="127.0.0.1",
                    port=sim.port,
                    modbus_unit_id=unit,
                )
            )
            refs = all_points(device_id)
            await store.points.upsert(device_id, [PointInput(r.point_type, r.point_number) for r in refs])
            # A trend log holds at most 224 points: inputs + outputs in one, variables in another.
            for name, members in (
                ("IO", [r for r in refs if r.point_type != PointType.VARIABLE]),
                ("VAR", [r for r in refs if r.point_type == PointType.VARIABLE]),
            ):
                await store.trend_logs.upsert(
                    device_id, TrendLogInput(trend_log_name=name, interval_seconds=1, points=tuple(members))
                )


async def floor_scan(sims: list[SimulatorProcess], db: sqlite3.Connection, ts_ms: int) -> float:
    """Bare pymodbus reads of the same blocks (one client per simulator), then sqlite3 inserts the rows."""
    started = time.perf_counter()
    rows: list[tuple[int, int, float]] = []

    async def read_all(sim: SimulatorProcess) -> None:
        client = AsyncModbusTcpClient("127.0.0.1", port=sim.port)
        await client.connect()
        try:
            for unit in sim.units:
                specs = [PointSpec(ref) for ref in all_points(unit)]
                for block in plan_reads(specs):
                    response = await client.read_holding_registers(block.start, count=block.count, device_id=unit)
                    registers = response.registers
                    for point, rmap in block.members:
                        offset = rmap.register - block.start
                        value = rmap.decode(registers[offset : offset + 2])
                        rows.append((unit * 1000 + point.ref.point_number, ts_ms, value))
        finally:
            client.close()

    await asyncio.gather(*(read_all(sim) for sim in sims))
    db.execute("BEGIN")
    db.executemany("INSERT OR REPLACE INTO timeseries_data_floor (point_id, ts, value) VALUES (?, ?, ?)", rows)
    db.execute("COMMIT")
    return (time.perf_counter() - started) * 1000


@scenario("collect-scan")
def collect_scan(args: argparse.Namespace) -> Result:
    """One full scan of 100 controllers x 256 points; goal <= 5 s."""

    async def run(tmp: Path) -> Result:
        per_sim = CONTROLLERS // SIMULATORS
        async with AsyncExitStack() as stack:
            sims = [
                await stack.enter_async_context(
                    SimulatorProcess(list(range(1 + i * per_sim, 1 + (i + 1) * per_sim)))
                )
                for i in range(SIMULATORS)
            ]
            settings = Settings.defaults(
                database_url=f"sqlite:///{tmp}/bench.db",
                background_collection_enabled=False,  # the benchmark starts each scan itself
                t3000_interface_timeout_ms=5000,
            )
            services = await Services.start(settings)
            try:
                await register_site(services, sims)
                collector = services.collection.collector
                await collector.sync()
                floor_db = sqlite3.connect(tmp / "floor.db", isolation_level=None)
                floor_db.execute("PRAGMA journal_mode=WAL")
                floor_db.execute("PRAGMA synchronous=NORMAL")
                floor_db.execute(
                    "CREATE TABLE monitoring_points (id INTEGER PRIMARY KEY)"
                )  # the partition's foreign key target
                floor_db.executemany(
                    "INSERT INTO monitoring_points VALUES (?)",
                    [(u * 1000 + n,) for u in range(1, CONTROLLERS + 1) for n in range(1, 129)],
                )
                floor_db.execute(PARTITION_TEMPLATE.format(table="timeseries_data_floor"))
                second = int(time.time()) - 100_000
                collector.run_due(second)  # the first tick only sets the starting point
                ours, floor, samples = [], [], 0
                for repeat in range(args.repeats + 1):
                    second += 1
                    metrics_before = services.collection.metrics.samples_total
                    started = time.perf_counter()
                    due = collector.run_due(second)
                    await collector.wait_idle()
                    took = (time.perf_counter() - started) * 1000
                    samples = services.collection.metrics.samples_total - metrics_before
                    assert due == 2 * CONTROLLERS, due
                    assert samples == CONTROLLERS * 256, (samples, services.collection.report()["lastError"])
                    floor_took = await floor_scan(sims, floor_db, second * 1000)
                    if repeat:  # the first scan opens the connections: warm-up
                        ours.append(took)
                        floor.append(floor_took)
                report = services.collection.report()
            finally:
                await services.stop()
        result = summary(
            ours,
            floor,
            controllers=CONTROLLERS,
            points_per_scan=samples,
            trend_logs=2 * CONTROLLERS,
            simulator_processes=SIMULATORS,
            failures=report["total"]["failures"],
            goal_ms=5000,
            goal_met=None,
        )
        result["rate_per_s"] = round(samples / (result["median_ms"] / 1000))
        result["goal_met"] = result["p95_ms"] <= 5000
        return result

    return in_tmp(run)


@scenario("current-miss-service")
def current_miss_service(args: argparse.Namespace) -> Result:
    """The current value of a stale point, read from the simulator; p50/p95 at the service level."""

    async def run(tmp: Path) -> Result:
        now = [int(time.time() * 1000)]
        async with SimulatorProcess([1]) as sim:
            settings = Settings.defaults(
                database_url=f"sqlite:///{tmp}/bench.db", background_collection_enabled=False
            )
            services = await Services.start(settings, clock=lambda: now[0])
            try:
                store = services.store
                device_id = DEVICE_BASE + 1
                await store.devices.upsert(
                    DeviceInput(
                        device_id,
                        device_name="T3",
                        device_type="T3-BB",
                        protocol="modbus",
                        ip_address="127.0.0.1",
                        port=sim.port,
                        modbus_unit_id=1,
                    )
                )
                ref = PointRef(device_id, PointType.INPUT, 1)
                await store.points.upsert(device_id, [PointInput(ref.point_type, ref.point_number)])
                await store.writes.record([Sample(ref, now[0], 0.0)], "bench")
                point_id = (await store.points.resolve([ref]))[ref]
                stale_after = settings.cache_duration_seconds * 1000
                iterations = max(50, args.repeats * 20)
                misses, hits = [], []
                for i in range(iterations + 5):
                    now[0] += stale_after + 1000  # the cached value is stale now
                    took = await atimed(lambda: services.read_current([point_id]))
                    reading = await services.read_current([point_id])  # fresh now: a cache hit
                    hit = await atimed(lambda: services.read_current([point_id]))
                    assert not reading.values[point_id].stale and not reading.errors, reading
                    if i >= 5:
                        misses.append(took)
                        hits.append(hit)
                device_reads = services.collection.reader.device_reads
            finally:
                await services.stop()
            floor = await floor_reads(sim.port, iterations)
        result = summary(
            misses,
            floor,
            level="service (Services.read_current), no HTTP",
            cache_hit_median_ms=round(sorted(hits)[len(hits) // 2], 3),
            device_reads=device_reads,
        )
        result["rate_per_s"] = round(1000 / result["median_ms"])
        return result

    return in_tmp(run)


@scenario("api-cache-miss")
def api_cache_miss(args: argparse.Namespace) -> Result:
    """`current` of a point with no fresh value over HTTP/GraphQL, answered from the simulator: p50/p95.

    The server is `t3000gql serve` in its own process; each request asks for another point never read before
    (a miss with the real clock, without waiting CACHE_DURATION_SECONDS between requests)."""

    async def run(tmp: Path) -> Result:
        async with SimulatorProcess([1]) as sim:
            database_url = f"sqlite:///{tmp}/bench.db"
            settings = Settings.defaults(database_url=database_url, background_collection_enabled=False)
            services = await Services.start(settings)
            try:
                await register_site(services, [sim])
            finally:
                await services.stop()
            refs = all_points(DEVICE_BASE + 1)
            iterations = min(len(refs) - 5, max(50, args.repeats * 20))
            hits: list[float] = []
            port = free_port()
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "BACKGROUND_COLLECTION_ENABLED": "false",
                "PORT": str(port),
            }
            server = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("t3000gql")),
                "serve",
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                times = await asyncio.to_thread(http_misses, port, refs[: iterations + 5], hits)
            finally:
                server.terminate()
                await server.wait()
            floor = await floor_reads(sim.port, iterations)
        misses = times[5:]
        result = summary(
            misses,
            floor,
            level="HTTP POST /graphql to `t3000gql serve` in its own process",
            cache_hit_median_ms=round(sorted(hits[5:])[len(hits[5:]) // 2], 3),
        )
        result["rate_per_s"] = round(1000 / result["median_ms"])
        return result

    return in_tmp(run)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_misses(port: int, refs: list[PointRef], hits: list[float]) -> list[float]:
    """One keep-alive connection; each request the current value of a point not read before."""
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/health")
            conn.getresponse().read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    times = []
    for ref in refs:
        query = (
            f"{{ point(deviceId: {ref.device_id}, pointType: {ref.point_type.name}, pointNumber: "
            f"{ref.point_number}) {{ current {{ value stale source }} }} }}"
        )
        body = json.dumps({"query": query})
        started = time.perf_counter()
        conn.request("POST", "/graphql", body, {"content-type": "application/json"})
        answer = json.loads(conn.getresponse().read())
        times.append((time.perf_counter() - started) * 1000)
        current = answer["data"]["point"]["current"]
        assert "errors" not in answer and current["source"] == "ON_DEMAND" and not current["stale"], answer
        started = time.perf_counter()
        conn.request("POST", "/graphql", body, {"content-type": "application/json"})
        conn.getresponse().read()
        hits.append((time.perf_counter() - started) * 1000)  # the same point again: a cache hit
    conn.close()
    return times


async def floor_reads(port: int, iterations: int) -> list[float]:
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    try:
        times = []
        for i in range(iterations + 5):
            took = await atimed(lambda: client.read_holding_registers(7484, count=2, device_id=1))
            if i >= 5:
                times.append(took)
        return times
    finally:
        client.close()


async def atimed(func: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await func()
    return (time.perf_counter() - start) * 1000


def in_tmp(run: Callable[[Path], Awaitable[Result]]) -> Result:
    with tempfile.TemporaryDirectory(prefix="t3000gql-bench-collect-") as tmp:
        return asyncio.run(run(Path(tmp)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", help="comma-separated names (default: all): " + ", ".join(SCENARIOS))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    for name in args.scenario.split(",") if args.scenario else SCENARIOS:
        print(name, json.dumps(SCENARIOS[name](args)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

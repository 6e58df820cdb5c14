"""Collection scenarios: scans and on-demand reads from simulated T3 controllers (scripts/t3_modbus_sim.py, each
simulator in a process of its own so that its CPU is not the collector's), through the real Modbus driver.

collect-scan     100 simulated T3 controllers x 256 points (64 outputs, 64 inputs, 128 variables), one full scan:
                 every controller's two trend logs (128 + 128 points) read through the Modbus driver and recorded
                 through the write path, all at once as one tick starts them. The controllers are unit ids 1..100
                 behind 4 simulator processes (25 each, as behind 4 gateways).
api-cache-miss   `current` of a point without a fresh value over HTTP (the app in its own process), answered from
                 the simulator: one device read, stored through the write path. Each request asks for a point not
                 read before, so every one is a miss with the real clock.
current-miss-service   the same miss at the service level (`services.collection.read_current`, no HTTP or
                 GraphQL), with an injected clock that makes the one point stale before each read.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import sqlite3
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient  # the floor only; t3000gql goes through its drivers

from benchlib import SCRIPTS
from benchlib.context import Context
from benchlib.registry import Result, scenario
from benchlib.report import measured, per_second
from benchlib.serve import Setting, serve
from benchlib.stats import atimed, median
from t3000gql.collect.drivers.base import PointSpec
from t3000gql.collect.drivers.modbus import plan_reads
from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
from t3000gql.domain.points import T3_POINT_COUNTS, PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.services import Services
from t3000gql.storage.partitions import PARTITION_TEMPLATE

CONTROLLERS = 100
SIMULATORS = 4
DEVICE_BASE = 5000
ONE_READ_FLOOR = "one bare pymodbus read of the same two registers"


class SimulatorProcess:
    """scripts/t3_modbus_sim.py in its own process, on a free port it prints."""

    def __init__(self, units: list[int]) -> None:
        self.units = units
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> SimulatorProcess:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPTS / "t3_modbus_sim.py"),
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


def _floor_db(path: Path) -> sqlite3.Connection:
    floor_db = sqlite3.connect(path, isolation_level=None)
    floor_db.execute("PRAGMA journal_mode=WAL")
    floor_db.execute("PRAGMA synchronous=NORMAL")
    floor_db.execute("CREATE TABLE monitoring_points (id INTEGER PRIMARY KEY)")  # the partition's FK target
    floor_db.executemany(
        "INSERT INTO monitoring_points VALUES (?)",
        [(u * 1000 + n,) for u in range(1, CONTROLLERS + 1) for n in range(1, 129)],
    )
    floor_db.execute(PARTITION_TEMPLATE.format(table="timeseries_data_floor"))
    return floor_db


@scenario(
    "collect-scan",
    goal="p95_ms <= 5000",
    floor="bare pymodbus clients (one per simulator) reading the same register blocks, then stdlib sqlite3 "
    "inserting the same rows in one transaction",
)
async def collect_scan(ctx: Context) -> Result:
    """One full scan of 100 controllers x 256 points (200 trend logs) through the Modbus driver into the write
    path; rate_per_s is samples per second."""
    per_sim = CONTROLLERS // SIMULATORS
    async with AsyncExitStack() as stack:
        sims = [
            await stack.enter_async_context(SimulatorProcess(list(range(1 + i * per_sim, 1 + (i + 1) * per_sim))))
            for i in range(SIMULATORS)
        ]
        settings = Settings.defaults(
            database_url=ctx.database_url("bench"),
            background_collection_enabled=False,  # the benchmark starts each scan itself
            t3000_interface_timeout_ms=5000,
        )
        services = await Services.start(settings)
        try:
            await register_site(services, sims)
            collector = services.collection.collector
            await collector.sync()
            floor_db = _floor_db(ctx.workdir / "floor.db")
            second = int(time.time()) - 100_000
            collector.run_due(second)  # the first tick only sets the starting point
            ours, floor, samples = [], [], 0
            for repeat in range(ctx.repeats + 1):
                second += 1
                metrics_before = services.collection.metrics.samples_total
                started = time.perf_counter()
                due = collector.run_due(second)
                await collector.wait_idle()
                took = (time.perf_counter() - started) * 1000
                samples = services.collection.metrics.samples_total - metrics_before
                if due != 2 * CONTROLLERS or samples != CONTROLLERS * 256:
                    error = services.collection.report()["lastError"]
                    raise RuntimeError(f"scan started {due} trend logs and stored {samples} samples: {error}")
                floor_took = await floor_scan(sims, floor_db, second * 1000)
                if repeat:  # the first scan opens the connections: warm-up
                    ours.append(took)
                    floor.append(floor_took)
            report = services.collection.report()
        finally:
            await services.stop()
    return measured(
        ours,
        floor,
        rate_per_s=per_second(samples, median(ours)),
        controllers=CONTROLLERS,
        points_per_scan=samples,
        trend_logs=2 * CONTROLLERS,
        simulator_processes=SIMULATORS,
        failures=report["total"]["failures"],
    )


@scenario("current-miss-service", floor=ONE_READ_FLOOR)
async def current_miss_service(ctx: Context) -> Result:
    """The current value of a stale point, read from the simulator, at the service level (no HTTP)."""
    now = [int(time.time() * 1000)]
    async with SimulatorProcess([1]) as sim:
        settings = Settings.defaults(database_url=ctx.database_url("bench"), background_collection_enabled=False)
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
            iterations = max(50, ctx.repeats * 20)
            misses, hits = [], []
            for i in range(iterations + 5):
                now[0] += stale_after + 1000  # the cached value is stale now
                took = await atimed(lambda: services.collection.read_current([point_id]))
                reading = await services.collection.read_current([point_id])  # fresh now: a cache hit
                hit = await atimed(lambda: services.collection.read_current([point_id]))
                if reading.values[point_id].stale or reading.errors:
                    raise RuntimeError(f"the read after a miss is not fresh: {reading}")
                if i >= 5:
                    misses.append(took)
                    hits.append(hit)
            device_reads = services.collection.reader.device_reads
        finally:
            await services.stop()
        floor = await floor_reads(sim.port, iterations)
    return measured(
        misses,
        floor,
        rate_per_s=per_second(1, median(misses)),
        level="service (services.collection.read_current), no HTTP",
        cache_hit_median_ms=round(median(hits), 3),
        device_reads=device_reads,
    )


@scenario("api-cache-miss", floor=ONE_READ_FLOOR)
async def api_cache_miss(ctx: Context) -> Result:
    """`current` of a point with no fresh value over HTTP/GraphQL, answered from the simulator.

    Each request asks for another point never read before (a miss with the real clock, without waiting
    CACHE_DURATION_SECONDS between requests); the same point again right after is a cache hit, reported beside."""
    async with SimulatorProcess([1]) as sim:
        database_url = ctx.database_url("bench")
        settings = Settings.defaults(database_url=database_url, background_collection_enabled=False)
        services = await Services.start(settings)
        try:
            await register_site(services, [sim])
        finally:
            await services.stop()
        refs = all_points(DEVICE_BASE + 1)
        iterations = min(len(refs) - 5, max(50, ctx.repeats * 20))
        hits: list[float] = []
        app: dict[str, Setting] = {"DATABASE_URL": database_url, "BACKGROUND_COLLECTION_ENABLED": False}
        with serve(settings=app) as server:
            times = await asyncio.to_thread(http_misses, server.port, refs[: iterations + 5], hits)
            peak = server.peak_rss_mb()
        floor = await floor_reads(sim.port, iterations)
    misses = times[5:]
    return measured(
        misses,
        floor,
        rate_per_s=per_second(1, median(misses)),
        peak_rss_mb=peak,
        level="HTTP POST /graphql to the app in its own process",
        cache_hit_median_ms=round(median(hits[5:]), 3),
    )


def http_misses(port: int, refs: list[PointRef], hits: list[float]) -> list[float]:
    """One keep-alive connection; each request the current value of a point not read before."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
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
        current = ((answer.get("data") or {}).get("point") or {}).get("current")
        if "errors" in answer or not current or current["source"] != "ON_DEMAND" or current["stale"]:
            raise RuntimeError(f"not a fresh on-demand read: {answer}")
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

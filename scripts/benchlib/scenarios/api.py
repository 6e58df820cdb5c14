"""API scenarios: real HTTP to the t3000gql app in a process of its own (`benchlib.serve`), the load generator in
this process (`benchlib.httpload`, a small keep-alive client, so the client costs little).

Floors: the HTTP scenarios are compared with a bare Starlette endpoint answering the same JSON under the same
uvicorn and the same client; the history scenarios with the same rows read (or written) by stdlib sqlite3 in this
process. peak_rss_mb is the app server's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from benchlib import httpload
from benchlib.context import Context
from benchlib.registry import Result, scenario
from benchlib.report import measured, per_second
from benchlib.serve import serve, serve_workers
from benchlib.stats import median, percentile
from t3000gql.auth import Authenticator, Role
from t3000gql.auth.tokens import create_token
from t3000gql.config import Settings
from t3000gql.domain.audit import Actor
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import T3_POINT_COUNTS, PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.domain.timeutil import system_clock
from t3000gql.storage.partitions import partition_table, year_of_ms
from t3000gql.storage.store import Store

T = TypeVar("T")
HOUR_MS = 3_600_000
RANGE_START = 1_735_689_600_000  # 2025-01-01T00:00:00Z
CURRENT = "{ point(deviceId: 1, pointType: INPUT, pointNumber: 1) { current { value } } }"
CURRENT_ANSWER = json.dumps({"data": {"point": {"current": {"value": 21.5}}}}, separators=(",", ":"))
APP_SETTINGS = {"CACHE_DURATION_SECONDS": 86400, "PARTITION_CLEANUP_ENABLED": False}
"""The server's settings besides DATABASE_URL: the seeded current value stays fresh for the whole run."""
STARLETTE_FLOOR = "a bare Starlette endpoint answering the same JSON under the same uvicorn and client"
POINTS = "points { timestamp value }"
COLUMNS = "columns { timestamps values }"


# --- data ----------------------------------------------------------------------------------------------------


def _seed(ctx: Context, name: str, seeder: Callable[[Store], Coroutine[Any, Any, None]]) -> str:
    url = ctx.database_url(name)

    async def run() -> None:
        store = await Store.open(
            Settings.defaults(database_url=url, cache_duration_seconds=86400, partition_cleanup_enabled=False)
        )
        try:
            await seeder(store)
        finally:
            await store.close()

    asyncio.run(run())
    return url


def _app(url: str) -> dict[str, Any]:
    return {"DATABASE_URL": url, **APP_SETTINGS}


async def _one_device(store: Store, samples: int = 0) -> None:
    """Device 1 with INPUT 1 (a fresh cached value), INPUT 2 (`samples` one-minute samples), INPUT 3 (empty)."""
    await store.devices.upsert(DeviceInput(1, device_name="bench", device_type="T3-BB"))
    await store.points.upsert(1, [PointInput(PointType.INPUT, n) for n in (1, 2, 3)])
    await store.writes.record([Sample(PointRef(1, PointType.INPUT, 1), system_clock(), 21.5)], "api")
    ref = PointRef(1, PointType.INPUT, 2)
    batch = 50_000
    for first in range(0, samples, batch):
        await store.writes.record(
            [
                Sample(ref, RANGE_START + i * 60_000, float(i % 1000))
                for i in range(first, min(samples, first + batch))
            ],
            "collector",
        )


def _sqlite_floor_read(url: str, rows: int, runs: int) -> float:
    """Median ms of reading the same rows with stdlib sqlite3 in this process."""
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        (point_id,) = conn.execute(
            "SELECT id FROM monitoring_points WHERE device_id = 1 AND point_type = 1 AND point_number = 2"
        ).fetchone()
        table = partition_table(year_of_ms(RANGE_START))
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            got = conn.execute(
                f"SELECT ts, value FROM {table} WHERE point_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (point_id, RANGE_START, RANGE_START + rows * 60_000),
            ).fetchall()
            times.append((time.perf_counter() - started) * 1000)
            if len(got) != rows:
                raise RuntimeError(f"the floor read {len(got)} rows, not {rows}")
        return median(times)
    finally:
        conn.close()


def _postgres_floor_read(url: str, rows: int, runs: int) -> float:
    """Median ms of reading the same rows with one plain asyncpg SELECT in this process."""
    import asyncpg

    async def read() -> float:
        conn = await asyncpg.connect(url, server_settings={"jit": "off"})
        try:
            point_id = await conn.fetchval(
                "SELECT id FROM monitoring_points WHERE device_id = 1 AND point_type = 1 AND point_number = 2"
            )
            table = partition_table(year_of_ms(RANGE_START))
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                got = await conn.fetch(
                    f"SELECT ts, value FROM {table} WHERE point_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts",
                    point_id,
                    RANGE_START,
                    RANGE_START + rows * 60_000,
                )
                times.append((time.perf_counter() - started) * 1000)
                if len(got) != rows:
                    raise RuntimeError(f"the floor read {len(got)} rows, not {rows}")
            return median(times)
        finally:
            await conn.close()

    return float(asyncio.run(read()))


def _floor_read(ctx: Context, url: str, rows: int, runs: int) -> float:
    if ctx.backend == "postgresql":
        return _postgres_floor_read(url, rows, runs)
    return _sqlite_floor_read(url, rows, runs)


def _range_query(rows: int, shape: str) -> str:
    end_s = (RANGE_START + rows * 60_000) // 1000
    return (
        f"{{ timeseries(deviceId: 1, pointType: INPUT, pointNumber: 2, startTime: {RANGE_START // 1000}, "
        f"endTime: {end_s}) {{ totalPoints {shape} }} }}"
    )


def _range(ctx: Context) -> str:
    return _seed(ctx, "range", lambda store: _one_device(store, samples=100_000))


# --- scenarios ------------------------------------------------------------------------------------------------


@scenario("api-cached-read", goal="p95_ms <= 1", floor=STARLETTE_FLOOR)
def api_cached_read(ctx: Context) -> Result:
    """One client, `point { current { value } }` on a warm cache, one request after another."""
    url = _seed(ctx, "cached", _one_device)
    runs = 300 if ctx.quick else 3000
    raw = httpload.post_graphql(CURRENT)
    with serve(settings=_app(url)) as server:
        times = httpload.run(httpload.timed(server.port, raw, runs, warmup=200))
        peak = server.peak_rss_mb()
    with serve("floor", body=CURRENT_ANSWER) as server:
        floor = httpload.run(httpload.timed(server.port, raw, runs, warmup=200))
    return measured(
        times,
        floor,
        rate_per_s=per_second(1, median(times)),
        peak_rss_mb=peak,
        floor_p95_ms=round(percentile(floor, 0.95), 3),
    )


@scenario(
    "api-concurrent-100",
    goal="average_ms <= 30 and median_ms <= 35",
    floor=STARLETTE_FLOOR + " (ratio: our requests/s / its)",
)
def api_concurrent_100(ctx: Context) -> Result:
    """100 clients doing the cached read back to back for 10 s (2 s with --quick); floor_ms is the floor's
    average latency, ratio our requests per second over the floor's."""
    url = _seed(ctx, "concurrent", _one_device)
    seconds = 2.0 if ctx.quick else 10.0
    raw = httpload.post_graphql(CURRENT)
    with serve(settings=_app(url)) as server:
        httpload.run(httpload.timed(server.port, raw, 200, warmup=0))
        latencies, rps = httpload.run(httpload.load(server.port, raw, 100, seconds))
        peak = server.peak_rss_mb()
    with serve("floor", body=CURRENT_ANSWER) as server:
        httpload.run(httpload.timed(server.port, raw, 200, warmup=0))
        floor_latencies, floor_rps = httpload.run(httpload.load(server.port, raw, 100, seconds))
    return measured(
        latencies,
        statistics.fmean(floor_latencies),
        ratio=rps / floor_rps,
        rate_per_s=rps,
        peak_rss_mb=peak,
        average_ms=round(statistics.fmean(latencies), 3),
        rps=round(rps, 1),
        floor_rps=round(floor_rps, 1),
        floor_average_ms=round(statistics.fmean(floor_latencies), 3),
        requests=len(latencies),
        clients=100,
        seconds=seconds,
    )


@scenario(
    "api-concurrent-100-workers-2",
    goal="average_ms <= 30",
    floor="the same bare Starlette endpoint under uvicorn --workers 2 and the same client (ratio: our requests/s / its)",
    backends=("sqlite", "postgresql"),
)
def api_concurrent_100_workers_2(ctx: Context) -> Result:
    """api-concurrent-100 against `t3000gql serve --workers 2` (two processes on one port, the live bus on Redis:
    --broadcast-url, else the local redis://127.0.0.1:6379); the floor runs two workers too.

    Beside the latencies: the CPU the workers spent per request (server_cpu_ms_per_request) and the cores the
    workers and the load generator had between them (cores_used, of os.cpu_count()): on a machine others use at
    the same time, a low cores_used says the latencies waited for the CPU, not for t3000gql."""
    url = _seed(ctx, "concurrent", _one_device)
    seconds = 2.0 if ctx.quick else 10.0
    raw = httpload.post_graphql(CURRENT)
    bus = ctx.broadcast_url if not ctx.broadcast_url.startswith("memory:") else "redis://127.0.0.1:6379"
    settings = {**_app(url), "BROADCAST_URL": bus, "BROADCAST_CHANNEL_PREFIX": f"bench-{ctx.workdir.name}"}
    with serve_workers(2, settings=settings) as server:
        httpload.run(httpload.timed(server.port, raw, 200, warmup=0))
        workers = server.pids()
        cpu_before, own_before, started = server.cpu_seconds(), time.process_time(), time.perf_counter()
        latencies, rps = httpload.run(httpload.load(server.port, raw, 100, seconds))
        wall = time.perf_counter() - started
        server_cpu, own_cpu = server.cpu_seconds() - cpu_before, time.process_time() - own_before
        peak = server.peak_rss_mb()
    with serve_workers(2, "floor", body=CURRENT_ANSWER) as server:
        httpload.run(httpload.timed(server.port, raw, 200, warmup=0))
        floor_latencies, floor_rps = httpload.run(httpload.load(server.port, raw, 100, seconds))
    return measured(
        latencies,
        statistics.fmean(floor_latencies),
        ratio=rps / floor_rps,
        rate_per_s=rps,
        peak_rss_mb=peak,
        average_ms=round(statistics.fmean(latencies), 3),
        rps=round(rps, 1),
        floor_rps=round(floor_rps, 1),
        floor_average_ms=round(statistics.fmean(floor_latencies), 3),
        requests=len(latencies),
        clients=100,
        workers=len(workers),
        seconds=seconds,
        server_cpu_ms_per_request=round(server_cpu / len(latencies) * 1000, 3),
        cores_used=round((server_cpu + own_cpu) / wall, 2),
        cores=os.cpu_count(),
    )


def _with_token(ctx: Context, name: str) -> tuple[str, str]:
    """The one-device site with a viewer's API token: (database URL, the token)."""
    tokens: list[str] = []

    async def seed(store: Store) -> None:
        await _one_device(store)
        made = await create_token(
            store, store.clock, name="bench", role=Role.VIEWER, expires_days=None, actor=Actor("bench")
        )
        tokens.append(made.secret)

    return _seed(ctx, name, seed), tokens[0]


def _in_turn(round_: int, first: T, second: T) -> tuple[T, T]:
    """Which kind runs first alternates by round, so an order effect (a warmer cache, a busier neighbour) falls
    on both alike."""
    return (first, second) if round_ % 2 == 0 else (second, first)


def _check_cost_us(url: str, token: str, calls: int) -> float:
    """Microseconds one token check costs in-process (authenticate + the rate limit), as the server runs it."""

    async def run() -> float:
        settings = Settings.defaults(database_url=url, api_rate_limit_per_minute=1_000_000_000)
        store = await Store.open(settings)
        try:
            auth = Authenticator(store, settings, store.clock)
            await auth.reload()
            header = f"Bearer {token}"
            started = time.perf_counter()
            for _ in range(calls):
                auth.admit(auth.authenticate(header))
            return (time.perf_counter() - started) / calls * 1e6
        finally:
            await store.close()

    return asyncio.run(run())


TOKEN_SETTINGS = {"API_RATE_LIMIT_PER_MINUTE": 1_000_000_000}
"""The rate limit is counted for every token request (its cost is part of what is measured) but never refuses."""
ROUNDS = 6
"""Runs without and with the token alternate on one server, so drift of a busy machine hits both alike."""


@scenario(
    "api-cached-read-token",
    goal="ratio <= 1.05",
    floor="the same server answering the same read without a token, rounds alternating (ratio: median with the "
    "token / median without)",
)
def api_cached_read_token(ctx: Context) -> Result:
    """api-cached-read with `Authorization: Bearer` (a viewer's token) beside the same read without one, and what
    one token check costs in-process (token_check_us)."""
    url, token = _with_token(ctx, "cached-token")
    runs = 50 if ctx.quick else 500
    plain, bearer = httpload.post_graphql(CURRENT), httpload.post_graphql(CURRENT, token=token)
    with_token: list[float] = []
    without: list[float] = []
    with serve(settings={**_app(url), **TOKEN_SETTINGS}) as server:
        httpload.run(httpload.timed(server.port, bearer, 1, warmup=200))
        for round_ in range(ROUNDS):
            for raw, into in _in_turn(round_, (plain, without), (bearer, with_token)):
                into += httpload.run(httpload.timed(server.port, raw, runs, warmup=20))
        peak = server.peak_rss_mb()
    return measured(
        with_token,
        without,
        rate_per_s=per_second(1, median(with_token)),
        peak_rss_mb=peak,
        floor_p95_ms=round(percentile(without, 0.95), 3),
        p95_ratio=round(percentile(with_token, 0.95) / percentile(without, 0.95), 3),
        token_check_us=round(_check_cost_us(url, token, 20_000), 2),
    )


@scenario(
    "api-concurrent-100-token",
    goal="ratio <= 1.05",
    floor="the same server under the same load without a token, rounds alternating (ratio: requests/s without "
    "the token / with it)",
)
def api_concurrent_100_token(ctx: Context) -> Result:
    """api-concurrent-100 with `Authorization: Bearer` (a viewer's token) beside the same load without one."""
    url, token = _with_token(ctx, "concurrent-token")
    seconds = 0.5 if ctx.quick else 2.0
    plain, bearer = httpload.post_graphql(CURRENT), httpload.post_graphql(CURRENT, token=token)
    with_token: list[float] = []
    without: list[float] = []
    rates: dict[str, list[float]] = {"with": [], "without": []}
    with serve(settings={**_app(url), **TOKEN_SETTINGS}) as server:
        httpload.run(httpload.timed(server.port, bearer, 200, warmup=0))
        for round_ in range(ROUNDS):
            for (raw, key), into in _in_turn(
                round_, ((plain, "without"), without), ((bearer, "with"), with_token)
            ):
                latencies, rps = httpload.run(httpload.load(server.port, raw, 100, seconds))
                into += latencies
                rates[key].append(rps)
        peak = server.peak_rss_mb()
    rps_with, rps_without = median(rates["with"]), median(rates["without"])
    return measured(
        with_token,
        statistics.fmean(without),
        ratio=rps_without / rps_with,
        rate_per_s=rps_with,
        peak_rss_mb=peak,
        average_ms=round(statistics.fmean(with_token), 3),
        rps=round(rps_with, 1),
        rps_without_token=round(rps_without, 1),
        average_ms_without_token=round(statistics.fmean(without), 3),
        clients=100,
        seconds=seconds * ROUNDS,
    )


@scenario("api-range-1k", goal="median_ms <= 5", floor="stdlib sqlite3 reading the same rows in this process")
def api_range_1k(ctx: Context) -> Result:
    """1,000 samples as `points` (objects); the same as `columns` reported beside."""
    url = _range(ctx)
    runs = 30 if ctx.quick else 200
    with serve(settings=_app(url)) as server:
        times = httpload.run(
            httpload.timed(server.port, httpload.post_graphql(_range_query(1000, POINTS)), runs, 20)
        )
        columns = httpload.run(
            httpload.timed(server.port, httpload.post_graphql(_range_query(1000, COLUMNS)), runs, 20)
        )
        peak = server.peak_rss_mb()
    return measured(
        times,
        _sqlite_floor_read(url, 1000, 50),
        rate_per_s=per_second(1, median(times)),
        peak_rss_mb=peak,
        columns_median_ms=round(median(columns), 3),
    )


@scenario(
    "api-range-100k-columns",
    goal="median_ms <= 300",
    floor="stdlib sqlite3 reading the same rows in this process",
    backends=("sqlite", "postgresql"),
    floor_on={"postgresql": "one plain asyncpg SELECT of the same rows in this process"},
)
def api_range_100k_columns(ctx: Context) -> Result:
    """100,000 samples as `columns`; 100,000 as `points` reported beside."""
    url = _range(ctx)
    runs = 5 if ctx.quick else 20
    with serve(settings=_app(url)) as server:
        times = httpload.run(
            httpload.timed(server.port, httpload.post_graphql(_range_query(100_000, COLUMNS)), runs, 2)
        )
        points = httpload.run(
            httpload.timed(
                server.port, httpload.post_graphql(_range_query(100_000, POINTS)), 1 if ctx.quick else 3, 1
            )
        )
        peak = server.peak_rss_mb()
    return measured(
        times,
        _floor_read(ctx, url, 100_000, 5),
        rate_per_s=per_second(1, median(times)),
        peak_rss_mb=peak,
        points_100k_median_ms=round(median(points), 1),
    )


STORE = "mutation($samples: [TimeSeriesSampleInput!]!) { storeTimeSeries(samples: $samples) { inserted updated } }"


@scenario(
    "api-insert-1k",
    goal="median_ms <= 15",
    floor="stdlib sqlite3 inserting 1,000 rows into a partition-shaped table, one transaction",
)
def api_insert_1k(ctx: Context) -> Result:
    """`storeTimeSeries` with 1,000 new samples per request (as a variable)."""
    url = _seed(ctx, "insert", _one_device)
    runs = 20 if ctx.quick else 100

    def batch(i: int) -> bytes:
        base = RANGE_START + i * 1000 * 60_000
        samples = [
            {
                "deviceId": 1,
                "pointType": "INPUT",
                "pointNumber": 3,
                "value": float(n),
                "timestamp": (base + n * 60_000) / 1000,
            }
            for n in range(1000)
        ]
        return httpload.post_graphql(STORE, {"samples": samples})

    payloads = [batch(i) for i in range(runs + 10)]
    with serve(settings=_app(url)) as server:
        times = httpload.run(httpload.timed(server.port, lambda i: payloads[i], runs, warmup=10))
        peak = server.peak_rss_mb()
    floor = _sqlite_floor_insert(ctx, runs)
    return measured(times, floor, rate_per_s=per_second(1, median(times)), peak_rss_mb=peak)


def _sqlite_floor_insert(ctx: Context, runs: int) -> float:
    """Median ms of inserting 1,000 rows into a partition-shaped table with stdlib sqlite3, one transaction."""
    conn = sqlite3.connect(ctx.workdir / "floor-insert.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS t (point_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, "
            "trend_log_id INTEGER, quality INTEGER NOT NULL DEFAULT 0, source_id INTEGER, PRIMARY KEY (point_id, ts)) "
            "WITHOUT ROWID"
        )
        times = []
        for i in range(runs):
            rows = [(1, RANGE_START + (i * 1000 + n) * 60_000, float(n), None, 0, 1) for n in range(1000)]
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
            times.append((time.perf_counter() - started) * 1000)
        return median(times)
    finally:
        conn.close()


NESTED = """{ devices { deviceId points { pointNumber current { value }
    history(start: "2025-01-01T00:00:00Z", end: "2025-01-02T00:00:00Z") { columns { timestamps values } } } } }"""


async def _site(store: Store) -> None:
    """50 devices x 256 points (64 outputs, 64 inputs, 128 variables), three samples per point."""
    now = system_clock()
    samples: list[Sample] = []
    for device_id in range(1, 51):
        await store.devices.upsert(DeviceInput(device_id, device_name=f"T3-{device_id}", device_type="T3-BB"))
        points = [PointInput(kind, n) for kind, count in T3_POINT_COUNTS.items() for n in range(1, count + 1)]
        await store.points.upsert(device_id, points)
        for point in points:
            ref = PointRef(device_id, point.point_type, point.point_number)
            samples += [
                Sample(ref, RANGE_START, 1.0),
                Sample(ref, RANGE_START + HOUR_MS, 2.0),
                Sample(ref, now, 3.0),
            ]
    await store.writes.record(samples, "collector")


def _statements(port: int) -> int:
    """The server's count of SQL statements so far (its /metrics)."""
    text = httpload.run(httpload.fetch(port, httpload.get("/metrics"))).decode()
    line = next(line for line in text.splitlines() if line.startswith("t3000gql_sql_statements_total "))
    return int(float(line.split()[1]))  # prometheus-client writes counters as floats ("8.0")


@scenario("api-nested", goal="median_ms <= 800")
def api_nested(ctx: Context) -> Result:
    """devices { points { current history { columns } } } over 50 devices x 256 points: time and SQL statements."""
    url = _seed(ctx, "nested", _site)
    runs = 2 if ctx.quick else 5
    with serve(settings=_app(url)) as server:
        before = _statements(server.port)
        times = httpload.run(httpload.timed(server.port, httpload.post_graphql(NESTED), runs, warmup=1))
        statements = (_statements(server.port) - before) // (runs + 1)
        peak = server.peak_rss_mb()
    return measured(
        times,
        rate_per_s=per_second(1, median(times)),
        peak_rss_mb=peak,
        statements=statements,
        devices=50,
        points=50 * 256,
    )

"""API benchmark scenarios: real HTTP to uvicorn on 127.0.0.1 (port 0) in a process of its own, the load
generator in this process (a small keep-alive HTTP/1.1 client on asyncio, so the client costs little).

Each scenario is `scenario(workdir: Path, *, quick: bool = False) -> dict` and returns median_ms, p95_ms,
floor_ms (None where there is none), ratio, rate_per_s and extra keys. SCENARIOS maps names to them, for
scripts/bench.py to register; each also runs alone:

    python scripts/bench_api.py --scenario api-cached-read [--scenario ...] [--quick] [--json out.json]

Floors: the HTTP scenarios are compared with a bare Starlette endpoint answering the same JSON under the same
uvicorn and the same client; the history scenarios with the same rows read (or written) by stdlib sqlite3 in
this process. The server runs without an access log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import orjson

from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import T3_POINT_COUNTS, PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.domain.timeutil import system_clock
from t3000gql.storage.partitions import partition_table, year_of_ms
from t3000gql.storage.store import Store

Result = dict[str, Any]
HOUR_MS = 3_600_000
RANGE_START = 1_735_689_600_000  # 2025-01-01T00:00:00Z
CURRENT = "{ point(deviceId: 1, pointType: INPUT, pointNumber: 1) { current { value } } }"


# --- the server process -------------------------------------------------------------------------------------


def _settings(database_url: str) -> Settings:
    return Settings.defaults(
        database_url=database_url, cache_duration_seconds=86400, partition_cleanup_enabled=False
    )


def _serve(kind: str, database_url: str, body: str) -> None:
    """Runs in the child: binds 127.0.0.1:0, prints the port, serves until terminated."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    if kind == "app":
        from t3000gql.app import create_app

        app: Any = create_app(_settings(database_url))
    else:
        payload = body.encode()

        async def floor(request: Request) -> Response:
            await request.body()
            return Response(payload, media_type="application/json")

        app = Starlette(routes=[Route("/graphql", floor, methods=["POST"])])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Accepted sockets inherit TCP_NODELAY; without it the headers and body uvicorn writes apart wait on the
    # client's delayed ACK (40 ms). uvicorn sets it itself only on sockets it creates.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(2048)  # clients that connect before uvicorn is up wait in the backlog
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])  # run(), not serve(): it picks uvloop as `t3000gql serve` does


@contextlib.contextmanager
def server(kind: str, database_url: str = "sqlite:///unused.db", body: str = "") -> Iterator[int]:
    """Starts `_serve` in a child process; yields its port; terminates exactly that process."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--database-url", database_url, "--body", body],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        yield port
    finally:
        child.terminate()
        child.wait(timeout=30)


# --- the load generator -------------------------------------------------------------------------------------


def _post(query: str, variables: dict[str, Any] | None = None) -> bytes:
    body = orjson.dumps({"query": query, "variables": variables or {}})
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    """One keep-alive HTTP/1.1 connection; enough HTTP for uvicorn's Content-Length responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 26)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> bytes:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = head[9:12]
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        if status != b"200":
            raise RuntimeError(f"HTTP {status.decode()}: {body[:300]!r}")
        return body

    def close(self) -> None:
        self.writer.close()


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


async def _timed(port: int, raw: bytes | Callable[[int], bytes], runs: int, warmup: int) -> list[float]:
    """Milliseconds of `runs` sequential requests on one connection (after `warmup` untimed ones)."""
    connection = await Connection.open(port)
    try:
        times = []
        for i in range(warmup + runs):
            payload = raw(i) if callable(raw) else raw
            started = time.perf_counter()
            body = await connection.request(payload)
            elapsed = (time.perf_counter() - started) * 1000
            if b'"errors":' in body:
                raise RuntimeError(body[-600:].decode())
            if i >= warmup:
                times.append(elapsed)
        return times
    finally:
        connection.close()


async def _load(port: int, raw: bytes, clients: int, seconds: float) -> tuple[list[float], float]:
    """`clients` connections each sending requests back to back for `seconds`: (latencies ms, requests/s)."""
    connections = [await Connection.open(port) for _ in range(clients)]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(connection: Connection) -> None:
        while True:
            started = time.perf_counter()
            if started >= deadline:
                return
            await connection.request(raw)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return latencies, len(latencies) / elapsed


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _summary(times: list[float], floor_ms: float | None, **extra: Any) -> Result:
    median = statistics.median(times)
    return {
        "median_ms": round(median, 3),
        "p95_ms": round(_percentile(times, 0.95), 3),
        "floor_ms": None if floor_ms is None else round(floor_ms, 3),
        "ratio": None if not floor_ms else round(median / floor_ms, 2),
        "rate_per_s": round(1000 / median, 1),
        "p50_ms": round(_percentile(times, 0.50), 3),
        "runs": len(times),
        **extra,
    }


# --- data ----------------------------------------------------------------------------------------------------


def _seed(workdir: Path, name: str, seeder: Callable[[Store], Coroutine[Any, Any, None]]) -> str:
    url = f"sqlite:///{workdir / name}"

    async def run() -> None:
        store = await Store.open(_settings(url))
        try:
            await seeder(store)
        finally:
            await store.close()

    asyncio.run(run())
    return url


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
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
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
            assert len(got) == rows
        return statistics.median(times)
    finally:
        conn.close()


def _range_query(rows: int, shape: str) -> str:
    end_s = (RANGE_START + rows * 60_000) // 1000
    return (
        f"{{ timeseries(deviceId: 1, pointType: INPUT, pointNumber: 2, startTime: {RANGE_START // 1000}, "
        f"endTime: {end_s}) {{ totalPoints {shape} }} }}"
    )


POINTS = "points { timestamp value }"
COLUMNS = "columns { timestamps values }"


# --- scenarios ------------------------------------------------------------------------------------------------


def api_cached_read(workdir: Path, *, quick: bool = False) -> Result:
    """One client, `point { current { value } }` on a warm cache. Goal: p95 <= 2 ms."""
    url = _seed(workdir, "cached.db", _one_device)
    runs = 300 if quick else 3000
    raw = _post(CURRENT)
    with server("app", url) as port:
        times = _run(_timed(port, raw, runs, warmup=200))
    sample = json.dumps({"data": {"point": {"current": {"value": 21.5}}}}, separators=(",", ":"))
    with server("floor", body=sample) as port:
        floor = _run(_timed(port, raw, runs, warmup=200))
    return _summary(
        times, statistics.median(floor), goal_p95_ms=2.0, floor_p95_ms=round(_percentile(floor, 0.95), 3)
    )


def api_concurrent_100(workdir: Path, *, quick: bool = False) -> Result:
    """100 clients doing the cached read for 10 s; beside it the bare Starlette floor. Goal: average <= 30 ms."""
    url = _seed(workdir, "concurrent.db", _one_device)
    seconds = 2.0 if quick else 10.0
    raw = _post(CURRENT)
    with server("app", url) as port:
        _run(_timed(port, raw, 200, warmup=0))
        latencies, rps = _run(_load(port, raw, 100, seconds))
    sample = json.dumps({"data": {"point": {"current": {"value": 21.5}}}}, separators=(",", ":"))
    with server("floor", body=sample) as port:
        _run(_timed(port, raw, 200, warmup=0))
        floor_latencies, floor_rps = _run(_load(port, raw, 100, seconds))
    average = statistics.fmean(latencies)
    return {
        "median_ms": round(statistics.median(latencies), 3),
        "p95_ms": round(_percentile(latencies, 0.95), 3),
        "floor_ms": round(statistics.fmean(floor_latencies), 3),
        "ratio": round(rps / floor_rps, 3),
        "rate_per_s": round(rps, 1),
        "average_ms": round(average, 3),
        "rps": round(rps, 1),
        "floor_rps": round(floor_rps, 1),
        "floor_average_ms": round(statistics.fmean(floor_latencies), 3),
        "requests": len(latencies),
        "clients": 100,
        "seconds": seconds,
        "goal_average_ms": 30.0,
    }


def _range(workdir: Path) -> str:
    return _seed(workdir, "range.db", lambda store: _one_device(store, samples=100_000))


def api_range_1k(workdir: Path, *, quick: bool = False) -> Result:
    """1,000 samples as `points` (objects). Goal: <= 15 ms."""
    url = _range(workdir)
    runs = 30 if quick else 200
    with server("app", url) as port:
        times = _run(_timed(port, _post(_range_query(1000, POINTS)), runs, warmup=20))
        columns = _run(_timed(port, _post(_range_query(1000, COLUMNS)), runs, warmup=20))
    return _summary(
        times,
        _sqlite_floor_read(url, 1000, 50),
        goal_ms=15.0,
        columns_median_ms=round(statistics.median(columns), 3),
    )


def api_range_100k_columns(workdir: Path, *, quick: bool = False) -> Result:
    """100,000 samples as `columns`; 100,000 as `points` reported beside. Goal (columns): <= 300 ms."""
    url = _range(workdir)
    runs = 5 if quick else 20
    with server("app", url) as port:
        times = _run(_timed(port, _post(_range_query(100_000, COLUMNS)), runs, warmup=2))
        points = _run(_timed(port, _post(_range_query(100_000, POINTS)), 1 if quick else 3, warmup=1))
    return _summary(
        times,
        _sqlite_floor_read(url, 100_000, 5),
        goal_ms=300.0,
        points_100k_median_ms=round(statistics.median(points), 1),
    )


STORE = "mutation($samples: [TimeSeriesSampleInput!]!) { storeTimeSeries(samples: $samples) { inserted updated } }"


def api_insert_1k(workdir: Path, *, quick: bool = False) -> Result:
    """`storeTimeSeries` with 1,000 new samples per request (as a variable). Goal: <= 40 ms."""
    url = _seed(workdir, "insert.db", _one_device)
    runs = 20 if quick else 100

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
        return _post(STORE, {"samples": samples})

    payloads = [batch(i) for i in range(runs + 10)]
    with server("app", url) as port:
        times = _run(_timed(port, lambda i: payloads[i], runs, warmup=10))
    return _summary(times, _sqlite_floor_insert(workdir, runs), goal_ms=40.0)


def _sqlite_floor_insert(workdir: Path, runs: int) -> float:
    """Median ms of inserting 1,000 rows into a partition-shaped table with stdlib sqlite3, one transaction."""
    conn = sqlite3.connect(workdir / "floor-insert.db", isolation_level=None)
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
        return statistics.median(times)
    finally:
        conn.close()


NESTED = """{ devices { deviceId points { pointNumber current { value }
    history(start: "2025-01-01T00:00:00Z", end: "2025-01-02T00:00:00Z") { columns { timestamps values } } } } }"""


async def _site(store: Store) -> None:
    """50 devices x 256 points (64 outputs, 64 inputs, 128 variables), two samples per point."""
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
    raw = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    async def read() -> int:
        connection = await Connection.open(port)
        try:
            text = (await connection.request(raw)).decode()
        finally:
            connection.close()
        line = next(line for line in text.splitlines() if line.startswith("t3000gql_sql_statements_total "))
        return int(line.split()[1])

    return int(_run(read()))


def api_nested(workdir: Path, *, quick: bool = False) -> Result:
    """devices { points { current history { columns } } } over 50 devices x 256 points: time and statements."""
    url = _seed(workdir, "nested.db", _site)
    runs = 2 if quick else 5
    with server("app", url) as port:
        before = _statements(port)
        times = _run(_timed(port, _post(NESTED), runs, warmup=1))
        statements = (_statements(port) - before) // (runs + 1)
    return _summary(times, None, statements=statements, devices=50, points=50 * 256)


SCENARIOS: dict[str, Callable[..., Result]] = {
    "api-cached-read": api_cached_read,
    "api-concurrent-100": api_concurrent_100,
    "api-range-1k": api_range_1k,
    "api-range-100k-columns": api_range_100k_columns,
    "api-insert-1k": api_insert_1k,
    "api-nested": api_nested,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="default: all")
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter load (a smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--serve", choices=("app", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--body", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.database_url, args.body)
        return 0
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        for name in args.scenario or list(SCENARIOS):
            workdir = Path(tmp) / name
            workdir.mkdir()
            results[name] = SCENARIOS[name](workdir, quick=args.quick)
            print(f"{name:24} {json.dumps(results[name])}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

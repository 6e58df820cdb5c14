#!/usr/bin/env python3
"""Benchmarks of the web pages and the CSV export, registered into scripts/bench.py through `SCENARIOS` (each a
function `(workdir: Path, *, quick: bool) -> dict`, so another harness can call them as they are), or run alone:

    python scripts/bench.py --scenario web-first-paint,web-js-size,export-csv-1m
    python scripts/bench_web.py [--quick] [--scenario NAME]

web-first-paint  First contentful paint of the trend viewer (/) in headless Chromium (Debian's, through
                 Playwright), a cold load (new browser context: nothing cached) from `t3000gql serve --demo` in
                 its own process on loopback. Goal <= 1000 ms. Floor: the same browser painting a one-line HTML
                 page from a bare `http.server` on loopback. Also reported: when the device tree is listed
                 (`tree_ready_ms`) and GraphiQL's first paint.
web-js-size      The trend page's own JavaScript and CSS as served (gzip, what a browser downloads), GraphiQL
                 aside. Goal <= 300 KB. GraphiQL's page and its editor workers are reported beside it.
export-csv-1m    GET /export.csv of 1,000,000 raw samples (one point, one-minute samples) from `t3000gql serve` in
                 its own process: time and rows/s. Memory: the peak of Python memory the export holds
                 (tracemalloc, in this process) for 1,000,000 rows beside 500,000 (constant memory: the two are
                 alike; it is a few pages, as aiosqlite's thread keeps each reader connection's last result
                 until that connection's next query), and the server's peak RSS growth (VmHWM) during exports
                 of 1,000,000 and 100,000 rows, which also counts SQLite's page cache (up to 64 MiB per reader
                 connection, filled by any large read). Floor: stdlib sqlite3 reading
                 the same rows and writing them with `csv` to /dev/null in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import http.client
import http.server
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from t3000gql.config import Settings  # noqa: E402
from t3000gql.domain.inputs import DeviceInput, PointInput  # noqa: E402
from t3000gql.domain.points import PointRef, PointType  # noqa: E402
from t3000gql.domain.samples import Sample  # noqa: E402
from t3000gql.storage.partitions import partition_table  # noqa: E402
from t3000gql.storage.store import Store  # noqa: E402
from t3000gql.web.assets import Assets  # noqa: E402
from t3000gql.web.export_csv import prepare_export  # noqa: E402
from t3000gql.web.export_params import parse_export_query  # noqa: E402

Result = dict[str, Any]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
FIRST_PAINT_GOAL_MS = 1000
OWN_JS_GOAL_BYTES = 300 * 1024
EXPORT_DEVICE = 8001
T2024_01_01 = 1704067200000
MINUTE = 60_000


def summary(times_ms: list[float], floor_ms: list[float] | None = None, **extra: Any) -> Result:
    """The same keys as scripts/bench.py's summary()."""
    ordered = sorted(times_ms)
    median = statistics.median(times_ms)
    floor = statistics.median(floor_ms) if floor_ms else None
    return {
        "median_ms": round(median, 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3),
        "floor_ms": round(floor, 3) if floor is not None else None,
        "ratio": round(median / floor, 2) if floor else None,
        "rate_per_s": None,
        "repeats": len(times_ms),
        **extra,
    }


def not_run(reason: str) -> Result:
    return {
        "median_ms": None,
        "p95_ms": None,
        "floor_ms": None,
        "ratio": None,
        "rate_per_s": None,
        "skipped": reason,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server_process(database_url: str, *args: str) -> Iterator[tuple[int, int]]:
    """`t3000gql serve ARGS` in its own process on a free port; yields (port, pid) once it answers."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "TIMEZONE": "Europe/Berlin"}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("t3000gql")), "serve", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("t3000gql serve did not start")
            time.sleep(0.1)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def browser_available() -> str | None:
    """Why the browser scenarios cannot run, or None."""
    if not Path(CHROMIUM).exists():
        return f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed (pip install -e .[dev])"
    if not Assets().built:
        return "the web pages are not built (scripts/build_web.sh)"
    return None


# --- web-first-paint ---------------------------------------------------------------------------------------


class _OneLine(http.server.BaseHTTPRequestHandler):
    BODY = b"<!doctype html><title>floor</title><p>Hello</p>"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


PAINT = "() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"


def paint_times(browser: Any, url: str, repeats: int, ready: str | None = None) -> tuple[list[float], list[float]]:
    """First contentful paint (ms after navigation start) of `url`, each in a new context (cold cache); and
    when `ready` (a selector) appeared, measured in the page by the same clock."""
    paints: list[float] = []
    readies: list[float] = []
    for _ in range(repeats):
        context = browser.new_context(viewport={"width": 1400, "height": 820})
        page = context.new_page()
        page.goto(url, wait_until="load")
        page.wait_for_function(PAINT)
        paints.append(float(page.evaluate(PAINT)))
        if ready is not None:
            page.wait_for_selector(ready)
            readies.append(float(page.evaluate("() => performance.now()")))
        context.close()
    return paints, readies


def web_first_paint(workdir: Path, *, quick: bool = False) -> Result:
    reason = browser_available()
    if reason:
        return not_run(reason)
    from playwright.sync_api import sync_playwright

    repeats = 3 if quick else 9
    floor_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OneLine)
    threading.Thread(target=floor_server.serve_forever, daemon=True).start()
    try:
        with server_process(f"sqlite:///{workdir}/web.db", "--demo") as (port, _pid):
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    paint_times(browser, f"http://127.0.0.1:{port}/", 1)  # warm-up: the server's first page
                    ours, ready = paint_times(browser, f"http://127.0.0.1:{port}/", repeats, ".tree-device")
                    floor, _ = paint_times(browser, f"http://127.0.0.1:{floor_server.server_port}/", repeats)
                    graphiql, editor = paint_times(
                        browser,
                        f"http://127.0.0.1:{port}/graphql",
                        max(3, repeats // 3),
                        ".graphiql-execute-button",
                    )
                finally:
                    browser.close()
    finally:
        floor_server.shutdown()
        floor_server.server_close()
    return summary(
        ours,
        floor,
        goal_ms=FIRST_PAINT_GOAL_MS,
        tree_ready_ms=round(statistics.median(ready), 1),
        graphiql_first_paint_ms=round(statistics.median(graphiql), 1),
        graphiql_ready_ms=round(statistics.median(editor), 1),
        level="cold load in a new Chromium context; t3000gql serve --demo in its own process",
    )


# --- web-js-size -------------------------------------------------------------------------------------------


def served_bytes(port: int, paths: list[str]) -> int:
    """Bytes on the wire for these files when the browser accepts gzip."""
    total = 0
    for path in paths:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        total += len(response.read())
        connection.close()
    return total


def web_js_size(workdir: Path, *, quick: bool = False) -> Result:
    assets = Assets()
    if not assets.built:
        return not_run("the web pages are not built (scripts/build_web.sh)")
    pages = assets.manifest()["pages"]
    with server_process(f"sqlite:///{workdir}/web.db") as (port, _pid):
        trend = served_bytes(port, [f"/static/{name}" for name in pages["trend"]["files"]])
        graphiql = served_bytes(port, [f"/static/{name}" for name in pages["graphiql"]["files"]])
        workers = served_bytes(port, [f"/static/{name}" for name in pages["graphiql"]["workers"]["files"]])
    return {
        "median_ms": None,
        "p95_ms": None,
        "floor_ms": None,
        "ratio": None,
        "rate_per_s": None,
        "trend_gzip_kb": round(trend / 1024, 1),
        "trend_raw_kb": round(pages["trend"]["bytes"] / 1024, 1),
        "goal_kb": OWN_JS_GOAL_BYTES // 1024,
        "within_goal": trend <= OWN_JS_GOAL_BYTES,
        "graphiql_gzip_kb": round(graphiql / 1024, 1),
        "graphiql_workers_gzip_kb": round(workers / 1024, 1),
    }


# --- export-csv-1m -----------------------------------------------------------------------------------------


async def seed_export(database_url: str, rows: int) -> None:
    store = await Store.open(Settings.defaults(database_url=database_url))
    try:
        await store.devices.upsert(DeviceInput(EXPORT_DEVICE, device_name="export bench", device_type="T3-BB"))
        await store.points.upsert(EXPORT_DEVICE, [PointInput(PointType.INPUT, 1, point_name="x", unit_code=1)])
        ref = PointRef(EXPORT_DEVICE, PointType.INPUT, 1)
        batch = 100_000
        for first in range(0, rows, batch):
            await store.writes.record(
                [
                    Sample(ref, T2024_01_01 + i * MINUTE, (i % 1000) / 10)
                    for i in range(first, min(rows, first + batch))
                ],
                "bench",
            )
    finally:
        await store.close()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def download(port: int, path: str) -> tuple[float, int]:
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", path)
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status} {response.read()[:300]!r}")
    lines = 0
    while chunk := response.read(1 << 16):
        lines += chunk.count(b"\n")
    connection.close()
    return (time.perf_counter() - start) * 1000, lines - 1


def floor_export(db_path: Path, start: int, end: int) -> float:
    begin = time.perf_counter()
    connection = sqlite3.connect(db_path)
    (point_id,) = connection.execute(
        "SELECT id FROM monitoring_points WHERE device_id = ? AND point_type = 1 AND point_number = 1",
        (EXPORT_DEVICE,),
    ).fetchone()
    with open(os.devnull, "w", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(["time", "x"])
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for year in range(2024, 2030):
            if partition_table(year) not in tables:
                continue
            rows = connection.execute(
                f"SELECT ts, value FROM {partition_table(year)} WHERE point_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (point_id, start, end),
            )
            writer.writerows(rows)
    connection.close()
    return (time.perf_counter() - begin) * 1000


async def python_peak_kib(database_url: str, start: int, end: int) -> int:
    """Peak of the Python memory (tracemalloc) an export of [start, end) holds at once, in this process: the
    export's own footprint, without SQLite's page cache (C memory, bounded by the store's cache size)."""
    store = await Store.open(Settings.defaults(database_url=database_url))
    try:
        query = parse_export_query(
            {"points": f"{EXPORT_DEVICE}:INPUT:1", "start": str(start), "end": str(end)}, "Europe/Berlin"
        )
        export = await prepare_export(store, query, "Europe/Berlin")
        tracemalloc.start()
        try:
            async for _chunk in export.chunks():
                pass
            return tracemalloc.get_traced_memory()[1] // 1024
        finally:
            tracemalloc.stop()
    finally:
        await store.close()


def export_csv_1m(workdir: Path, *, quick: bool = False) -> Result:
    rows = 200_000 if quick else 1_000_000
    repeats = 1 if quick else 3
    db_path = workdir / "export.db"
    database_url = f"sqlite:///{db_path}"
    asyncio.run(seed_export(database_url, rows))
    start, end = T2024_01_01, T2024_01_01 + rows * MINUTE
    base = f"/export.csv?points={EXPORT_DEVICE}:INPUT:1&start={start}"
    with server_process(database_url) as (port, pid):
        download(port, f"{base}&end={start + 1000 * MINUTE}")  # warm-up
        small_before = peak_rss_kib(pid)
        _, small_rows = download(port, f"{base}&end={start + rows // 10 * MINUTE}")
        small_growth = peak_rss_kib(pid) - small_before
        times: list[float] = []
        counted = 0
        big_before = peak_rss_kib(pid)
        for _ in range(repeats):
            took, counted = download(port, f"{base}&end={end}")
            times.append(took)
        big_growth = peak_rss_kib(pid) - big_before
        ms_ms, _ = download(port, f"{base}&end={end}&timeFormat=ms")
    if counted != rows or small_rows != rows // 10:
        raise RuntimeError(f"exported {counted} / {small_rows} rows, expected {rows} / {rows // 10}")
    floor = [floor_export(db_path, start, end) for _ in range(repeats)]
    python_half = asyncio.run(python_peak_kib(database_url, start, start + rows // 2 * MINUTE))
    python_all = asyncio.run(python_peak_kib(database_url, start, end))
    result = summary(
        times,
        floor,
        rows=rows,
        python_peak_kib=python_all,
        python_peak_kib_at_half=python_half,
        server_peak_rss_growth_kib=big_growth,
        server_peak_rss_growth_kib_at_tenth=small_growth,
        epoch_ms_times_ms=round(ms_ms, 1),
        level="HTTP GET to `t3000gql serve` in its own process; ISO-8601 times in Europe/Berlin",
    )
    result["rate_per_s"] = round(rows / (result["median_ms"] / 1000))
    return result


SCENARIOS: dict[str, Callable[..., Result]] = {
    "web-first-paint": web_first_paint,
    "web-js-size": web_js_size,
    "export-csv-1m": export_csv_1m,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append", help="run only these")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a smaller export (a smoke run)")
    args = parser.parse_args()
    for name in args.scenario or list(SCENARIOS):
        with tempfile.TemporaryDirectory(prefix="t3000gql-bench-web-") as tmp:
            print(name, json.dumps(SCENARIOS[name](Path(tmp), quick=args.quick)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

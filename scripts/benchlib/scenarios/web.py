"""Web scenarios: the pages in headless Chromium (Debian's /usr/bin/chromium, through Playwright for Python) and
`/export.csv`, against the t3000gql app in a process of its own (`benchlib.serve`).

web-first-paint  First contentful paint of the trend viewer (/), a cold load (a new browser context: nothing
                 cached), on loopback; a site of three controllers (the demo's) is in the database. Floor: the
                 same browser painting a one-line page from a bare `http.server` on loopback. Also: when the
                 device tree is listed (`tree_ready_ms`), GraphiQL's first paint and when its editor is ready.
web-js-size      The trend page's own JavaScript and CSS as served (gzip, what a browser downloads), GraphiQL
                 aside: `trend_gzip_kb`. The timings are those downloads over loopback. GraphiQL's page and its
                 editor workers are reported beside it.
export-csv-1m    GET /export.csv of 1,000,000 raw samples (one point, one-minute samples, ISO-8601 times in
                 Europe/Berlin). Memory: the peak of Python memory the export holds (tracemalloc, in this
                 process) for 1,000,000 rows beside 500,000 (`memory_ratio`: constant memory keeps it near 1;
                 it is a few pages, as aiosqlite's thread keeps each reader connection's last result until that
                 connection's next query), and the server's peak RSS growth during the export (it also counts
                 SQLite's page cache, up to 64 MiB per reader connection). Floor: stdlib sqlite3 reading the same
                 rows and writing them with `csv` to /dev/null in this process.

Without Chromium, Playwright or the built pages (scripts/build_web.sh), the browser scenarios return no timings
and say why (`skipped`).
"""

from __future__ import annotations

import asyncio
import csv
import http.client
import http.server
import os
import sqlite3
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchlib.context import Context
from benchlib.registry import Result, scenario
from benchlib.report import measured, per_second
from benchlib.serve import serve
from benchlib.stats import median, timed
from t3000gql.collect.demo import register_demo_site
from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.storage.partitions import partition_table
from t3000gql.storage.store import Store
from t3000gql.web.assets import Assets
from t3000gql.web.export_csv import prepare_export
from t3000gql.web.export_params import parse_export_query

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
SITE_TZ = "Europe/Berlin"
EXPORT_DEVICE = 8001
T2024_01_01 = 1_704_067_200_000
MINUTE = 60_000
PAINT = "() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"


def _skipped(reason: str, **extra: Any) -> Result:
    return measured([], skipped=reason, **extra)


def browser_missing() -> str | None:
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


def _seed(url: str, seeder: Any) -> None:
    async def run() -> None:
        store = await Store.open(Settings.defaults(database_url=url, partition_cleanup_enabled=False))
        try:
            await seeder(store)
        finally:
            await store.close()

    asyncio.run(run())


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


def paint_times(browser: Any, url: str, repeats: int, ready: str | None = None) -> tuple[list[float], list[float]]:
    """First contentful paint (ms after navigation start) of `url`, each in a new context (cold cache); and
    when `ready` (a selector) appeared, by the page's own clock."""
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


@scenario(
    "web-first-paint",
    goal="median_ms <= 1000",
    floor="the same browser painting a one-line page from a bare http.server on loopback",
)
def web_first_paint(ctx: Context) -> Result:
    """First contentful paint of the trend viewer (/), cold, in headless Chromium on loopback."""
    reason = browser_missing()
    if reason:
        return _skipped(reason)
    from playwright.sync_api import sync_playwright

    url = ctx.database_url("web")
    _seed(url, lambda store: register_demo_site(store, port=1))
    repeats = ctx.repeats
    floor_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OneLine)
    threading.Thread(target=floor_server.serve_forever, daemon=True).start()
    try:
        settings = {"DATABASE_URL": url, "BACKGROUND_COLLECTION_ENABLED": False, "TIMEZONE": SITE_TZ}
        with serve(settings=settings) as server, sync_playwright() as playwright:
            base = f"http://127.0.0.1:{server.port}"
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                paint_times(browser, base + "/", 1)  # warm-up: the server's first page
                ours, tree = paint_times(browser, base + "/", repeats, ".tree-device")
                floor, _ = paint_times(browser, f"http://127.0.0.1:{floor_server.server_port}/", repeats)
                graphiql, editor = paint_times(
                    browser, base + "/graphql", max(3, repeats // 2), ".graphiql-execute-button"
                )
            finally:
                browser.close()
            rss = server.peak_rss_mb()
    finally:
        floor_server.shutdown()
        floor_server.server_close()
    return measured(
        ours,
        floor,
        peak_rss_mb=rss,
        tree_ready_ms=round(median(tree), 1),
        graphiql_first_paint_ms=round(median(graphiql), 1),
        graphiql_ready_ms=round(median(editor), 1),
    )


# --- web-js-size -------------------------------------------------------------------------------------------


def _download(port: int, path: str) -> int:
    """Bytes on the wire for one file when the browser accepts gzip."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        return len(body)
    finally:
        connection.close()


@scenario("web-js-size", goal="trend_gzip_kb <= 300")
def web_js_size(ctx: Context) -> Result:
    """The trend page's own JavaScript and CSS as served, gzipped (GraphiQL aside); timings: their download."""
    assets = Assets()
    if not assets.built:
        return _skipped("the web pages are not built (scripts/build_web.sh)", trend_gzip_kb=None)
    pages = assets.manifest()["pages"]
    trend_files = [f"/static/{name}" for name in pages["trend"]["files"]]
    with serve(settings={"DATABASE_URL": ctx.database_url("web")}) as server:
        trend = sum(_download(server.port, path) for path in trend_files)
        graphiql = sum(_download(server.port, f"/static/{name}") for name in pages["graphiql"]["files"])
        workers = sum(_download(server.port, f"/static/{name}") for name in pages["graphiql"]["workers"]["files"])
        times = [timed(lambda: [_download(server.port, path) for path in trend_files]) for _ in range(ctx.repeats)]
    return measured(
        times,
        trend_gzip_kb=round(trend / 1024, 1),
        trend_raw_kb=round(pages["trend"]["bytes"] / 1024, 1),
        graphiql_gzip_kb=round(graphiql / 1024, 1),
        graphiql_workers_gzip_kb=round(workers / 1024, 1),
    )


# --- export-csv-1m -----------------------------------------------------------------------------------------


async def _export_rows(store: Store, rows: int) -> None:
    await store.devices.upsert(DeviceInput(EXPORT_DEVICE, device_name="export bench", device_type="T3-BB"))
    await store.points.upsert(EXPORT_DEVICE, [PointInput(PointType.INPUT, 1, point_name="x", unit_code=1)])
    ref = PointRef(EXPORT_DEVICE, PointType.INPUT, 1)
    batch = 100_000
    for first in range(0, rows, batch):
        samples = [
            Sample(ref, T2024_01_01 + i * MINUTE, (i % 1000) / 10) for i in range(first, min(rows, first + batch))
        ]
        await store.writes.record(samples, "bench")


def _export(port: int, path: str) -> tuple[float, int]:
    """(ms, data rows) of one export read to its end."""
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status} {response.read()[:300]!r}")
        lines = 0
        while chunk := response.read(1 << 16):
            lines += chunk.count(b"\n")
    finally:
        connection.close()
    return (time.perf_counter() - start) * 1000, lines - 1


def _floor_export(db_path: Path, start: int, end: int) -> float:
    begin = time.perf_counter()
    connection = sqlite3.connect(db_path)
    (point_id,) = connection.execute(
        "SELECT id FROM monitoring_points WHERE device_id = ? AND point_type = 1 AND point_number = 1",
        (EXPORT_DEVICE,),
    ).fetchone()
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    with open(os.devnull, "w", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(["time", "x"])
        for year in range(2024, 2030):
            if partition_table(year) in tables:
                writer.writerows(
                    connection.execute(
                        f"SELECT ts, value FROM {partition_table(year)} "
                        "WHERE point_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
                        (point_id, start, end),
                    )
                )
    connection.close()
    return (time.perf_counter() - begin) * 1000


async def _python_peak_kib(url: str, start: int, end: int) -> int:
    """The peak of Python memory an export of [start, end) holds, in this process (tracemalloc: SQLite's own
    page cache, C memory, is not counted)."""
    store = await Store.open(Settings.defaults(database_url=url))
    try:
        query = parse_export_query(
            {"points": f"{EXPORT_DEVICE}:INPUT:1", "start": str(start), "end": str(end)}, SITE_TZ
        )
        export = await prepare_export(store, query, SITE_TZ)
        tracemalloc.start()
        try:
            async for _chunk in export.chunks():
                pass
            return tracemalloc.get_traced_memory()[1] // 1024
        finally:
            tracemalloc.stop()
    finally:
        await store.close()


@scenario(
    "export-csv-1m",
    goal="memory_ratio <= 1.25",
    floor="stdlib sqlite3 reading the same rows and writing them with csv to /dev/null in this process",
)
def export_csv_1m(ctx: Context) -> Result:
    """GET /export.csv of 1,000,000 samples (600,000 with --quick): time, rows/s, memory held flat."""
    # Half of either is past the few pages that stay referenced (DATABASE_POOL_SIZE + 1 pages of 20,000).
    rows = 600_000 if ctx.quick else 1_000_000
    repeats = 1 if ctx.quick else 3
    url = ctx.database_url("export")
    _seed(url, lambda store: _export_rows(store, rows))
    start, end = T2024_01_01, T2024_01_01 + rows * MINUTE
    base = f"/export.csv?points={EXPORT_DEVICE}:INPUT:1&start={start}"
    with serve(settings={"DATABASE_URL": url, "TIMEZONE": SITE_TZ}) as server:
        _export(server.port, f"{base}&end={start + 1000 * MINUTE}")  # warm-up
        before = server.peak_rss_mb()
        times: list[float] = []
        for _ in range(repeats):
            took, counted = _export(server.port, f"{base}&end={end}")
            if counted != rows:
                raise RuntimeError(f"exported {counted} rows, expected {rows}")
            times.append(took)
        rss_growth = server.peak_rss_mb() - before
        epoch_ms, _ = _export(server.port, f"{base}&end={end}&timeFormat=ms")
        peak_rss = server.peak_rss_mb()
    db_path = Path(url.removeprefix("sqlite:///"))
    floor = [_floor_export(db_path, start, end) for _ in range(repeats)] if ctx.backend == "sqlite" else None
    half = asyncio.run(_python_peak_kib(url, start, start + rows // 2 * MINUTE))
    whole = asyncio.run(_python_peak_kib(url, start, end))
    return measured(
        times,
        floor,
        rate_per_s=per_second(rows, median(times)),
        peak_rss_mb=peak_rss,
        rows=rows,
        python_peak_kib=whole,
        python_peak_kib_at_half=half,
        memory_ratio=round(whole / half, 3),
        server_rss_growth_mb=round(rss_growth, 1),
        epoch_ms_times_ms=round(epoch_ms, 1),
    )

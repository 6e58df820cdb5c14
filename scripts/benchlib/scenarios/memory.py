"""Memory scenarios (issue 15): what a server holds with a large registry cached, and what one big read adds.

memory-1000x100   A database of 1,000 devices x 100 points, every point with a cached value, served by the app
                  in a process of its own (`benchlib.serve`, built as `t3000gql serve` builds it). RSS is read
                  from /proc/PID/status once the server answered `cacheStats` (which proves the 100,000 values
                  are in its cache). The floor is the same server on an empty database: rss_growth_mb is what the
                  registry and the cache cost, per_point_bytes that divided by the points. `breakdown` is
                  tracemalloc's size of each in-memory structure per point, each loaded alone in a process of
                  its own (benchlib/memory_child.py): realtime cache, point directory, point and device records.
api-current-100k  The same server and site; one query for every current value of the 100,000 points: time per
                  query, and the server's RSS before, at its peak during the first query, and after.

docs/performance.md records the figures seen. With --quick the site is 100 devices x 100 points.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

from benchlib import ROOT, child_env, module_command
from benchlib.context import Context
from benchlib.registry import Result, scenario
from benchlib.report import measured, per_second
from benchlib.serve import Server, serve
from benchlib.stats import median
from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.domain.timeutil import system_clock
from t3000gql.storage.store import Store

APP_SETTINGS = {"CACHE_DURATION_SECONDS": 86400, "PARTITION_CLEANUP_ENABLED": False}
"""Every seeded value stays fresh for the whole run, so no read goes to a device."""
CURRENT_ALL = "{ devices { points { current { value } } } }"
STATS = "{ cacheStats { totalPoints } }"


def point_inputs(count: int) -> list[PointInput]:
    """`count` points of a device: inputs, outputs and variables in turn, with names and units, as a T3 has."""
    kinds = (PointType.INPUT, PointType.OUTPUT, PointType.VARIABLE)
    return [
        PointInput(kinds[n % 3], n // 3 + 1, point_name=f"P{n // 3 + 1}-{kinds[n % 3].name[:3]}", unit_code=1)
        for n in range(count)
    ]


async def seed_site(url: str, devices: int, points: int) -> None:
    """`devices` devices of `points` points each, every point with one current value (cached)."""
    store = await Store.open(Settings.defaults(database_url=url, cache_duration_seconds=86400))
    try:
        now = system_clock()
        inputs = point_inputs(points)
        samples: list[Sample] = []
        for device_id in range(1, devices + 1):
            await store.devices.upsert(DeviceInput(device_id, device_name=f"T3-{device_id}", device_type="T3-BB"))
            await store.points.upsert(device_id, inputs)
            samples += [
                Sample(PointRef(device_id, p.point_type, p.point_number), now, float(device_id % 97 + n))
                for n, p in enumerate(inputs)
            ]
            if len(samples) >= 20_000:
                await store.writes.record(samples, "collector")
                samples = []
        if samples:
            await store.writes.record(samples, "collector")
    finally:
        await store.close()


def _site(ctx: Context) -> tuple[str, str, int]:
    """The site's database and an empty one (the floor's); the number of points."""
    devices, points = (100, 100) if ctx.quick else (1000, 100)
    site, empty = ctx.database_url("site"), ctx.database_url("empty")
    asyncio.run(seed_site(site, devices, points))
    asyncio.run(seed_site(empty, 0, 0))
    return site, empty, devices * points


def _query(server: Server, text: str) -> tuple[dict[str, object], float]:
    """One GraphQL query over HTTP: the answer's data and the milliseconds it took."""
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/graphql",
        data=json.dumps({"query": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = response.read()
    took = (time.perf_counter() - started) * 1000
    answer = json.loads(body)
    if answer.get("errors"):
        raise RuntimeError(f"query failed: {answer['errors'][:3]}")
    return answer["data"], took


def _settled_rss(server: Server) -> float:
    """RSS once the server answered a first query (schema and request paths warm)."""
    _query(server, STATS)
    time.sleep(0.5)
    return server.rss_mb()


def breakdown(url: str) -> dict[str, float]:
    done = subprocess.run(
        module_command("benchlib.memory_child", "breakdown", url),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"breakdown failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@scenario(
    "memory-1000x100",
    goal="peak_rss_mb <= 100 and lost == 0",
    floor="the same server on an empty database (rss_growth_mb: what the 100,000 points add)",
)
def memory_1000x100(ctx: Context) -> Result:
    """RSS of the server with 1,000 devices x 100 points registered and cached; lost: values not cached."""
    site, empty, points = _site(ctx)
    with serve(settings={"DATABASE_URL": empty, **APP_SETTINGS}) as server:
        base = _settled_rss(server)
    with serve(settings={"DATABASE_URL": site, **APP_SETTINGS}) as server:
        data, _ = _query(server, STATS)
        cached = data["cacheStats"]["totalPoints"]  # type: ignore[index]
        loaded = _settled_rss(server)
        peak = server.peak_rss_mb()
    growth = loaded - base
    return measured(
        [],
        base,
        ratio=loaded / base,
        lost=points - int(cached),
        peak_rss_mb=peak,
        rss_mb=round(loaded, 1),
        rss_growth_mb=round(growth, 1),
        empty_server_rss_mb=round(base, 1),
        per_point_bytes=round(growth * 1024 * 1024 / points),
        points=points,
        breakdown=breakdown(site),
        unit="MB (MiB) of the server process; floor_ms here: the empty server's RSS in MB",
    )


@scenario("api-current-100k", goal="median_ms <= 1000 and rss_growth_mb <= 40 and lost == 0")
def api_current_100k(ctx: Context) -> Result:
    """Every current value of the 100,000 points in one query: time, and the server's RSS growth."""
    site, _empty, points = _site(ctx)
    times: list[float] = []
    with serve(settings={"DATABASE_URL": site, **APP_SETTINGS}) as server:
        before = _settled_rss(server)
        data, took = _query(server, CURRENT_ALL)
        times.append(took)
        peak_first = server.peak_rss_mb()
        after = server.rss_mb()
        times += [_query(server, CURRENT_ALL)[1] for _ in range(1 if ctx.quick else 2)]
        peak = server.peak_rss_mb()
    answered = sum(
        1
        for device in data["devices"]  # type: ignore[attr-defined]
        for point in device["points"]
        if point["current"] is not None
    )
    return measured(
        times,
        rate_per_s=per_second(points, median(times)),
        lost=points - answered,
        peak_rss_mb=peak,
        first_ms=round(took, 1),
        rss_before_mb=round(before, 1),
        rss_after_mb=round(after, 1),
        rss_growth_mb=round(peak_first - before, 1),
        points=points,
        query=CURRENT_ALL,
        unit="ms per query over HTTP; rss_growth_mb: the peak during the first query over the RSS before it",
    )

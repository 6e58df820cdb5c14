"""The peer: PostGraphile v4 (npm `postgraphile`, pinned in scripts/peer/package-lock.json) serving GraphQL
straight from the same PostgreSQL tables t3000gql writes, asked for the same 1,000- and 100,000-sample series
by the same HTTP client (`benchlib.httpload`), one after the other in one run.

PostGraphile v4 lists a partitioned table's partitions, not the parent, so it is asked for the year's
partition (`allTimeseriesData2025S`, the series lies within 2025) by point, in time order; t3000gql for the
same point and time range through `timeseries`, as objects (`points`, the same shape as PostGraphile's
`nodes`) and as `columns`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from benchlib import httpload
from benchlib.context import Context
from benchlib.registry import Result, scenario
from benchlib.report import measured
from benchlib.scenarios.api import RANGE_START, _app, _seed
from benchlib.serve import serve
from benchlib.stats import median
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.storage.store import Store

PEER_DIR = Path(__file__).resolve().parents[2] / "peer"
SIZES = {"1k": (1, 1_000), "100k": (2, 100_000)}
"""Series name -> (the INPUT point number holding it, its samples, one a minute from 2025-01-01)."""


async def _two_series(store: Store) -> None:
    await store.devices.upsert(DeviceInput(1, device_name="bench", device_type="T3-BB"))
    await store.points.upsert(1, [PointInput(PointType.INPUT, n) for n, _ in SIZES.values()])
    for number, samples in SIZES.values():
        ref = PointRef(1, PointType.INPUT, number)
        for first in range(0, samples, 50_000):
            await store.writes.record(
                [
                    Sample(ref, RANGE_START + i * 60_000, float(i % 1000))
                    for i in range(first, min(samples, first + 50_000))
                ],
                "collector",
            )


def _ours(number: int, samples: int, shape: str) -> bytes:
    end_s = (RANGE_START + samples * 60_000) // 1000
    return httpload.post_graphql(
        f"{{ timeseries(deviceId: 1, pointType: INPUT, pointNumber: {number}, startTime: {RANGE_START // 1000}, "
        f"endTime: {end_s}) {{ totalPoints {shape} }} }}"
    )


def _theirs(point_id: int) -> bytes:
    return httpload.post_graphql(
        f'{{ allTimeseriesData2025S(condition: {{pointId: "{point_id}"}}, orderBy: TS_ASC) '
        "{ totalCount nodes { ts value } } }"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def postgraphile(url: str) -> Iterator[int]:
    """PostGraphile on 127.0.0.1 (its locked npm packages installed on first use); yields its port."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("postgraphile-peer needs Node.js (node) on PATH")
    binary = PEER_DIR / "node_modules" / "postgraphile" / "cli.js"
    if not binary.is_file():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True, timeout=600)
    port = _free_port()
    process = subprocess.Popen(
        [node, str(binary), "-c", url, "--host", "127.0.0.1", "--port", str(port), "--disable-default-mutations"],
        cwd=PEER_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NODE_ENV": "production"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                body = httpload.run(httpload.fetch(port, httpload.post_graphql("{ __typename }")))
                if b"Query" in body:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostGraphile did not start: {process.stderr.read() if process.stderr else ''}"
                )
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@scenario(
    "postgraphile-peer",
    floor="the peer: PostGraphile v4 on the same tables, same series, same client",
    backends=("postgresql",),
)
def postgraphile_peer(ctx: Context) -> Result:
    """The 1,000- and 100,000-sample series from t3000gql (objects and columns) and from PostGraphile v4;
    median_ms is ours for 100k as objects, floor_ms PostGraphile's for the same (ratio ours / theirs)."""
    url = _seed(ctx, "peer", _two_series)
    runs = {"1k": 5 if ctx.quick else 30, "100k": 3 if ctx.quick else 10}
    with serve(settings=_app(url)) as server:
        ours = {
            f"{name}_{shape_name}": httpload.run(
                httpload.timed(server.port, _ours(number, samples, shape), runs[name], 2)
            )
            for name, (number, samples) in SIZES.items()
            for shape_name, shape in (
                ("points", "points { timestamp value }"),
                ("columns", "columns { timestamps values }"),
            )
        }
        peak = server.peak_rss_mb()
    # the peer names points by their internal id: read it from the database as PostGraphile would see it
    internal = _internal_ids(url)
    with postgraphile(url) as port:
        theirs = {
            name: httpload.run(httpload.timed(port, _theirs(internal[number]), runs[name], 2))
            for name, (number, _samples) in SIZES.items()
        }
    return measured(
        ours["100k_points"],
        theirs["100k"],
        peak_rss_mb=peak,
        ours_1k_points_ms=round(median(ours["1k_points"]), 1),
        ours_1k_columns_ms=round(median(ours["1k_columns"]), 1),
        postgraphile_1k_ms=round(median(theirs["1k"]), 1),
        ours_100k_points_ms=round(median(ours["100k_points"]), 1),
        ours_100k_columns_ms=round(median(ours["100k_columns"]), 1),
        postgraphile_100k_ms=round(median(theirs["100k"]), 1),
    )


def _internal_ids(url: str) -> dict[int, int]:
    import asyncio

    import asyncpg

    async def read() -> dict[int, int]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT point_number, id FROM monitoring_points WHERE device_id = 1")
            return {row[0]: row[1] for row in rows}
        finally:
            await conn.close()

    return asyncio.run(read())

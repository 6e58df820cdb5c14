#!/usr/bin/env python3
"""Memory benchmarks (issue 15): what a `t3000gql serve` process holds with a large registry cached.

    python scripts/bench_memory.py --scenario memory-1000x100          # or api-current-100k; --quick: 100 x 100
    python scripts/bench.py --scenario memory-1000x100,api-current-100k --json bench-memory.json

memory-1000x100   A database with 1,000 devices x 100 points, every point with a cached value, served by the real
                  `python -m t3000gql serve` in its own process (its own working directory, no .env). RSS is read
                  from /proc/PID/status once the server answered `cacheStats` (which proves all 100,000 values are
                  in its cache). The floor is the same server on an empty database: `rss_growth_mb` is what the
                  registry and cache cost, `per_point_bytes` that divided by the points. `breakdown` is the
                  tracemalloc size of each in-memory structure per point, measured in a separate process that
                  loads each one alone (cache, point directory, point records, device records).
                  Goal: peak RSS <= 100 MB.
api-current-100k  The same server; one query for every current value of all 100,000 points
                  (`devices { points { current { value } } }`): time, and the server's RSS before and after.
                  Goal: <= 1 s, <= +40 MB.

Each scenario returns median_ms, p95_ms, floor_ms (None where there is none), ratio, rate_per_s, lost,
peak_rss_mb and rss_growth_mb. Both scenarios are plain functions of (workdir, quick), as scripts/bench.py
expects; the site seeding and the server handling are small functions of their own so they can move.
Timings belong here, never in a test's assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from t3000gql.config import Settings  # noqa: E402
from t3000gql.domain.inputs import DeviceInput, PointInput  # noqa: E402
from t3000gql.domain.points import PointRef, PointType  # noqa: E402
from t3000gql.domain.samples import Sample  # noqa: E402
from t3000gql.domain.timeutil import system_clock  # noqa: E402
from t3000gql.storage.store import Store  # noqa: E402

Result = dict[str, Any]
CACHE_SECONDS = 86_400
"""The server's CACHE_DURATION_SECONDS: every seeded value stays fresh, so no read goes to a device."""
CURRENT_ALL = "{ devices { points { current { value } } } }"


# --- the site ------------------------------------------------------------------------------------------------


def point_inputs(count: int) -> list[PointInput]:
    """`count` points of a device: inputs, outputs and variables in turn, with names and units like a T3."""
    kinds = (PointType.INPUT, PointType.OUTPUT, PointType.VARIABLE)
    return [
        PointInput(kinds[n % 3], n // 3 + 1, point_name=f"P{n // 3 + 1}-{kinds[n % 3].name[:3]}", unit_code=1)
        for n in range(count)
    ]


async def seed_site(url: str, devices: int, points: int) -> None:
    """Creates `devices` devices of `points` points, each point with one current value (cached)."""
    store = await Store.open(Settings.defaults(database_url=url, cache_duration_seconds=CACHE_SECONDS))
    try:
        now = system_clock()
        inputs = point_inputs(points)
        samples: list[Sample] = []
        for device_id in range(1, devices + 1):
            await store.devices.upsert(
                DeviceInput(device_id, device_name=f"T3-{device_id}", device_type="T3-BB", protocol="none")
            )
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


# --- the server ----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB (MiB)."""
    found: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line[:5]] = int(line.split()[1]) / 1024
    return {"rss_mb": round(found["VmRSS"], 1), "peak_rss_mb": round(found["VmHWM"], 1)}


class Server:
    """`python -m t3000gql serve` on a free port of 127.0.0.1, in `workdir` (no stray .env is read)."""

    def __init__(self, workdir: Path, url: str) -> None:
        self.port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CACHE_", "PORT", "HOST"))},
            "DATABASE_URL": url,
            "CACHE_DURATION_SECONDS": str(CACHE_SECONDS),
            "PYTHONPATH": str(ROOT),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "t3000gql", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not answer /health in time")

    def query(self, text: str) -> tuple[dict[str, Any], float]:
        """Posts one GraphQL query; returns the decoded answer and the milliseconds it took."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=300) as response:
            body = response.read()
        took = (time.perf_counter() - started) * 1000
        answer = json.loads(body)
        if answer.get("errors"):
            raise RuntimeError(f"query failed: {answer['errors'][:3]}")
        return answer, took

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def serving(workdir: Path, url: str) -> Iterator[Server]:
    server = Server(workdir, url)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def settled_rss(server: Server) -> dict[str, float]:
    """RSS once the server answered a first query (its schema and first request paths are warm)."""
    server.query("{ cacheStats { totalPoints } }")
    time.sleep(0.5)
    return rss_mb(server.pid)


def _site(workdir: Path, quick: bool) -> tuple[str, str, int, int]:
    devices, points = (100, 100) if quick else (1000, 100)
    site = f"sqlite:///{workdir / 'site.db'}"
    empty = f"sqlite:///{workdir / 'empty.db'}"
    asyncio.run(seed_site(site, devices, points))
    asyncio.run(seed_site(empty, 0, 0))
    return site, empty, devices, points


# --- per-structure sizes (tracemalloc, in a child process) ----------------------------------------------------


async def _breakdown(url: str) -> dict[str, float]:
    """Bytes per point of each structure, each loaded alone beside a store opened on the site."""
    from t3000gql.storage.cache import RealtimeCache
    from t3000gql.storage.devices import DeviceRepository
    from t3000gql.storage.points import PointDirectory, PointRepository

    settings = Settings.defaults(database_url=url, cache_duration_seconds=CACHE_SECONDS)
    store = await Store.open(settings)
    try:
        row = await store.db.fetch_one("SELECT count(*) FROM monitoring_points")
        count = int(row[0]) if row else 0
        ids = [r[0] for r in await store.db.fetch_all("SELECT id FROM monitoring_points ORDER BY id")]
        sizes: dict[str, float] = {"points": count}
        held: list[Any] = []

        async def measure(name: str, load: Any, per: int) -> None:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            held.append(await load())
            gc.collect()
            sizes[name] = round((tracemalloc.get_traced_memory()[0] - before) / max(per, 1), 1)

        async def cache() -> RealtimeCache:
            fresh = RealtimeCache(store.clock, CACHE_SECONDS)
            await fresh.load(store.db)
            return fresh

        async def directory() -> PointRepository:
            repository = PointRepository(store.db, store.clock)
            await repository.load_directory()
            return repository

        async def records() -> PointRepository:
            repository = PointRepository(store.db, store.clock)
            wanted = ids[: PointDirectory.RECORDS]
            for first in range(0, len(wanted), 1000):
                await repository.get_by_ids(wanted[first : first + 1000])
            return repository

        async def devices() -> DeviceRepository:
            repository = DeviceRepository(store.db, store.clock)
            await repository.list()
            return repository

        tracemalloc.start()
        await measure("cache_bytes_per_point", cache, count)
        await measure("directory_bytes_per_point", directory, count)
        remembered = min(count, PointDirectory.RECORDS)
        await measure("point_record_bytes_each", records, remembered)
        # remembering a record also files its id in the directory: that part is counted above already
        sizes["point_record_bytes_each"] = round(
            sizes["point_record_bytes_each"] - sizes["directory_bytes_per_point"], 1
        )
        row = await store.db.fetch_one("SELECT count(*) FROM devices")
        await measure("device_record_bytes_each", devices, int(row[0]) if row else 0)
        tracemalloc.stop()
        return sizes
    finally:
        await store.close()


def breakdown(url: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--breakdown", url], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"breakdown failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- scenarios -------------------------------------------------------------------------------------------------


def memory_1000x100(workdir: Path, *, quick: bool = False) -> Result:
    site, empty, devices, points = _site(workdir, quick)
    with serving(workdir, empty) as server:
        base = settled_rss(server)
    with serving(workdir, site) as server:
        answer, _ = server.query("{ cacheStats { totalPoints } }")
        cached = answer["data"]["cacheStats"]["totalPoints"]
        loaded = settled_rss(server)
    total = devices * points
    growth = loaded["rss_mb"] - base["rss_mb"]
    return {
        "median_ms": None,
        "p95_ms": None,
        "floor_ms": None,
        "ratio": None,
        "rate_per_s": None,
        "lost": total - cached,
        "peak_rss_mb": loaded["peak_rss_mb"],
        "rss_mb": loaded["rss_mb"],
        "rss_growth_mb": round(growth, 1),
        "empty_server_rss_mb": base["rss_mb"],
        "per_point_bytes": round(growth * 1024 * 1024 / total),
        "devices": devices,
        "points": total,
        "breakdown": breakdown(site),
        "goal_peak_rss_mb": 100,
        "unit": "MB (MiB) of the server process, read from /proc/PID/status",
    }


def api_current_100k(workdir: Path, *, quick: bool = False) -> Result:
    site, _empty, devices, points = _site(workdir, quick)
    times: list[float] = []
    with serving(workdir, site) as server:
        before = settled_rss(server)
        answer, took = server.query(CURRENT_ALL)
        times.append(took)
        after = rss_mb(server.pid)
        for _ in range(1 if quick else 2):
            times.append(server.query(CURRENT_ALL)[1])
        again = rss_mb(server.pid)
    got = sum(1 for d in answer["data"]["devices"] for p in d["points"] if p["current"] is not None)
    total = devices * points
    times.sort()
    return {
        "median_ms": round(times[len(times) // 2], 1),
        "p95_ms": round(times[-1], 1),
        "floor_ms": None,
        "ratio": None,
        "rate_per_s": round(total / (times[len(times) // 2] / 1000)),
        "lost": total - got,
        "first_ms": round(took, 1),
        "peak_rss_mb": again["peak_rss_mb"],
        "rss_before_mb": before["rss_mb"],
        "rss_after_mb": after["rss_mb"],
        "rss_growth_mb": round(after["peak_rss_mb"] - before["rss_mb"], 1),
        "points": total,
        "runs": len(times),
        "goal_ms": 1000,
        "goal_rss_growth_mb": 40,
        "unit": "ms per query over HTTP; rss_growth_mb: peak during the first query - RSS before it",
    }


SCENARIOS = {"memory-1000x100": memory_1000x100, "api-current-100k": api_current_100k}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="default: all")
    parser.add_argument("--quick", action="store_true", help="100 devices x 100 points (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--breakdown", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.breakdown:
        print(json.dumps(asyncio.run(_breakdown(args.breakdown))))
        return 0
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        for name in args.scenario or list(SCENARIOS):
            workdir = Path(tmp) / name
            workdir.mkdir()
            results[name] = SCENARIOS[name](workdir, quick=args.quick)
            print(f"{name:20} {json.dumps(results[name])}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Station scenarios (issues 6 and 15): the log import and the live monitor.

import-logs-1m   1,000,000 text log lines (50,000 with --quick) of 10 channels (10 stations, 1 s apart) imported
                 by the library the CLI calls (opened as the CLI opens it), in a process of its own so that its
                 peak RSS is its own (benchlib/stations_child.py). median/p95/p99 are ms per committed batch;
                 rate_per_s is readings per second end to end; ratio is the import's time over the floor's.
                 The lines are parsed by the import's worker process (issue 15): its peak RSS and its CPU per
                 reading are reported apart, beside the import's own CPU per reading, which varies far less
                 than the rate on a shared machine.
station-ingest   200 simulated stations (20 with --quick; the simulator in its own process) at 1 reading/s for
                 60 s (5 s) through the live monitor. Delay = commit of the reading (write-path listener) - the
                 simulator's send time; median/p95/p99 over every reading.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sqlite3
import subprocess
import time
from pathlib import Path

from benchlib import ROOT, child_env, module_command
from benchlib.context import Context
from benchlib.registry import Result, scenario
from benchlib.report import measured
from benchlib.stations_child import until
from t3000gql.config import Settings
from t3000gql.storage.partitions import PARTITION_TEMPLATE

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def write_log(path: Path, lines: int, stations: int = 10) -> None:
    """Text log lines as the monitor wrote them: 10 channels each, stations interleaved, 1 s apart."""
    with path.open("w", encoding="utf-8", buffering=1 << 20) as f:
        for i in range(lines):
            second, station = divmod(i, stations)
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 / 1000 + second))
            p = 1000 + (i * 7) % 500
            e = 10_000 + second * 0.01
            f.write(
                f"[{ts}.000Z] STATION-{station:03d} activePower1={p}.5 activePower2={p + 1}.25 "
                f"activePower3={p + 2}.0 activePower4={p + 3}.75 activePower5={p + 4}.5 activePower6={p + 5}.0 "
                f"muxPower1={e:.2f} muxPower2={e + 1:.2f} muxPower3={e + 2:.2f} muxPower4={e + 3:.2f}\n"
            )


def _floor_insert(path: Path, lines: int, stations: int = 10) -> float:
    """Plain sqlite3: the same 10 value rows and one index row per reading, batches of 5,000 readings."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE monitoring_points (id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO monitoring_points VALUES (?)", [(i,) for i in range(1, stations * 10 + 1)])
    conn.execute(PARTITION_TEMPLATE.format(table="timeseries_data_2024"))
    conn.execute(
        "CREATE TABLE power_readings (device_id INTEGER, ts INTEGER, created_at INTEGER, source_id INTEGER, "
        "flags INTEGER, PRIMARY KEY (device_id, ts)) WITHOUT ROWID"
    )
    batch = 5000
    started = time.perf_counter()
    for first in range(0, lines, batch):
        values: list[tuple[int, int, float, None, int, int]] = []
        index: list[tuple[int, int, int, int, int]] = []
        for i in range(first, min(first + batch, lines)):
            second, station = divmod(i, stations)
            ts = T0 + second * 1000
            index.append((station, ts, 0, 5, 0))
            values.extend((station * 10 + c + 1, ts, 1000.0 + c, None, 0, 5) for c in range(10))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO timeseries_data_2024 (point_id, ts, value, trend_log_id, quality, source_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            values,
        )
        conn.executemany("INSERT INTO power_readings VALUES (?, ?, ?, ?, ?)", index)
        conn.execute("COMMIT")
    elapsed = (time.perf_counter() - started) * 1000
    conn.close()
    return elapsed


@scenario(
    "import-logs-1m",
    goal="rate_per_s >= 25000 and peak_rss_mb <= 150 and lost == 0",
    floor="stdlib sqlite3 inserting the same rows (10 values + 1 index row per reading) with executemany, no "
    "parsing (ratio: the import's time over the floor's)",
)
def import_logs_1m(ctx: Context) -> Result:
    """1,000,000 log lines of 10 channels imported in a process of its own; rate_per_s is readings per second."""
    lines = 50_000 if ctx.quick else 1_000_000
    log = ctx.workdir / "monitor.log"
    write_log(log, lines)
    url = ctx.database_url("import")
    started = time.perf_counter()
    done = subprocess.run(
        module_command("benchlib.stations_child", "import", url, str(log), str(ctx.workdir / "report.txt")),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"import failed: {done.stderr[-2000:]}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    floor_ms = _floor_insert(ctx.workdir / "floor.db", lines)
    return measured(
        child["batches_ms"],
        floor_ms,
        ratio=child["seconds"] * 1000 / floor_ms,
        rate_per_s=lines / child["seconds"],
        lost=lines - child["stored"],
        peak_rss_mb=child["peak_rss_mb"],
        worker_peak_rss_mb=round(child["worker_peak_rss_mb"], 1),
        cpu_us_per_reading=round(child["cpu_s"] / lines * 1e6, 1),
        worker_cpu_us_per_reading=round(child["worker_cpu_s"] / lines * 1e6, 1),
        samples_per_s=round(lines * 10 / child["seconds"]),
        readings=lines,
        import_s=round(child["seconds"], 2),
        process_wall_s=round(wall, 2),
        file_mb=round(log.stat().st_size / 1e6, 1),
        batch=Settings.defaults().import_batch_readings,
        unit="median/p95/p99: ms per committed batch",
    )


@scenario("station-ingest", goal="lost == 0 and p99_ms <= 2000")
async def station_ingest(ctx: Context) -> Result:
    """200 simulated stations at 1 reading/s for 60 s through the live monitor: delay from send to committed."""
    from t3000gql.domain.stations import StationInput
    from t3000gql.ingest.monitor import MonitorConfig, StationMonitor
    from t3000gql.ingest.stations import StationService, reading_limits
    from t3000gql.storage.store import Store
    from t3000gql.storage.write_path import WriteResult

    stations, seconds = (20, 5) if ctx.quick else (200, 60)
    sent_file = ctx.workdir / "sent.json"
    sim = await asyncio.create_subprocess_exec(
        *module_command("benchlib.stations_child", "simulate", str(stations), "1", str(seconds), str(sent_file)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=child_env(),
        cwd=ROOT,
    )
    assert sim.stdout is not None and sim.stdin is not None
    port = int((await sim.stdout.readline()).decode())
    settings = Settings.defaults(database_url=ctx.database_url("ingest"), partition_cleanup_enabled=False)
    store = await Store.open(settings)
    service = StationService(store, reading_limits(settings))
    committed: dict[tuple[int, int], float] = {}

    def listen(result: WriteResult) -> None:
        now = time.time()
        for change in result.changes:
            committed.setdefault((change.point.device_id, change.ts_ms), now)

    store.writes.add_listener(listen)
    by_name: dict[str, int] = {}
    for n in range(stations):
        name = f"LIVE-{n:03d}"
        station = await service.create_station(
            StationInput(name=name, websocket_url=f"ws://127.0.0.1:{port}/{name}")
        )
        by_name[name] = station.device_id
    monitor = StationMonitor(service, MonitorConfig.from_settings(settings, store.db.path))
    await monitor.start()
    try:
        await until(lambda: sum(link.state == "CONNECTED" for link in monitor.links()) == stations, within=120)
        sim.stdin.write(b"go\n")
        await sim.stdin.drain()
        await sim.wait()
        sent = [
            (by_name[name], ts, at) for name, ts, at in json.loads(await asyncio.to_thread(sent_file.read_text))
        ]
        await until(lambda: len(committed) >= len(sent), within=30)
    finally:
        await monitor.stop()
        row = await store.db.fetch_one("SELECT count(*) FROM power_readings")
        await store.close()
    delays = [(committed[(device, ts)] - at) * 1000 for device, ts, at in sent if (device, ts) in committed]
    return measured(
        delays,
        rate_per_s=len(sent) / seconds,
        lost=len(sent) - (row[0] if row else 0),
        # the whole benchmark process (earlier scenarios included), not the monitor alone
        bench_process_peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        stations=stations,
        sent=len(sent),
        spooled=monitor.stats.spooled,
        unit="median/p95/p99: ms from send to committed (queryable)",
    )

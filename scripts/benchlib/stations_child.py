"""The processes the station scenarios run apart from the benchmark (`python -m benchlib.stations_child ...`):

    import URL LOG REPORT          the log import, as `t3000gql import-logs` runs it, in a process of its own so
                                   that its peak RSS is its own; prints one JSON line of what it measured
    simulate N RATE COUNT OUT      N simulated stations sending COUNT readings each at RATE/s once told "go" on
                                   stdin; prints its port first, writes every reading's send time to OUT at the end

This module imports only the standard library at the top, so the import's peak RSS is t3000gql's.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM belongs to this process image: ru_maxrss would carry over the parent's peak
    across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def import_logs(database_url: str, log: Path, report_path: Path) -> dict[str, Any]:
    from t3000gql.config import Settings
    from t3000gql.ingest.importer import LogImporter, open_import_store
    from t3000gql.ingest.stations import StationService, reading_limits

    settings = Settings.defaults(database_url=database_url)
    store = await open_import_store(settings)
    batches: list[float] = []
    last = [time.perf_counter()]

    def on_batch(result: object) -> None:
        now = time.perf_counter()
        batches.append((now - last[0]) * 1000)
        last[0] = now

    try:
        with report_path.open("w") as report_file:
            importer = LogImporter(
                StationService(store, reading_limits(settings)),
                batch_readings=settings.import_batch_readings,
                create_stations=True,
                on_batch=on_batch,
                report_file=report_file,
            )
            started = time.perf_counter()
            report = await importer.run([log])
            seconds = time.perf_counter() - started
        row = await store.db.fetch_one("SELECT count(*) FROM power_readings")
    finally:
        await store.close()
    done = report.files[0]
    me, worker = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": seconds,
        "batches_ms": batches,
        "imported": done.imported,
        "invalid": done.invalid,
        "duplicates": done.duplicates,
        "stored": row[0] if row else 0,
        "peak_rss_mb": peak_rss_mb(),
        # the parsing worker (t3000gql.ingest.parsing) is this process's child: its peak and CPU apart
        "worker_peak_rss_mb": worker.ru_maxrss / 1024,
        "cpu_s": me.ru_utime + me.ru_stime,
        "worker_cpu_s": worker.ru_utime + worker.ru_stime,
    }


async def until(condition: Callable[[], bool], *, within: float) -> bool:
    """Polls `condition` every 50 ms for at most `within` seconds; whether it came true."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def simulate(stations: int, rate: float, count: int, out: Path) -> None:
    from station_sim import StationSimulator

    names = [f"LIVE-{n:03d}" for n in range(stations)]
    async with StationSimulator(names, rate_hz=rate, max_readings=count, record_times=True) as sim:
        print(sim.port, flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the parent says when its monitor is connected
        await until(sim.done, within=3600)
        await asyncio.sleep(0.5)  # let the last frames leave before the server closes
        sent = json.dumps([[name, ts, at] for (name, ts), at in sim.sent_at.items()])
        await asyncio.to_thread(out.write_text, sent)


def main(argv: list[str]) -> None:
    if argv[:1] == ["import"] and len(argv) == 4:
        print(json.dumps(asyncio.run(import_logs(argv[1], Path(argv[2]), Path(argv[3])))))
    elif argv[:1] == ["simulate"] and len(argv) == 5:
        asyncio.run(simulate(int(argv[1]), float(argv[2]), int(argv[3]), Path(argv[4])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

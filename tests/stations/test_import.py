"""`import-logs`: sample files with good, bad and duplicate lines give an exact report; a re-import imports 0;
an interrupted import resumes without duplicates."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import psutil
import pytest

from t3000gql.cli import main
from t3000gql.config import Settings
from t3000gql.domain.stations import StationInput
from t3000gql.errors import T3000Error
from t3000gql.ingest.importer import FileResult, LogImporter
from t3000gql.ingest.logformat import format_text_line
from t3000gql.ingest.parsing import WORKER_MIN_BYTES
from t3000gql.ingest.stations import StationService
from t3000gql.storage.store import Store
from tests.postgres import query_sql
from tests.stations.station_helpers import DATA, station_settings, wait_for

T0 = 1_705_314_600_000


def counts(result: FileResult) -> tuple[int, int, int, int, int, int]:
    return (result.lines_read, result.imported, result.duplicates, result.invalid, result.flagged, result.skipped)


async def stations(service: StationService, *names: str) -> None:
    for name in names:
        await service.create_station(StationInput(name=name))


# Files are parsed in the importer's process when small, by a worker process when large (WORKER_MIN_BYTES):
# the tests that matter run both ways, the worker forced by a threshold of 0 bytes.
BOTH_WAYS = pytest.mark.parametrize("worker_min_bytes", [WORKER_MIN_BYTES, 0], ids=["inline", "worker"])


@BOTH_WAYS
async def test_sample_logs_give_the_exact_report(
    service: StationService, store: Store, worker_min_bytes: int
) -> None:
    await stations(service, "TV-1", "TV-2")
    report_file = io.StringIO()
    importer = LogImporter(service, batch_readings=3, report_file=report_file, worker_min_bytes=worker_min_bytes)
    report = await importer.run([DATA / "monitor.log", DATA / "monitor.jsonl"])
    text_log, json_log = report.files
    # lines, imported, duplicates, invalid, flagged, blank/comment
    assert counts(text_log) == (16, 5, 1, 8, 1, 2)
    assert counts(json_log) == (8, 2, 2, 4, 0, 0)
    assert await store.db.fetch_one("SELECT count(*) FROM power_readings") == (7,)
    lines = report_file.getvalue().splitlines()
    problems = [line.split(": ", 2)[0:2] for line in lines if not line.startswith("#")]
    assert [p[0].rsplit(":", 1)[1] for p in problems[:9]] == ["8", "9", "10", "11", "12", "13", "14", "15", "16"]
    assert f"{DATA / 'monitor.log'}:12: invalid: station 'NOPE' does not exist" in report_file.getvalue()
    assert (
        f"{DATA / 'monitor.log'}:15: flagged: muxPower1 went backwards (10000 after 10234.7)"
        in report_file.getvalue()
    )
    assert (
        f"{DATA / 'monitor.log'}:9: invalid: activePower1=-5.0: must lie between 0 and" in report_file.getvalue()
    )
    assert f"{DATA / 'monitor.jsonl'}:7: invalid: is not valid JSON" in report_file.getvalue()
    assert lines[-1].startswith(
        "# 2 file(s): 24 lines read, 7 readings imported, 3 duplicates skipped, 12 invalid"
    )


async def test_reimport_imports_nothing(service: StationService, store: Store) -> None:
    await stations(service, "TV-1", "TV-2")
    paths = [DATA / "monitor.log", DATA / "monitor.jsonl"]
    await LogImporter(service, batch_readings=100).run(paths)
    again = await LogImporter(service, batch_readings=100).run(paths)
    assert [(f.already_done, f.lines_read, f.imported) for f in again.files] == [(True, 0, 0), (True, 0, 0)]
    rescan = await LogImporter(service, batch_readings=100, rescan=True).run(paths)
    assert [counts(f) for f in rescan.files] == [(16, 0, 6, 8, 0, 2), (8, 0, 4, 4, 0, 0)]
    assert await store.db.fetch_one("SELECT count(*) FROM power_readings") == (7,)


async def test_unknown_stations_can_be_created(service: StationService) -> None:
    report = await LogImporter(service, batch_readings=100, create_stations=True).run([DATA / "monitor.log"])
    assert counts(report.files[0])[1:4] == (6, 1, 7)  # NOPE's line is a reading now
    assert {s.name for s in await service.list_stations()} == {"TV-1", "TV-2", "NOPE"}


class Interrupted(Exception):
    pass


def parsing_workers() -> list[psutil.Process]:
    return [
        child for child in psutil.Process().children() if "t3000gql.ingest.parsing" in " ".join(child.cmdline())
    ]


def write_log(path: Path, readings: int, stations: int = 2) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(readings):
            values = tuple(float(1000 + i % 7 + c) for c in range(6)) + tuple(100.0 + i + c for c in range(4))
            f.write(format_text_line(T0 + (i // stations) * 1000, f"S{i % stations}", values))


@BOTH_WAYS
async def test_interrupted_import_resumes_without_duplicates(
    service: StationService, store: Store, tmp_path: Path, worker_min_bytes: int
) -> None:
    await stations(service, "S0", "S1")
    log = tmp_path / "big.log"
    write_log(log, 50)
    moved = tmp_path / "renamed.log"

    def stop_after_two_batches(result: FileResult) -> None:
        if result.imported >= 20:
            raise Interrupted

    with pytest.raises(Interrupted):
        await LogImporter(
            service, batch_readings=10, on_batch=stop_after_two_batches, worker_min_bytes=worker_min_bytes
        ).run([log])
    assert await store.db.fetch_one("SELECT count(*) FROM power_readings") == (20,)
    assert gc.isenabled()  # the import runs the collector between batches only, and gives it back
    assert parsing_workers() == []  # an interrupted import leaves no worker behind
    shutil.move(log, moved)  # a file is known by its content, not its name
    report = await LogImporter(service, batch_readings=10, worker_min_bytes=worker_min_bytes).run([moved])
    resumed = report.files[0]
    assert (resumed.resumed_at_line, resumed.lines_read, resumed.imported, resumed.duplicates) == (20, 30, 30, 0)
    assert await store.db.fetch_one("SELECT count(*) FROM power_readings") == (50,)
    checkpoint = await store.db.fetch_one("SELECT imported, line_number, completed FROM import_checkpoints")
    assert checkpoint == (50, 50, 1)


@BOTH_WAYS
async def test_a_file_that_vanishes_midway_stops_at_its_last_batch_with_a_clear_error(
    service: StationService, store: Store, tmp_path: Path, worker_min_bytes: int
) -> None:
    await stations(service, "S0", "S1")
    log = tmp_path / "vanishing.log"
    write_log(log, 100)
    kept = tmp_path / "kept.log"
    shutil.copy(log, kept)

    def remove_after_first_batch(result: FileResult) -> None:
        if log.exists():
            log.unlink()

    importer = LogImporter(
        service, batch_readings=10, on_batch=remove_after_first_batch, worker_min_bytes=worker_min_bytes
    )
    with pytest.raises(T3000Error, match=f"cannot read {log}: No such file"):
        await importer.run([log])
    stored = await store.db.fetch_one("SELECT count(*) FROM power_readings")
    assert stored is not None and stored[0] % 10 == 0 and 10 <= stored[0] < 100  # whole batches only
    report = await LogImporter(service, batch_readings=10, worker_min_bytes=worker_min_bytes).run([kept])
    assert (report.files[0].resumed_at_line, report.files[0].duplicates) == (stored[0], 0)
    assert await store.db.fetch_one("SELECT count(*) FROM power_readings") == (100,)


async def test_a_parsing_worker_that_dies_is_reported_and_the_import_resumes(
    service: StationService, store: Store, tmp_path: Path
) -> None:
    await stations(service, "S0", "S1")
    log = tmp_path / "big.log"
    write_log(log, 100)

    def kill_the_worker(result: FileResult) -> None:
        for child in parsing_workers():
            child.kill()
            child.wait(10)

    importer = LogImporter(service, batch_readings=10, on_batch=kill_the_worker, worker_min_bytes=0)
    with pytest.raises(T3000Error, match=f"the parsing worker stopped .* while reading {log}"):
        await importer.run([log])
    report = await LogImporter(service, batch_readings=10, worker_min_bytes=0).run([log])
    assert report.files[0].duplicates == 0
    assert await store.db.fetch_one("SELECT count(*) FROM power_readings") == (100,)


async def test_a_grown_file_continues_at_its_old_end(
    service: StationService, store: Store, tmp_path: Path
) -> None:
    await stations(service, "S0", "S1")
    log = tmp_path / "growing.log"
    write_log(log, 300)
    first = (await LogImporter(service, batch_readings=100).run([log])).files[0]
    with log.open("a", encoding="utf-8") as f:
        f.write(format_text_line(T0 + 10_000_000, "S0", (1.0,) * 6 + (10_000.0,) * 4))
    second = (await LogImporter(service, batch_readings=100).run([log])).files[0]
    assert (first.imported, second.resumed_at_line, second.lines_read, second.imported) == (300, 300, 1, 1)


def test_cli_imports_and_reports(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "report.txt"
    assert main(["import-logs", str(DATA / "monitor.log"), "--create-stations", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "16 lines, 6 imported, 1 duplicates, 7 invalid, 1 flagged" in out
    assert "\x1b[" not in out  # no progress bar when output is not a terminal
    assert "monitor.log:8: invalid: activePower1='abc' is not a number" in report.read_text()
    assert main(["import-logs", str(DATA / "monitor.log"), "--report", str(report)]) == 0
    assert "already imported; 0 lines, 0 imported" in capsys.readouterr().out
    assert main(["import-logs", str(tmp_path / "missing.log")]) == 1
    assert "not a file" in capsys.readouterr().err


def test_sigint_then_rerun_finishes_the_job(tmp_path: Path, database_url: str) -> None:
    """A real interruption: SIGINT to `t3000gql import-logs` in a subprocess once a checkpoint is committed."""
    settings: Settings = station_settings(tmp_path, database_url)
    env = {**os.environ, "DATABASE_URL": settings.database_url, "IMPORT_BATCH_READINGS": "200"}
    log = tmp_path / "big.log"
    write_log(log, 40_000)
    command = [
        sys.executable,
        "-m",
        "t3000gql",
        "import-logs",
        str(log),
        "--create-stations",
        "--report",
        str(tmp_path / "r.txt"),
    ]

    def committed_lines() -> int:
        try:
            rows = query_sql(database_url, "SELECT max(line_number) FROM import_checkpoints")
        except (sqlite3.Error, asyncpg.PostgresError):
            return 0  # not created or not migrated yet
        return int(rows[0][0] or 0)

    # A session of its own, and SIGINT to its whole process group: what Ctrl-C on a terminal does (the parsing
    # worker gets it too, and must leave the decision to the importer).
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        asyncio.run(
            wait_for(lambda: committed_lines() > 0 or process.poll() is not None, within=60, what="a checkpoint")
        )
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    interrupted = process.returncode == 130
    assert process.returncode in (0, 130), err
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=True)
    assert query_sql(database_url, "SELECT count(*) FROM power_readings") == [(40_000,)]
    assert query_sql(database_url, "SELECT imported, duplicates, completed FROM import_checkpoints") == [
        (40_000, 0, 1)
    ]
    if interrupted:
        assert "run the same command again" in err
        assert "resumed after line" in rerun.stdout

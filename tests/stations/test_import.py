"""`import-logs`: sample files with good, bad and duplicate lines give an exact report; a re-import imports 0;
an interrupted import resumes without duplicates."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from t3000gql.cli import main
from t3000gql.config import Settings
from t3000gql.domain.stations import StationInput
from t3000gql.ingest.importer import FileResult, LogImporter
from t3000gql.ingest.logformat import format_text_line
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


async def test_sample_logs_give_the_exact_report(service: StationService, store: Store) -> None:
    await stations(service, "TV-1", "TV-2")
    report_file = io.StringIO()
    importer = LogImporter(service, batch_readings=3, report_file=report_file)
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


def write_log(path: Path, readings: int, stations: int = 2) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(readings):
            values = tuple(float(1000 + i % 7 + c) for c in range(6)) + tuple(100.0 + i + c for c in range(4))
            f.write(format_text_line(T0 + (i // stations) * 1000, f"S{i % stations}", values))


async def test_interrupted_import_resumes_without_duplicates(
    service: StationService, store: Store, tmp_path: Path
) -> None:
    await stations(service, "S0", "S1")
    log = tmp_path / "big.log"
    write_log(log, 50)
    moved = tmp_path / "renamed.log"

    def stop_after_two_batches(result: FileResult) -> None:
        if result.imported >= 20:
            raise Interrupted

    with pytest.raises(Interrupted):
        await LogImporter(service, batch_readings=10, on_batch=stop_after_two_batches).run([log])
    assert await store.db.fetch_one("SELECT count(*) FROM power_readings") == (20,)
    shutil.move(log, moved)  # a file is known by its content, not its name
    report = await LogImporter(service, batch_readings=10).run([moved])
    resumed = report.files[0]
    assert (resumed.resumed_at_line, resumed.lines_read, resumed.imported, resumed.duplicates) == (20, 30, 30, 0)
    assert await store.db.fetch_one("SELECT count(*) FROM power_readings") == (50,)
    checkpoint = await store.db.fetch_one("SELECT imported, line_number, completed FROM import_checkpoints")
    assert checkpoint == (50, 50, 1)


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

    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        asyncio.run(
            wait_for(lambda: committed_lines() > 0 or process.poll() is not None, within=60, what="a checkpoint")
        )
        process.send_signal(signal.SIGINT)
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

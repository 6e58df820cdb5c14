from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from t3000gql.config import Settings
from t3000gql.domain.samples import Quality, Sample
from t3000gql.domain.stations import ReadingInput, ReadingLimits, StationInput
from t3000gql.ingest.stations import StationService
from t3000gql.storage.store import Store
from tests.conftest import FakeClock

from .helpers import add_device, point_id, table_names

HISTORY = "SELECT point_id, ts, value, trend_log_id, quality, source_id FROM {table} ORDER BY point_id, ts"


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """Archives in the test's own folder (on PostgreSQL the default is relative to the working directory)."""
    return replace(settings, archive_dir=str(tmp_path / "archive"))


async def rows_of(store: Store, years: list[int]) -> dict[int, list[tuple[object, ...]]]:
    tables = await table_names(store.db)
    return {
        year: [tuple(r) for r in await store.db.fetch_all(HISTORY.format(table=f"timeseries_data_{year}"))]
        for year in years
        if f"timeseries_data_{year}" in tables
    }


async def test_retention_archives_then_drops_wholly_old_partitions_and_trims_the_boundary_one(
    store: Store, clock: FakeClock, settings: Settings
) -> None:
    ref = (await add_device(store))[0]
    pid = await point_id(store, ref)
    stamps = [ms(2021, 6, 1), ms(2022, 3, 1), ms(2023, 1, 10), ms(2023, 11, 1), ms(2024, 2, 1), ms(2026, 5, 1)]
    await store.writes.record([Sample(ref, ts, float(i)) for i, ts in enumerate(stamps)], "api")
    before = await rows_of(store, [2021, 2022, 2023])
    clock.now_ms = ms(2026, 6, 1)
    # DATA_RETENTION_DAYS=1095 before the newest sample (2026-05-01): the cut-off falls on 2023-05-02
    report = await store.apply_retention()
    assert report.cutoff_ms == ms(2023, 5, 2)
    assert report.dropped_years == [2021, 2022]
    assert (report.trimmed_year, report.trimmed_rows) == (2023, 1)
    assert store.partitions.years == [2023, 2024, 2026]
    tables = await table_names(store.db)
    assert "timeseries_data_2021" not in tables and "timeseries_data_2022" not in tables
    left = (await store.history.read_range([pid], ms(2020, 1, 1), ms(2027, 1, 1)))[pid]
    assert left.timestamps == stamps[3:]
    # Each part is in its own Parquet file, row for row.
    archive = Path(settings.archive_dir)
    names = sorted(os.listdir(archive))
    assert names == [
        "timeseries_data_2021.parquet",
        "timeseries_data_2022.parquet",
        "timeseries_data_2023.before-20230502T000000Z.parquet",
    ]
    for year, name in zip((2021, 2022, 2023), names, strict=True):
        table = pq.read_table(archive / name)
        assert table.column("ts").cast("int64").to_pylist() == [
            r[1] for r in before[year] if r[1] < report.cutoff_ms
        ]
        assert table.column("value").to_pylist() == [r[2] for r in before[year] if r[1] < report.cutoff_ms]
        assert set(table.column("device_id").to_pylist()) == {ref.device_id}
    # The removal is audited: who, the cut-off, what went and where it was archived.
    entries = await store.db.fetch_all(
        "SELECT operation, user_id, detail FROM audit_log WHERE operation = 'retention'"
    )
    assert len(entries) == 1 and entries[0][1] == "system"
    assert "timeseries_data_2021.parquet" in entries[0][2] and str(report.cutoff_ms) in entries[0][2]


async def test_a_clock_years_ahead_removes_nothing(store: Store, clock: FakeClock, settings: Settings) -> None:
    """The cut-off is measured from the newest stored sample too: a clock that jumps to 2045 (a dead RTC
    battery, a bad NTP answer) does not take the last three years of history with it."""
    ref = (await add_device(store))[0]
    stamps = [ms(2023, 7, 1), ms(2024, 2, 1), ms(2025, 1, 1), ms(2026, 5, 1)]
    await store.writes.record([Sample(ref, ts, 1.0) for ts in stamps], "api")
    clock.now_ms = ms(2045, 1, 1)
    report = await store.apply_retention()
    assert report.parts == [] and report.dropped_years == []
    assert store.partitions.years == [2023, 2024, 2025, 2026]
    assert await store.db.fetch_one("SELECT count(*) FROM timeseries_data_2023") == (1,)
    assert "archive" not in os.listdir(Path(settings.archive_dir).parent)


async def test_retention_trims_power_readings_at_the_same_cut_off_and_archives_them(
    store: Store, clock: FakeClock, settings: Settings
) -> None:
    service = StationService(store, ReadingLimits())
    await service.create_station(StationInput(name="A"))
    old, new = ms(2022, 1, 1), ms(2026, 1, 1)
    power = (1.0, *(None,) * 9)
    await service.record([ReadingInput(old, power, station="A"), ReadingInput(new, power, station="A")], "manual")
    clock.now_ms = ms(2026, 6, 1)
    report = await store.apply_retention()
    assert await store.db.fetch_all("SELECT ts FROM power_readings") == [(new,)]
    readings = [p for p in report.archives if p.name.startswith("power_readings.")]
    assert len(readings) == 1
    assert pq.read_table(readings[0]).column("ts").cast("int64").to_pylist() == [old]
    # Loaded back: history first (its source), then the readings' index rows.
    for path in sorted(report.archives, key=lambda p: p.name.startswith("power_readings.")):
        await store.restore_archive(path)
    assert await store.db.fetch_all("SELECT ts FROM power_readings ORDER BY ts") == [(old,), (new,)]


def cli(database_url: str, archive: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "t3000gql", *args],
        env={"DATABASE_URL": database_url, "ARCHIVE_DIR": str(archive), "PATH": "/usr/bin:/bin"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_dry_run_then_retention_then_archive_restore_gives_back_the_same_rows(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Through the commands, as an operator runs them; the wall clock is today's, the history 2001, 2002 and
    this year's (so the newest sample is recent and the old years are far beyond any cut-off)."""
    refs = await add_device(store)
    old = [
        Sample(ref, ts, float(i * 10 + n), trend_log_id=None, quality=Quality.UNCERTAIN if n % 3 else Quality.GOOD)
        for i, ref in enumerate(refs)
        for n, ts in enumerate(range(ms(2001, 12, 31), ms(2002, 1, 2), 3_600_000))
    ]
    await store.writes.record(old, "import")
    await store.writes.record([Sample(refs[0], ms(2026, 1, 1), 5.0)], "api")
    before = await rows_of(store, [2001, 2002])
    assert sum(map(len, before.values())) == len(old)
    counts = {t: await store.db.fetch_one(f"SELECT count(*) FROM {t}") for t in await table_names(store.db)}
    archive = Path(settings.archive_dir)

    dry = await asyncio.to_thread(
        cli, settings.database_url, archive, "retention", "--days", "365", "--dry-run", cwd=tmp_path
    )
    assert dry.returncode == 0, dry.stderr
    assert "would remove 192 history rows" in dry.stdout
    assert "timeseries_data_2001: whole partition, 96 rows" in dry.stdout
    assert "timeseries_data_2002: whole partition, 96 rows" in dry.stdout
    assert archive.name not in os.listdir(archive.parent)
    assert {
        t: await store.db.fetch_one(f"SELECT count(*) FROM {t}") for t in await table_names(store.db)
    } == counts

    done = await asyncio.to_thread(cli, settings.database_url, archive, "retention", "--days", "365", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "removed 192 history rows" in done.stdout
    assert not {"timeseries_data_2001", "timeseries_data_2002"} & await table_names(store.db)
    audit = await store.db.fetch_all("SELECT user_id, client FROM audit_log WHERE operation = 'retention'")
    assert [row[0] for row in audit] == ["cli"]

    for name in ("timeseries_data_2001.parquet", "timeseries_data_2002.parquet"):
        loaded = await asyncio.to_thread(
            cli, settings.database_url, archive, "archive-restore", str(archive / name), cwd=tmp_path
        )
        assert loaded.returncode == 0, loaded.stderr
        assert "added" in loaded.stdout
    await store.partitions.refresh(store.db)
    assert await rows_of(store, [2001, 2002]) == before
    again = await asyncio.to_thread(
        cli,
        settings.database_url,
        archive,
        "archive-restore",
        str(archive / "timeseries_data_2001.parquet"),
        cwd=tmp_path,
    )
    assert again.returncode == 0 and "0 added, 0 updated, 96 already stored" in again.stdout, again.stdout


async def test_archive_restore_refuses_a_file_naming_points_that_do_not_exist(
    store: Store, clock: FakeClock, settings: Settings
) -> None:
    refs = await add_device(store)
    await store.writes.record([Sample(refs[0], ms(2001, 5, 1), 1.0), Sample(refs[1], ms(2026, 5, 1), 2.0)], "api")
    clock.now_ms = ms(2026, 6, 1)
    report = await store.apply_retention()
    assert report.dropped_years == [2001]
    await store.points.delete(refs[0])
    with pytest.raises(Exception, match="names points that do not exist"):
        await store.restore_archive(report.archives[0])
    assert "timeseries_data_2001" not in await table_names(store.db)


async def test_the_server_runs_retention_at_start_up_on_the_leader(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    from t3000gql.services import Services

    ref = (await add_device(store))[0]
    await store.writes.record([Sample(ref, ms(2001, 5, 1), 1.0), Sample(ref, ms(2026, 5, 1), 2.0)], "api")
    clock.now_ms = ms(2026, 6, 1)
    running = replace(settings, partition_cleanup_enabled=True)
    async with await Services.start(running, clock=clock) as services:
        assert services.leadership.is_leader
        deadline = asyncio.get_running_loop().time() + 30
        while 2001 in services.store.partitions.years:
            assert asyncio.get_running_loop().time() < deadline, "no retention within 30 s of start-up"
            await asyncio.sleep(0.05)
    assert "timeseries_data_2001" not in await table_names(store.db)
    assert "timeseries_data_2001.parquet" in os.listdir(settings.archive_dir)

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from t3000gql.config import Settings
from t3000gql.domain.samples import Sample
from t3000gql.domain.stations import ReadingInput, ReadingLimits, StationInput
from t3000gql.ingest.stations import StationService
from t3000gql.storage.store import Store
from tests.conftest import FakeClock

from .helpers import add_device, point_id, table_names


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


async def test_retention_drops_wholly_old_partitions_and_trims_the_boundary_one(
    store: Store, clock: FakeClock
) -> None:
    ref = (await add_device(store))[0]
    pid = await point_id(store, ref)
    stamps = [ms(2021, 6, 1), ms(2022, 3, 1), ms(2023, 1, 10), ms(2023, 11, 1), ms(2024, 2, 1), ms(2025, 7, 1)]
    await store.writes.record([Sample(ref, ts, 1.0) for ts in stamps], "api")
    assert store.partitions.years == [2021, 2022, 2023, 2024, 2025]
    clock.now_ms = ms(2026, 6, 1)
    # DATA_RETENTION_DAYS=1095 by default: the cut-off falls on 2023-06-02
    report = await store.apply_retention()
    assert report.dropped_years == [2021, 2022]
    assert (report.trimmed_year, report.trimmed_rows) == (2023, 1)
    assert store.partitions.years == [2023, 2024, 2025]
    tables = await table_names(store.db)
    assert "timeseries_data_2021" not in tables and "timeseries_data_2022" not in tables
    left = (await store.history.read_range([pid], ms(2020, 1, 1), ms(2027, 1, 1)))[pid]
    assert left.timestamps == stamps[3:]


async def test_retention_trims_power_readings_at_the_same_cut_off(store: Store, clock: FakeClock) -> None:
    service = StationService(store, ReadingLimits())
    await service.create_station(StationInput(name="A"))
    old, new = ms(2022, 1, 1), ms(2025, 1, 1)
    power = (1.0, *(None,) * 9)
    await service.record([ReadingInput(old, power, station="A"), ReadingInput(new, power, station="A")], "manual")
    clock.now_ms = ms(2026, 6, 1)
    await store.apply_retention()
    assert await store.db.fetch_all("SELECT ts FROM power_readings") == [(new,)]


async def test_the_retention_command_drops_old_years(store: Store, settings: Settings, tmp_path: Path) -> None:
    """`t3000gql retention --days N` on the configured database (the store's own clock plays no part: the
    years written are long past whatever today is)."""
    ref = (await add_device(store))[0]
    await store.writes.record([Sample(ref, ms(2001, 5, 1), 1.0), Sample(ref, ms(2002, 5, 1), 2.0)], "api")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "t3000gql", "retention", "--days", "365"],
        env={"DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "dropped partitions [2001, 2002]" in done.stdout
    assert not {"timeseries_data_2001", "timeseries_data_2002"} & await table_names(store.db)

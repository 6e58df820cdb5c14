"""`t3000gql copy-db`: a whole SQLite site into PostgreSQL through the CLI, checked, resumed, and read back
through the storage interface. Needs PostgreSQL (T3000GQL_TEST_POSTGRES_URL); skipped without it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from t3000gql.config import Settings
from t3000gql.domain.audit import Actor
from t3000gql.domain.inputs import TrendLogInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.domain.stations import ReadingInput, ReadingLimits, StationInput
from t3000gql.domain.timeutil import from_datetime
from t3000gql.ingest.stations import StationService
from t3000gql.storage.store import Store
from t3000gql.storage.transaction import transaction
from t3000gql.storage.write_path import Audit
from tests.postgres import PostgresServer, execute_sql, query_sql
from tests.storage.helpers import add_device

T2024 = from_datetime(datetime(2024, 12, 31, 23, 0, tzinfo=UTC))
MINUTE = 60_000


async def fill(settings: Settings) -> None:
    """A site with something in every table: devices, points, a trend log, history across a new year,
    cached values, audit rows, a station with readings, an import checkpoint."""
    async with await Store.open(settings, clock=lambda: T2024 + 10 * 24 * 3600_000) as store:
        refs = await add_device(store, 1001, points=3)
        await store.trend_logs.upsert(
            1001, TrendLogInput(trend_log_name="temps", interval_seconds=60, points=tuple(refs))
        )
        await store.writes.record(
            [
                Sample(ref, T2024 + i * MINUTE, float(i % 97) + n / 10)
                for n, ref in enumerate(refs)
                for i in range(3000)
            ],
            "collector",
        )
        await store.writes.record(
            [Sample(refs[0], T2024 + 5, 42.0)], "api", audit=Audit("storeTimeSeries", Actor("ops", "127.0.0.1"))
        )
        service = StationService(store, ReadingLimits())
        await service.create_station(StationInput(name="Plant A"))
        await service.record(
            [
                ReadingInput(T2024 + i * MINUTE, (1.0,) * 6 + (float(i),) * 4, station="Plant A")
                for i in range(100)
            ],
            "websocket",
        )
        from t3000gql.storage.import_checkpoints import Checkpoint

        await store.import_checkpoints.save(Checkpoint("key-1", "/logs/a.log", 10, 2, 10, 1, 0, 1, 0, True), 1)
        async with transaction(store.db) as tx:
            await store.tokens.create_in(
                tx,
                name="scada",
                role="operator",
                token_hash="ab" * 32,
                created_by="cli",
                now_ms=1,
                expires_at=None,
            )


@pytest.fixture
def source(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'site.db'}"
    asyncio.run(fill(Settings.defaults(database_url=url)))
    return url


@pytest.fixture
def target(postgres_server: PostgresServer) -> Iterator[str]:
    database = postgres_server.create_database(migrated=False)
    try:
        yield postgres_server.url_of(database)
    finally:
        postgres_server.drop_database(database)


def copy_db(source: str, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "t3000gql", "copy-db", "--to", target, *extra],
        env={"DATABASE_URL": source, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_copy_db_copies_every_table_and_compares(source: str, target: str) -> None:
    done = copy_db(source, target, "--batch", "1000")
    assert done.returncode == 0, done.stderr
    assert "every table and partition matches" in done.stdout
    for line in (
        "rows devices",
        "rows audit_log",
        "rows power_readings",
        "rows import_checkpoints",
        "rows api_tokens",
        "sum timeseries_data_2024",
        "sum timeseries_data_2025",
    ):
        assert line in done.stdout
    assert query_sql(target, "SELECT count(*) FROM timeseries_data") == query_sql(
        source, "SELECT (SELECT count(*) FROM timeseries_data_2024) + (SELECT count(*) FROM timeseries_data_2025)"
    )

    again = copy_db(source, target)  # idempotent: nothing is sent twice
    assert again.returncode == 0 and "0 rows written in this run" in again.stdout

    async def read_back() -> None:
        settings = Settings.defaults(database_url=target)
        async with await Store.open(settings) as store:
            pid = (await store.points.resolve([PointRef(1001, PointType.INPUT, 2)]))[
                PointRef(1001, PointType.INPUT, 2)
            ]
            series = (await store.history.read_range([pid], T2024, T2024 + 3000 * MINUTE))[pid]
            assert len(series.timestamps) == 3000 and series.values[:2] == [0.1, 1.1]
            assert [s.name for s in await store.stations.list()] == ["Plant A"]
            assert (await store.audit.recent(limit=1))[0].user_id == "ops"
            assert [t.name for t in await store.tokens.list()] == ["scada"]
            # identities continue after the copied ids: a new trend log gets the next id
            log = await store.trend_logs.upsert(1001, TrendLogInput(trend_log_name="new", interval_seconds=60))
            assert log.id == 2

    asyncio.run(read_back())


def test_an_interrupted_copy_continues_and_a_changed_copy_is_reported(source: str, target: str) -> None:
    assert copy_db(source, target).returncode == 0
    # What an interrupted run leaves: a prefix in key order of the last year's rows, and no audit rows yet.
    execute_sql(
        target,
        f"DELETE FROM timeseries_data_2025 WHERE (point_id, ts) > (2, {T2024 + 2000 * MINUTE})",
        "DELETE FROM audit_log",
    )
    resumed = copy_db(source, target, "--batch", "500")
    assert resumed.returncode == 0, resumed.stderr
    assert "every table and partition matches" in resumed.stdout
    assert query_sql(target, "SELECT count(*) FROM audit_log") == [(1,)]
    # Rows missing from the middle (not a prefix: deleted by hand) are found too.
    execute_sql(target, f"DELETE FROM timeseries_data_2025 WHERE ts > {T2024 + 2500 * MINUTE}")
    again = copy_db(source, target, "--batch", "500")
    assert again.returncode == 0 and "every table and partition matches" in again.stdout, again.stdout

    execute_sql(
        target,
        f"UPDATE timeseries_data_2025 SET value = value + 1 WHERE point_id = 1 AND ts = {T2024 + 100 * MINUTE}",
    )
    differs = copy_db(source, target)
    assert differs.returncode == 1
    assert "DIFFERS" in differs.stdout and "sum timeseries_data_2025" in differs.stdout


def test_copy_db_refuses_a_target_that_is_not_postgresql(source: str, tmp_path: Path) -> None:
    refused = copy_db(source, f"sqlite:///{tmp_path / 'other.db'}")
    assert refused.returncode == 2 and "PostgreSQL target" in refused.stderr

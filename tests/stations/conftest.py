"""Fixtures for the station tests: a real SQLite file under tmp_path, the station service, the simulator from
scripts/ (a real WebSocket server on 127.0.0.1, port 0) and a bounded poll instead of sleeps."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from t3000gql.config import Settings
from t3000gql.ingest.stations import StationService, reading_limits
from t3000gql.storage.store import Store
from tests.stations.station_helpers import station_settings

# scripts/station_sim.py is a script, not a package module: tests import it from there.
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return station_settings(tmp_path, database_url)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    store = await Store.open(settings)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def service(store: Store, settings: Settings) -> StationService:
    return StationService(store, reading_limits(settings))

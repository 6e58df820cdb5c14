"""Fixtures for driver tests: fast settings and a T3 Modbus simulator on 127.0.0.1 with a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from t3000gql.collect.drivers.retry import RetryPolicy
from t3000gql.collect.service import Collection
from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator
from t3000gql.config import Settings
from t3000gql.storage.store import Store
from tests.conftest import FakeClock


@pytest.fixture
def policy() -> RetryPolicy:
    """200 ms per attempt, 2 retries, 10 ms backoff: a dead device fails in well under a second."""
    return RetryPolicy(timeout=0.2, retries=2, backoff_base=0.01)


@pytest.fixture
def settings(policy: RetryPolicy) -> Settings:
    return Settings.defaults(
        t3000_interface_timeout_ms=round(policy.timeout * 1000), t3000_max_retries=policy.retries
    )


@pytest_asyncio.fixture
async def t3_sim() -> AsyncIterator[T3ModbusSimulator]:
    """Units 1 and 2, no background animation (tests drive `update_once` themselves)."""
    async with T3ModbusSimulator(units=[1, 2], host="127.0.0.1", port=0, update_interval=None) as sim:
        yield sim


@pytest.fixture
def collect_settings(database_url: str, policy: RetryPolicy) -> Settings:
    """A database under tmp_path, the fast retry policy, and a 1 s skip window for failing devices."""
    return Settings.defaults(
        database_url=database_url,
        database_pool_size=2,
        t3000_interface_timeout_ms=round(policy.timeout * 1000),
        t3000_max_retries=policy.retries,
        collector_error_retry_seconds=1,
    )


@pytest_asyncio.fixture
async def collection(
    collect_settings: Settings, clock: FakeClock, policy: RetryPolicy
) -> AsyncIterator[Collection]:
    """Collection on a store with the fake clock; not started (tests drive `run_due` and `collect_now`)."""
    store = await Store.open(collect_settings, clock=clock)
    parts = Collection(store, clock=clock, backoff_base=policy.backoff_base)
    try:
        yield parts
    finally:
        await parts.stop()
        await store.close()

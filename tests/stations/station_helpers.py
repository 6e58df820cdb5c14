"""Helpers shared by the station tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from t3000gql.config import Settings
from tests.conftest import ANY_YEAR_SKEW_SECONDS

DATA = Path(__file__).resolve().parent / "data"


def station_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    """Fast settings for tests: short busy timeout (a held lock fails a write in 50 ms), short flush, retry
    and reconnect intervals. The station simulator stamps readings with the real time while servers under test
    may run on a fixed clock in the past, so the clock-skew rule is widened (it has tests of its own)."""
    values: dict[str, object] = {
        "database_url": database_url,
        "database_pool_size": 2,
        "database_busy_timeout_ms": 50,
        "station_flush_interval_ms": 20,
        "station_retry_interval_ms": 50,
        "station_reconnect_min_ms": 20,
        "station_reconnect_max_ms": 200,
        "station_spool_path": str(tmp_path / "spool.jsonl"),
        "partition_cleanup_enabled": False,
        "max_clock_skew_seconds": ANY_YEAR_SKEW_SECONDS,
    }
    values.update(overrides)
    return Settings.defaults(**values)


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], *, within: float = 15.0, what: str = "condition"
) -> None:
    """Polls until `condition` holds; fails after `within` seconds (a bound, not a timing assertion)."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)

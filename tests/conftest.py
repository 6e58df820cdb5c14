"""Shared fixtures: real SQLite files under tmp_path, a fake clock, and checks for local services (Redis)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from t3000gql.config import Settings
from t3000gql.storage.store import Store

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
NOW_MS = 1_790_000_000_000  # 2026-09-21T...Z: a fixed "now" so nothing depends on the machine's clock


class FakeClock:
    """A clock tests move by hand: no sleeping."""

    def __init__(self, now_ms: int = NOW_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)


def require_service(host: str, port: int, name: str) -> None:
    """Skips the test when a local service is absent, or fails when CI demands every service
    (T3000GQL_REQUIRE_SERVICES=1)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as exc:
        message = f"{name} is not reachable at {host}:{port} ({exc})"
    if os.environ.get("T3000GQL_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and T3000GQL_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def redis_url() -> str:
    """The local Redis as a BROADCAST_URL (skips, or fails under T3000GQL_REQUIRE_SERVICES=1, when absent)."""
    require_service(REDIS_HOST, REDIS_PORT, "Redis")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "t3000gql.db"


ANY_YEAR_SKEW_SECONDS = 200 * 365 * 86400
"""Lower-layer tests write samples of any year (partitions, retention) against a fixed clock; the rule that
refuses samples from the future (MAX_CLOCK_SKEW_SECONDS) has tests of its own."""


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return Settings.defaults(
        database_url=f"sqlite:///{db_path}", database_pool_size=2, max_clock_skew_seconds=ANY_YEAR_SKEW_SECONDS
    )


@pytest.fixture
async def store(settings: Settings, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await Store.open(settings, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()

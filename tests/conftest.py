"""Shared test helpers. Tests use real parts: SQLite files under tmp_path, Redis on 127.0.0.1, sockets on port 0."""

from __future__ import annotations

import os
import socket

import pytest

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379


def require_service(host: str, port: int, name: str) -> None:
    """Skips the calling test when `name` does not listen on host:port, or fails it when the environment says
    services must be there (T3000GQL_REQUIRE_SERVICES=1, as in CI)."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        reason = f"{name} is not reachable at {host}:{port} ({exc}); start it to run this test"
    if os.environ.get("T3000GQL_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (T3000GQL_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    """The local Redis as a BROADCAST_URL (skips, or fails under T3000GQL_REQUIRE_SERVICES=1, when absent)."""
    require_service(REDIS_HOST, REDIS_PORT, "Redis")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}"

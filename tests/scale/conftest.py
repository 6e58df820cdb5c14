"""Fixtures of the scale tests: one database and one live bus that several real server processes share.

Each test gets a database of its own, on each backend (a SQLite file under tmp_path; a PostgreSQL database made
from the migrated template when T3000GQL_TEST_POSTGRES_URL is set, dropped afterwards), and channels of its own
on the local Redis (a prefix of its own), so parallel runs never cross-talk. Redis absent: skipped, or failed
under T3000GQL_REQUIRE_SERVICES=1 (tests/conftest.py's `redis_url`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import NewDatabase
from tests.scale.servers import base_environment


@dataclass(frozen=True)
class Site:
    """What the servers of one test share."""

    database_url: str
    broadcast_url: str
    prefix: str
    workdir: Path

    def environment(self, **settings: Any) -> dict[str, str]:
        return base_environment(self.database_url, self.broadcast_url, self.prefix, **settings)


@pytest.fixture
def site(tmp_path: Path, redis_url: str, new_database_url: NewDatabase) -> Site:
    return Site(
        database_url=new_database_url("site"),
        broadcast_url=redis_url,
        prefix=f"t3000gql-test-{uuid.uuid4().hex}",
        workdir=tmp_path,
    )

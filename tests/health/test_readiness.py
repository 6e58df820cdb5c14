"""/health/live, /health/ready and /health against a real server: readiness goes 503 while ANOTHER PROCESS holds
the database's write lock and comes back when it lets go (with one healthAlerts event each way), while the disk
is critical, and while a migration is pending; on both databases."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from t3000gql.config import Settings
from t3000gql.storage.migrations import FOLDERS, available_migrations
from tests.health.conftest import running
from tests.live.helpers import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def lock_held_elsewhere(database_url: str) -> Iterator[None]:
    """Another process holds the write lock until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.health.lock_holder", database_url],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        try:
            holder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
        holder.stdout.close()


async def ready_status(http: httpx.AsyncClient, status: int) -> httpx.Response:
    """Polls /health/ready until it answers `status`, for at most twice the socket helpers' TIMEOUT."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2 * TIMEOUT
    while True:
        response = await http.get("/health/ready")
        if response.status_code == status:
            return response
        assert loop.time() < deadline, f"/health/ready still answers {response.status_code}: {response.text}"
        await asyncio.sleep(0.05)


async def test_ready_goes_503_while_another_process_holds_the_write_lock_and_back(site: Settings) -> None:
    async with running(site) as server:
        http = server.http
        assert (await http.get("/health/ready")).json() == {"ready": True, "reasons": []}
        with lock_held_elsewhere(site.database_url):
            refused = await ready_status(http, 503)
            assert refused.json()["ready"] is False
            assert "cannot take a write within 0.3 s" in refused.json()["reasons"][0]
            alert = await server.next_alert("readiness")
            assert (alert["previous"], alert["state"]) == ("OK", "CRITICAL")
            assert "cannot take a write" in alert["message"]
            whole = await http.get("/health")
            assert whole.status_code == 503 and whole.json()["ready"] is False
            assert whole.json()["notReady"] and whole.json()["status"] == "ok"  # the old key still there
            live = await http.get("/health/live")
            assert live.status_code == 200
            assert (await server.graphql("{ health { ready reasons } }"))["data"]["health"]["ready"] is False
        assert (await ready_status(http, 200)).json() == {"ready": True, "reasons": []}
        alert = await server.next_alert("readiness")
        assert (alert["previous"], alert["state"]) == ("CRITICAL", "OK")
        assert (await http.get("/health")).status_code == 200


async def test_a_critical_disk_makes_the_server_not_ready(site: Settings) -> None:
    """Thresholds at 0 %: any used disk is critical (no test can fill the volume)."""
    async with running(site, health_disk_usage_warning_percent=0, health_disk_usage_critical_percent=0) as server:
        refused = await ready_status(server.http, 503)
        assert any(reason.startswith("disk usage") for reason in refused.json()["reasons"])
        health = (await server.http.get("/health")).json()["health"]
        assert health["state"] == "critical" and health["metrics"]["diskUsage"]["state"] == "critical"


async def test_a_pending_migration_makes_the_server_not_ready_until_applied(site: Settings) -> None:
    """Another hand takes the newest migration's row away (as a database restored from an older backup would
    look): the schema is behind this server."""
    async with running(site) as server:
        db = server.server.services.store.db
        newest = available_migrations(FOLDERS[db.backend])[-1]
        async with db.writer() as conn:
            row = await conn.fetch_one("SELECT * FROM schema_version WHERE version = ?", (newest.version,))
            assert row is not None
            await conn.execute("DELETE FROM schema_version WHERE version = ?", (newest.version,))
        refused = await ready_status(server.http, 503)
        assert refused.json()["reasons"] == [
            f"migrations pending: {newest.version:04d}_{newest.name} (run `t3000gql migrate`)"
        ]
        marks = ", ".join("?" for _ in row)
        async with db.writer() as conn:
            await conn.execute(f"INSERT INTO schema_version VALUES ({marks})", tuple(row))
        await ready_status(server.http, 200)

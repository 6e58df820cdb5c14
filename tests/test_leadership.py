"""Leadership (t3000gql/leadership.py) over its two locks (t3000gql/storage/leader_lock.py): exactly one of the
processes sharing a database leads, and another takes over when it stops or loses its lock.

Two Services (or two locks) in one test process stand for two processes here: the SQLite lock is a `flock`, which
two opens of the file in one process contend for as two processes do; the PostgreSQL lock is an advisory lock on
a connection of each. The real processes (kill -9 included) are in tests/scale/. The Services tests run on both
databases; the advisory-lock tests get an empty database of their own on the test PostgreSQL server (created and
dropped; skipped without T3000GQL_TEST_POSTGRES_URL, failed under T3000GQL_REQUIRE_SERVICES=1 when unreachable).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.leadership import Leadership
from t3000gql.lifecycle import LifecycleHook
from t3000gql.services import Services
from t3000gql.storage.leader_lock import AdvisoryLeaderLock, FileLeaderLock, LeaderInfo
from tests.conftest import FakeClock
from tests.live.helpers import wait_until
from tests.postgres import NewDatabase, PostgresServer


@pytest.fixture
def site(tmp_path: Path, new_database_url: NewDatabase) -> Settings:
    """One database (of the test's backend: the file lock on SQLite, the advisory lock on PostgreSQL)."""
    return Settings.defaults(
        database_url=new_database_url("site"),
        database_pool_size=2,
        leader_timeout_seconds=1,
        station_spool_path=str(tmp_path / "spool"),
    )


async def test_one_of_two_servers_on_a_database_leads_and_the_other_takes_over_when_it_stops(
    site: Settings,
) -> None:
    first = await Services.start(site)
    second = await Services.start(site)
    try:
        assert first.leadership.is_leader and not second.leadership.is_leader
        assert first.collection.collector.scheduler.running
        assert not second.collection.collector.scheduler.running
        assert first.monitor is not None and second.monitor is None
        leader = (await second.health())["leadership"]["leader"]
        assert leader is not None and (leader["pid"], leader["host"]) == (os.getpid(), socket.gethostname())
        assert (await first.health())["leadership"]["isLeader"] is True
        await first.stop()
        await wait_until(lambda: second.leadership.is_leader, "the second server to lead")
        assert second.collection.collector.scheduler.running and second.monitor is not None
        assert (await second.health())["leadership"]["isLeader"] is True
    finally:
        await second.stop()
        await first.stop()


async def test_a_follower_on_a_memory_bus_warns_that_nothing_crosses(
    site: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with await Services.start(site), await Services.start(site):
        pass
    warnings = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == "t3000gql.services"
    ]
    assert len(warnings) == 1 and "BROADCAST_URL=memory://" in warnings[0]


async def test_only_the_leader_runs_retention(site: Settings) -> None:
    old, new = 1_609_459_200_000, 1_767_225_600_000  # 2021-01-01 and 2026-01-01 (UTC)
    clock = FakeClock(new + 200 * 86_400_000)
    first = await Services.start(site, clock=clock)
    second = await Services.start(site, clock=clock)
    try:
        await first.registry.upsert_device(DeviceInput(7, device_name="AHU", device_type="T3-BB"))
        await first.registry.upsert_points(7, [PointInput(PointType.INPUT, 1)])
        await first.store.writes.record(
            [Sample(PointRef(7, PointType.INPUT, 1), ts, 1.0) for ts in (old, new)], "api"
        )
        await second._retention()  # the daily job's body: a follower asks leadership and does nothing
        assert await partition_years(second) == [2021, 2026]
        await first._retention()
        assert await partition_years(second) == [2026]
    finally:
        await second.stop()
        await first.stop()


async def partition_years(services: Services) -> list[int]:
    db = services.store.db
    return sorted(int(name[-4:]) for (name,) in await db.fetch_all(db.dialect.list_partitions))


class Duties:
    """Two duties that record their starts and stops; the first start fails `failures` times."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.events: list[str] = []

    async def start_a(self, hook: LifecycleHook | None) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("cannot start a")
        self.events.append("start a")

    async def stop_a(self) -> None:
        self.events.append("stop a")

    async def start_b(self, hook: LifecycleHook | None) -> None:
        self.events.append("start b")

    async def stop_b(self) -> None:
        self.events.append("stop b")


def leadership(lock: FileLeaderLock | AdvisoryLeaderLock, duties: Duties, timeout: float = 0.3) -> Leadership:
    made = Leadership(lock, timeout_seconds=timeout)
    made.duty("a", duties.start_a, duties.stop_a)
    made.duty("b", duties.start_b, duties.stop_b)
    return made


async def test_duties_start_in_order_on_leading_and_stop_in_reverse(tmp_path: Path) -> None:
    duties = Duties()
    leader = leadership(FileLeaderLock(tmp_path / "db.leader"), duties)
    await leader.start()
    assert leader.is_leader and duties.events == ["start a", "start b"]
    await leader.stop()
    assert duties.events == ["start a", "start b", "stop b", "stop a"]
    assert (tmp_path / "db.leader").read_bytes() == b""  # nobody named as leader any more


async def test_a_duty_that_fails_at_start_up_fails_the_start_and_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "db.leader"
    with pytest.raises(RuntimeError, match="cannot start a"):
        await leadership(FileLeaderLock(path), Duties(failures=1)).start()
    other = FileLeaderLock(path)
    assert await other.try_acquire(LeaderInfo.of_this_process(0))
    await other.close()


async def test_a_duty_failing_on_a_later_takeover_leaves_a_follower_that_tries_again(tmp_path: Path) -> None:
    path = tmp_path / "db.leader"
    holder = FileLeaderLock(path)
    assert await holder.try_acquire(LeaderInfo.of_this_process(0))
    duties = Duties(failures=1)
    follower = leadership(FileLeaderLock(path), duties)
    await follower.start()
    try:
        assert not follower.is_leader
        await holder.close()
        await wait_until(lambda: follower.is_leader, "a takeover after the failed one")
        assert duties.failures == 0 and duties.events == ["start a", "start b"]
    finally:
        await follower.stop()


async def test_a_leader_whose_lock_file_was_replaced_steps_down_and_leads_again_on_the_new_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.leader"
    duties = Duties()
    leader = leadership(FileLeaderLock(path), duties)
    await leader.start()
    try:
        path.unlink()  # someone removed the file: a new holder of a new file would lead beside this one
        await wait_until(lambda: leader.terms == 2, "a second term on the new file")
        assert duties.events == ["start a", "start b", "stop b", "stop a", "start a", "start b"]
        assert path.exists()
    finally:
        await leader.stop()


async def test_a_dead_holder_named_in_the_lock_file_is_not_reported_as_leader(tmp_path: Path) -> None:
    path = tmp_path / "db.leader"
    path.write_text(json.dumps({"pid": 999_999_999, "host": socket.gethostname(), "since_ms": 1}))
    assert await FileLeaderLock(path).holder() is None


# --- PostgreSQL -------------------------------------------------------------------------------------------------


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """An empty database of its own on the test PostgreSQL server (skipped without T3000GQL_TEST_POSTGRES_URL),
    dropped afterwards: advisory locks belong to one database."""
    database = postgres_server.create_database(migrated=False)
    try:
        yield postgres_server.url_of(database)
    finally:
        postgres_server.drop_database(database)


async def test_the_advisory_lock_has_one_holder_named_to_the_others(postgres_url: str) -> None:
    first, second = AdvisoryLeaderLock(postgres_url, 3), AdvisoryLeaderLock(postgres_url, 3)
    await first.open()
    await second.open()
    try:
        me = LeaderInfo(4242, "host-a", 1_790_000_000_000)
        assert await first.try_acquire(me)
        assert not await second.try_acquire(LeaderInfo(4343, "host-b", 1_790_000_000_001))
        assert await second.holder() == me
        assert await first.still_held()
        await first.release()
        assert await second.holder() is None
        assert await second.try_acquire(LeaderInfo(4343, "host-b", 1_790_000_000_001))
    finally:
        await first.close()
        await second.close()


async def test_a_leader_whose_connection_is_killed_steps_down_and_another_takes_over(postgres_url: str) -> None:
    first_duties, second_duties = Duties(), Duties()
    first = leadership(AdvisoryLeaderLock(postgres_url, 0.6), first_duties, timeout=0.6)
    second = leadership(AdvisoryLeaderLock(postgres_url, 0.6), second_duties, timeout=0.6)
    await first.start()
    await second.start()
    try:
        assert first.is_leader and not second.is_leader
        await wait_until(lambda: second.leader is not None, "the follower to see who leads")
        assert second.leader is not None and second.leader.pid == os.getpid()
        admin = await asyncpg.connect(postgres_url)
        try:  # as if the leader's host vanished: the server ends its session, and with it the lock
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 't3000gql leader %' AND datname = current_database()"
            )
        finally:
            await admin.close()
        await wait_until(lambda: "stop a" in first_duties.events, "the leader to step down")
        assert first_duties.events[:4] == ["start a", "start b", "stop b", "stop a"]
        # Then whoever polls first leads (here the old leader may reconnect first; a vanished host could not).
        await wait_until(lambda: first.is_leader != second.is_leader, "exactly one leader again")
    finally:
        await second.stop()
        await first.stop()

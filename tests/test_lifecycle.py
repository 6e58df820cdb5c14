"""Start-up and shutdown of the whole server: every part starts in order and stops in reverse, and a failure at
any step stops exactly what had started (and nothing after it ever starts).

The failure is injected through the documented lifecycle hook (t3000gql/lifecycle.py): a hook that raises when
a part is `starting`. Real parts throughout: a SQLite file, the memory:// live bus, the demo site's Modbus
simulator and collector, a station on a real WebSocket server on 127.0.0.1. Besides what the hook heard, each
test checks what is left running: no asyncio task, no open database connection (SQLite removes the -wal file
when the last connection closes), no WebSocket connection to the station.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from websockets.asyncio.server import Server, ServerConnection, serve

from t3000gql.app import create_app
from t3000gql.config import Settings
from t3000gql.domain.stations import StationInput
from t3000gql.errors import LiveBusError, MigrationError
from t3000gql.ingest.stations import StationService, reading_limits
from t3000gql.lifecycle import Event, cancel_and_wait
from t3000gql.services import Services
from t3000gql.storage.store import Store

PARTS = [
    "store.database",
    "store",
    "auth",
    "live bus.connection",
    "live bus.publisher",
    "live bus.flush",
    "live bus",
    "collection.demo site",
    "collection.device access",
    "collection.current reads",
    "collection",
    "peers",
    "leadership.lock",
    "leadership.collection schedule",
    "leadership.station monitor.flusher",
    "leadership.station monitor.stations",
    "leadership.station monitor",
    "leadership.watch",
    "leadership",
    "health",
    "cache cleanup",
    "retention",
]
"""Every part of Services with the demo and a monitored station, in the order they finish starting (an owner
finishes after its own parts, named `owner.part`; the leader's duties are parts of leadership, and the station
monitor's parts are parts of that duty)."""


def in_stopping_order(started: list[str]) -> list[str]:
    """The order in which parts that started finish stopping: each owner after its own parts, which stop in the
    reverse of the order they started, at any depth. A part's owner is the longest dotted prefix of its name that
    started too; a part whose owner failed while starting its parts (so never started) is stopped on its own,
    in reverse with the others."""
    started_set = set(started)

    def owner(part: str) -> str | None:
        pieces = part.split(".")
        for cut in range(len(pieces) - 1, 0, -1):
            candidate = ".".join(pieces[:cut])
            if candidate in started_set:
                return candidate
        return None

    children: dict[str | None, list[str]] = {}
    for part in started:
        children.setdefault(owner(part), []).append(part)

    def stopping(part: str) -> list[str]:
        return [p for child in reversed(children.get(part, [])) for p in stopping(child)] + [part]

    return [p for root in reversed(children.get(None, [])) for p in stopping(root)]


class InjectedFailure(Exception):
    pass


class Recorder:
    """The lifecycle hook: records every event, and raises when `fail_at` is starting."""

    def __init__(self, fail_at: str | None = None) -> None:
        self.fail_at = fail_at
        self.events: list[tuple[str, Event]] = []

    def __call__(self, part: str, event: Event) -> None:
        self.events.append((part, event))
        if part == self.fail_at and event == "starting":
            raise InjectedFailure(part)

    def parts(self, event: Event) -> list[str]:
        return [part for part, seen in self.events if seen == event]


@pytest.fixture
async def station_server() -> AsyncIterator[Server]:
    """A WebSocket endpoint that accepts a station connection and holds it open (sends nothing)."""

    async def hold(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async with serve(hold, "127.0.0.1", 0) as server:
        yield server


@pytest.fixture
async def site(tmp_path: Path, station_server: Server) -> Settings:
    """Settings of a database that holds one station with a WebSocket URL (so the monitor connects)."""
    settings = Settings.defaults(
        database_url=f"sqlite:///{tmp_path / 'site.db'}",
        database_pool_size=2,
        station_spool_path=str(tmp_path / "spool.jsonl"),
    )
    port = next(iter(station_server.sockets)).getsockname()[1]
    async with await Store.open(settings) as store:
        service = StationService(store, reading_limits(settings))
        await service.create_station(StationInput(name="ST-1", websocket_url=f"ws://127.0.0.1:{port}/ST-1"))
    return settings


def other_tasks(before: set[asyncio.Task[object]]) -> set[asyncio.Task[object]]:
    return asyncio.all_tasks() - before - {asyncio.current_task()}  # type: ignore[operator]


async def assert_nothing_left_running(
    before: set[asyncio.Task[object]], settings: Settings, station_server: Server
) -> None:
    left = other_tasks(before)
    if left:  # a library may finish a cancelled task on the next loop turn: wait for them, with a bound
        await asyncio.wait(left, timeout=5)
    assert [task.get_name() for task in left if not task.done()] == []
    wal = settings.database_url.removeprefix("sqlite:///") + "-wal"
    assert not await asyncio.to_thread(os.path.exists, wal), "a database connection is still open"
    await within_bound(lambda: not station_server.connections, "the station client to disconnect")


async def within_bound(condition: Callable[[], bool], what: str) -> None:
    """Polls until `condition` holds; fails after 10 s (a bound, not a timing assertion)."""
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_every_part_starts_in_order_and_stops_in_reverse(site: Settings, station_server: Server) -> None:
    before = asyncio.all_tasks()
    recorder = Recorder()
    services = await Services.start(site, demo=True, hook=recorder)
    try:
        assert recorder.parts("started") == PARTS
        assert recorder.parts("stopped") == []
        await within_bound(lambda: len(station_server.connections) == 1, "the station client to connect")
    finally:
        await services.stop()
    assert recorder.parts("stopped") == in_stopping_order(PARTS)
    await assert_nothing_left_running(before, site, station_server)


@pytest.mark.parametrize("failing", PARTS)
async def test_a_failure_at_any_step_stops_exactly_what_had_started(
    site: Settings, station_server: Server, failing: str
) -> None:
    before = asyncio.all_tasks()
    recorder = Recorder(fail_at=failing)
    with pytest.raises(InjectedFailure):
        await Services.start(site, demo=True, hook=recorder)
    started = recorder.parts("started")
    # Nothing after the failing step began to start: its `starting` is the last one heard.
    assert recorder.parts("starting")[-1] == failing
    assert failing not in started
    # Everything that had started was stopped, in reverse, and nothing else was.
    assert recorder.parts("stopped") == in_stopping_order(started)
    assert set(started) < set(PARTS)
    await assert_nothing_left_running(before, site, station_server)


async def test_an_unreachable_live_bus_stops_the_store_again(site: Settings, station_server: Server) -> None:
    before = asyncio.all_tasks()
    recorder = Recorder()
    settings = Settings.defaults(**{**_fields(site), "broadcast_url": "redis://127.0.0.1:1"})  # nothing there
    with pytest.raises(LiveBusError):
        await Services.start(settings, hook=recorder)
    assert recorder.parts("started") == ["store.database", "store", "auth"]
    assert recorder.parts("stopped") == ["auth", "store.database", "store"]
    await assert_nothing_left_running(before, site, station_server)


async def test_a_failed_migration_closes_the_database_again(site: Settings, station_server: Server) -> None:
    database = site.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("INSERT INTO schema_version VALUES (9999, 'future', 0)")
    before = asyncio.all_tasks()
    recorder = Recorder()
    with pytest.raises(MigrationError):
        await Services.start(site, hook=recorder)
    assert recorder.parts("started") == ["store.database"]
    assert recorder.parts("stopped") == ["store.database"]
    await assert_nothing_left_running(before, site, station_server)


def plain_settings(tmp_path: Path) -> Settings:
    """A database without stations: the app's tests run its lifespan in TestClient's own thread and loop."""
    return Settings.defaults(
        database_url=f"sqlite:///{tmp_path / 'app.db'}",
        database_pool_size=2,
        station_spool_path=str(tmp_path / "spool.jsonl"),
    )


def test_the_app_lifespan_unwinds_a_failed_start_up(tmp_path: Path) -> None:
    recorder = Recorder(fail_at="leadership.station monitor.stations")
    app = create_app(plain_settings(tmp_path), hook=recorder)
    with pytest.raises(InjectedFailure), TestClient(app):
        pass
    assert recorder.parts("stopped") == in_stopping_order(recorder.parts("started"))
    assert "collection" in recorder.parts("stopped")


def test_the_app_lifespan_stops_every_part_on_shutdown(tmp_path: Path) -> None:
    recorder = Recorder()
    with TestClient(create_app(plain_settings(tmp_path), hook=recorder), base_url="http://127.0.0.1") as client:
        assert client.get("/health").json()["status"] == "ok"
        assert recorder.parts("stopped") == []
    assert recorder.parts("stopped") == in_stopping_order(recorder.parts("started"))


async def test_cancel_and_wait_lets_the_callers_own_cancellation_through() -> None:
    release = asyncio.Event()
    waiting = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # takes its time to clean up
            raise

    async def stopper(task: asyncio.Task[None]) -> str:
        waiting.set()
        await cancel_and_wait(task)
        return "carried on as if not cancelled"

    worker = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    caller = asyncio.create_task(stopper(worker))
    await waiting.wait()
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert caller.cancelled()
    release.set()
    await asyncio.wait([worker])
    assert worker.cancelled()


async def test_cancel_and_wait_logs_a_tasks_own_error_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise RuntimeError("broker went away")

    failed = asyncio.create_task(fails(), name="listener")
    await asyncio.wait([failed])
    with caplog.at_level(logging.DEBUG, logger="t3000gql.lifecycle"):
        await cancel_and_wait(failed, None)
    assert "listener ended with an error" in caplog.text and "broker went away" in caplog.text


def _fields(settings: Settings) -> dict[str, object]:
    from dataclasses import fields

    return {f.name: getattr(settings, f.name) for f in fields(settings)}

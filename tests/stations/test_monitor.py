"""The live station monitor against the station simulator over real WebSockets on 127.0.0.1 (port 0): readings
arrive and are queryable; a locked database sends them to the spool and they come back, exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from station_sim import StationSimulator
from websockets.asyncio.server import ServerConnection, serve

from t3000gql.config import Settings
from t3000gql.domain.stations import ReadingInput, StationInput
from t3000gql.ingest.monitor import MonitorConfig, StationMonitor
from t3000gql.ingest.readings import ReadingFilter, ReadingReader
from t3000gql.ingest.station_client import BACKOFF, CONNECTED
from t3000gql.ingest.stations import StationService, reading_limits
from t3000gql.services import Services
from t3000gql.storage.store import Store
from tests.postgres import write_lock_held_async
from tests.stations.station_helpers import station_settings, wait_for

NAMES = ["ST-A", "ST-B", "ST-C"]


@pytest.fixture
async def simulator() -> AsyncIterator[StationSimulator]:
    sim = StationSimulator(NAMES, rate_hz=200, max_readings=60)
    sim.pause()  # each test resumes it once the monitor is connected
    async with sim:
        yield sim


async def connect_stations(service: StationService, sim: StationSimulator) -> None:
    for name in sim.names:
        await service.create_station(StationInput(name=name, websocket_url=sim.url(name)))


async def start_monitor(service: StationService, settings: Settings) -> StationMonitor:
    monitor = StationMonitor(service, MonitorConfig.from_settings(settings, service.store.db.path))
    await monitor.start()
    return monitor


async def stored(store: Store) -> int:
    row = await store.db.fetch_one("SELECT count(*) FROM power_readings")
    return int(row[0]) if row else 0


async def stored_is(store: Store, expected: int) -> bool:
    return await stored(store) == expected


async def stored_at_least(store: Store, expected: int) -> bool:
    return await stored(store) >= expected


async def test_readings_arrive_and_are_queryable_as_rows_and_series(
    service: StationService, store: Store, settings: Settings, simulator: StationSimulator
) -> None:
    await connect_stations(service, simulator)
    monitor = await start_monitor(service, settings)
    try:
        await wait_for(lambda: all(link.state == CONNECTED for link in monitor.links()), what="connections")
        simulator.resume()
        await wait_for(simulator.done, what="the simulator to finish")
        await wait_for(lambda: stored_is(store, simulator.total_sent), what="every sent reading to be stored")
    finally:
        await monitor.stop()
    assert simulator.total_sent == 180
    reader = ReadingReader(store)
    station = await service.require_station(name="ST-B")
    rows = await reader.readings(ReadingFilter(station_name="ST-B", limit=1000))
    assert len(rows) == 60 and {r.source for r in rows} == {"websocket"}
    assert all(None not in r.values for r in rows)
    series = await reader.series(station, rows[0].ts_ms, rows[-1].ts_ms + 1)
    assert {name: len(s.timestamps) for name, s in series.items()} == dict.fromkeys(series, 60)
    assert monitor.stats.received == 180 and monitor.stats.written == 180 and monitor.stats.spooled == 0
    assert [link.received for link in monitor.links()] == [60, 60, 60]


async def test_locked_database_spools_and_recovers_exactly(
    service: StationService, store: Store, settings: Settings, simulator: StationSimulator
) -> None:
    await connect_stations(service, simulator)
    monitor = await start_monitor(service, settings)
    try:
        await wait_for(lambda: all(link.state == CONNECTED for link in monitor.links()), what="connections")
        simulator.resume()
        await wait_for(lambda: stored_at_least(store, 30), what="some readings stored")
        async with write_lock_held_async(
            settings.database_url
        ):  # another process holds the write lock: writes fail in 50 ms
            await wait_for(lambda: monitor.stats.spooled > 0, what="readings to be spooled")
            assert not monitor.stats.database_available and monitor.spool.exists()
            await wait_for(simulator.done, what="the simulator to finish")
            await wait_for(lambda: monitor.buffered == 0, what="the buffer to reach the spool")
        await wait_for(lambda: not monitor.spool.exists(), what="the spool to be replayed")
        await wait_for(lambda: stored_is(store, simulator.total_sent), what="every reading stored")
    finally:
        await monitor.stop()
    assert simulator.total_sent == 180
    assert monitor.stats.replayed == monitor.stats.spooled > 0
    assert monitor.stats.written == 180 and monitor.stats.duplicates == 0 and monitor.stats.database_available
    rows = await store.db.fetch_one(
        "SELECT count(*), count(DISTINCT point_id) FROM timeseries_data_" + _year(store)
    )
    assert rows == (1800, 30)  # ten channels of each reading, each stored once


def _year(store: Store) -> str:
    return str(store.partitions.years[-1])


async def test_spool_survives_a_restart_and_is_replayed_at_start_up(
    tmp_path: Path, database_url: str, simulator: StationSimulator
) -> None:
    settings = station_settings(tmp_path, database_url)
    store = await Store.open(settings)
    service = StationService(store, reading_limits(settings))
    await connect_stations(service, simulator)
    monitor = await start_monitor(service, settings)
    await wait_for(lambda: all(link.state == CONNECTED for link in monitor.links()), what="connections")
    async with write_lock_held_async(database_url):
        simulator.resume()
        await wait_for(simulator.done, what="the simulator to finish")
        await wait_for(lambda: monitor.stats.received == simulator.total_sent, what="everything received")
        await monitor.stop()  # the server stops while the database is still locked: the buffer is spooled
        await store.close()
    assert monitor.stats.spooled == simulator.total_sent == 180
    store = await Store.open(settings)
    service = StationService(store, reading_limits(settings))
    restarted = await start_monitor(service, settings)
    try:
        await wait_for(lambda: not restarted.spool.exists(), what="the replay at start-up")
        assert await stored(store) == 180
        assert restarted.stats.replayed == 180 and restarted.stats.written == 180
    finally:
        await restarted.stop()
        await store.close()


async def test_replaying_readings_already_stored_stores_nothing_twice(
    service: StationService, store: Store, settings: Settings
) -> None:
    """A crash after a replayed batch was committed but before the spool was removed replays it again."""
    station = await service.create_station(StationInput(name="A"))
    readings = [
        ReadingInput(1_705_314_600_000 + i, (1.0 + i, *(None,) * 9), station_id=station.device_id)
        for i in range(5)
    ]
    prepared, _ = await service.prepare(readings)
    await service.write(prepared, "websocket")
    monitor = StationMonitor(service, MonitorConfig.from_settings(settings, store.db.path))
    monitor.spool.append(readings)
    await monitor.start()
    try:
        await wait_for(lambda: not monitor.spool.exists(), what="the replay")
    finally:
        await monitor.stop()
    assert (monitor.stats.replayed, monitor.stats.duplicates, monitor.stats.written) == (5, 5, 0)
    assert await stored(store) == 5


async def test_dropped_connections_reconnect_and_lose_nothing(
    service: StationService, store: Store, settings: Settings, simulator: StationSimulator
) -> None:
    await connect_stations(service, simulator)
    monitor = await start_monitor(service, settings)
    try:
        await wait_for(lambda: all(link.state == CONNECTED for link in monitor.links()), what="connections")
        simulator.resume()
        await wait_for(lambda: simulator.total_sent >= 30, what="some readings sent")
        await simulator.drop_connections()
        await wait_for(lambda: all(link.connects >= 2 for link in monitor.links()), what="reconnections")
        await wait_for(simulator.done, what="the simulator to finish")
        await wait_for(lambda: stored_is(store, simulator.total_sent), what="every reading stored")
    finally:
        await monitor.stop()
    assert simulator.total_sent == 180


async def test_unreachable_station_backs_off_and_shows_why(service: StationService, settings: Settings) -> None:
    await service.create_station(StationInput(name="gone", websocket_url="ws://127.0.0.1:9/nothing"))
    monitor = await start_monitor(service, settings)
    try:
        await wait_for(lambda: monitor.links()[0].failures >= 3, what="repeated failures")
        link = monitor.links()[0]
        assert link.state in (BACKOFF, "CONNECTING") and link.last_error and link.connects == 0
    finally:
        await monitor.stop()
    assert monitor.links()[0].state == "STOPPED"


async def test_bad_messages_are_rejected_and_counted(
    service: StationService, store: Store, settings: Settings
) -> None:
    ts = 1_705_314_600_000
    messages = [
        "not json",
        orjson.dumps({"type": "status", "ok": True}),  # ignored
        orjson.dumps({"timestamp": ts + 3, "station": "other", "activePower1": 1.0}),
        orjson.dumps({"activePower1": 1.0}),
        orjson.dumps({"timestamp": ts, "activePower1": 5.0}),  # good
        # last: its -1 is refused when the batch is written, after every message was read (each message is
        # read once the readings before it are journaled, so a refusal at write time may come before a later
        # message's)
        orjson.dumps([{"timestamp": ts + 1, "activePower1": 6.0}, {"timestamp": ts + 2, "activePower1": -1}]),
    ]

    async def handler(ws: ServerConnection) -> None:
        for message in messages:
            await ws.send(message)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        await service.create_station(StationInput(name="A", websocket_url=f"ws://127.0.0.1:{port}/A"))
        monitor = await start_monitor(service, settings)
        try:
            await wait_for(lambda: monitor.links()[0].rejected == 4, what="rejections")
            await wait_for(lambda: stored_is(store, 2), what="the two good readings")
        finally:
            await monitor.stop()
    link = monitor.links()[0]
    assert (link.received, link.rejected) == (3, 4)  # the -1 reading was received, then refused by validation
    assert "activePower1" in (link.last_error or "")


async def test_services_start_the_monitor_and_follow_station_changes(
    tmp_path: Path, database_url: str, simulator: StationSimulator
) -> None:
    services = await Services.start(station_settings(tmp_path, database_url))
    try:
        assert services.monitor is not None and services.monitor.links() == []
        await services.stations.create_station(StationInput(name="ST-A", websocket_url=simulator.url("ST-A")))
        monitor = services.monitor
        await wait_for(lambda: [link.state for link in monitor.links()] == [CONNECTED], what="the new station")
        health = await services.health()
        assert health["stationMonitor"]["connected"] == 1
        await services.stations.upsert_station(StationInput(name="ST-A", websocket_url=None))
        await wait_for(lambda: monitor.links()[0].state == "STOPPED", what="the client to stop")
    finally:
        await services.stop()
    disabled = await Services.start(station_settings(tmp_path, database_url, station_monitor_enabled=False))
    try:
        assert disabled.monitor is None
    finally:
        await disabled.stop()

"""A device that stops answering in the middle of collection, on the real aiocron schedule over real sockets.

Two simulators, so one can hang (`pause()`: it reads requests and never answers, like a hung controller)
while the other keeps answering. The test waits on collection and status events with bounded waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from t3000gql.collect.collector import RunEvent
from t3000gql.collect.service import Collection
from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator
from t3000gql.config import Settings
from t3000gql.storage.store import Store
from tests.collect.helpers import Recorder, add_t3, add_trend_log, fourteen_points, runs, status_listener, statuses

HUNG, HEALTHY = 3001, 3002


@pytest_asyncio.fixture
async def two_sims() -> AsyncIterator[tuple[T3ModbusSimulator, T3ModbusSimulator]]:
    async with (
        T3ModbusSimulator(units=[1], update_interval=None) as first,
        T3ModbusSimulator(units=[1], update_interval=None) as second,
    ):
        yield first, second


async def test_a_device_that_stops_answering_goes_offline_others_keep_collecting_it_comes_back(
    database_url: str, two_sims: tuple[T3ModbusSimulator, T3ModbusSimulator]
) -> None:
    hung_sim, healthy_sim = two_sims
    # A failing read of the hung device takes about 2 x 1.5 s, while the healthy one is due every second.
    settings = Settings.defaults(
        database_url=database_url,
        t3000_interface_timeout_ms=1500,
        t3000_max_retries=1,
        collector_error_retry_seconds=1,
    )
    store = await Store.open(settings)
    collection = Collection(store, clock=store.clock, backoff_base=0.01)
    events = Recorder()
    collection.collector.add_listener(events)
    collection.on_status_change(status_listener(events))
    try:
        hung_log = await add_trend_log(store, HUNG, await add_t3(store, HUNG, hung_sim, 1, fourteen_points()))
        healthy_log = await add_trend_log(
            store, HEALTHY, await add_t3(store, HEALTHY, healthy_sim, 1, fourteen_points())
        )
        await collection.start()
        await events.wait_for(lambda e: (HUNG, True) in online(e) and (HEALTHY, True) in online(e))

        hung_sim.pause()
        await events.wait_for(lambda e: (HUNG, False) in online(e))
        [offline] = [s for s in statuses(events.events) if s.device_id == HUNG and not s.online]
        assert offline.fault is not None and offline.fault.code == "DEVICE_TIMEOUT"
        assert offline.fault.retry_at_ms == offline.at_ms + 1000  # COLLECTOR_ERROR_RETRY_SECONDS=1
        failed = runs(events.events, "failed", hung_log.id)
        assert len(failed) == 1 and "did not answer" in str(failed[0].error)
        # While the hung device's read was waiting for answers, the healthy device was collected.
        started = index_of(events.events, runs(events.events, "started", hung_log.id)[-1])
        ended = index_of(events.events, failed[0])
        healthy_between = [
            e
            for e in events.events[started:ended]
            if isinstance(e, RunEvent) and e.trend_log_id == healthy_log.id and e.outcome == "succeeded"
        ]
        assert healthy_between, "the healthy device waited for the hung one"
        assert (await store.devices.require(HUNG)).online is False

        hung_sim.resume()
        await events.wait_for(lambda e: online(e)[-1:] == [(HUNG, True)])
        assert runs(events.events, "failed", healthy_log.id) == []
        assert (await store.devices.require(HUNG)).online is True
        report = collection.report()
        assert report["lastHour"]["failures"] >= 1
        assert report["total"]["overlapsSkipped"] >= 1  # the hung log's ticks while its run was waiting
    finally:
        await collection.stop()
        await store.close()


def online(events: list[object]) -> list[tuple[int, bool]]:
    return [(status.device_id, status.online) for status in statuses(events)]


def index_of(events: list[object], event: object) -> int:
    return next(i for i, e in enumerate(events) if e is event)

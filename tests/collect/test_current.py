"""Cache-first current values with a single, batched device read on a miss; refresh and write of a point.

The fake clock makes values fresh or stale without waiting; device reads are counted at the simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from t3000gql.collect.commands import WRITE_OPERATION
from t3000gql.collect.current import READ_SOURCE
from t3000gql.collect.service import Collection
from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator
from t3000gql.config import Settings
from t3000gql.domain.audit import Actor
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.errors import DeviceError, DeviceOffline, DeviceTimeout
from t3000gql.storage.store import Store
from tests.collect.helpers import add_t3
from tests.conftest import FakeClock

DEVICE = 4001
READ = 3  # function code of a register read


async def stale_point(collection: Collection, clock: FakeClock, sim: T3ModbusSimulator) -> tuple[PointRef, int]:
    """A point whose cached value (1.0) is older than CACHE_DURATION_SECONDS; the simulator serves 42.5."""
    store = collection.store
    [ref] = await add_t3(store, DEVICE, sim, 1, [(PointType.INPUT, 3)])
    await store.writes.record([Sample(ref, clock() - 61_000, 1.0)], "test")
    await sim.set_value(1, PointType.INPUT, 3, 42.5)
    return ref, (await store.points.resolve([ref]))[ref]


async def test_a_fresh_value_is_served_without_asking_the_device(
    collection: Collection, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    [ref] = await add_t3(collection.store, DEVICE, t3_sim, 1, [(PointType.INPUT, 1)])
    await collection.store.writes.record([Sample(ref, clock() - 1000, 7.0)], "test")
    pid = (await collection.store.points.resolve([ref]))[ref]
    reading = await collection.read_current([pid])
    assert reading.values[pid].value == 7.0 and not reading.values[pid].stale
    assert reading.errors == {}
    assert t3_sim.request_count == 0


async def test_20_concurrent_reads_of_a_stale_point_make_one_device_read(
    collection: Collection, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    _, pid = await stale_point(collection, clock, t3_sim)
    readings = await asyncio.gather(*(collection.read_current([pid]) for _ in range(20)))
    assert t3_sim.requests[READ] == 1
    assert collection.reader.device_reads == 1
    for reading in readings:
        value = reading.values[pid]
        assert (value.value, value.stale, value.source, value.ts_ms) == (42.5, False, READ_SOURCE, clock())
        assert reading.errors == {}
    # the value read went through the write path: cache and history have it
    assert collection.store.cache.lookup(pid).fresh
    history = await collection.store.history.read_range([pid], clock() - 1, clock() + 1)
    assert list(history[pid].values) == [42.5]


async def test_stale_points_of_one_device_are_read_in_one_batch(
    collection: Collection, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    refs = await add_t3(collection.store, DEVICE, t3_sim, 1, [(PointType.INPUT, n) for n in (1, 2, 3, 4)])
    ids = await collection.store.points.resolve(refs)
    readings = await asyncio.gather(*(collection.read_current([ids[ref]]) for ref in refs))
    assert t3_sim.requests[READ] == 1
    served = {ref: await t3_sim.value(1, ref.point_type, ref.point_number) for ref in refs}
    assert [r.values[ids[ref]].value for r, ref in zip(readings, refs, strict=True)] == list(served.values())


async def test_a_device_that_does_not_answer_gives_the_stale_value_and_a_timeout_in_bounded_time(
    collect_settings: Settings, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    # Each request may take 0.3 s and is tried 6 times (about 2 s in all); a reader waits 0.3 s at most.
    settings = Settings.defaults(
        **{**_fields(collect_settings), "t3000_interface_timeout_ms": 300, "t3000_max_retries": 5}
    )
    store = await Store.open(settings, clock=clock)
    collection = Collection(store, clock=clock, backoff_base=0.01)
    try:
        _, pid = await stale_point(collection, clock, t3_sim)
        t3_sim.pause()
        reading = await collection.read_current([pid])
        # The reader has its answer while the read (with its retries) is still going: it did not wait for it.
        assert collection.reader.in_flight(pid)
        value = reading.values[pid]
        assert (value.value, value.stale) == (1.0, True)
        assert isinstance(reading.errors[pid], DeviceTimeout)
        assert reading.errors[pid].code == "DEVICE_TIMEOUT"
        assert "did not answer within 0.3 s" in str(reading.errors[pid])
        again = await collection.read_current([pid])  # joins the same read instead of starting another
        assert isinstance(again.errors[pid], DeviceTimeout)
        assert collection.reader.device_reads == 1
    finally:
        await collection.stop()
        await store.close()


async def test_an_offline_device_is_not_asked_again_inside_its_skip_window(
    collection: Collection, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    _, pid = await stale_point(collection, clock, t3_sim)
    t3_sim.pause()
    first = await collection.read_current([pid])
    assert isinstance(first.errors[pid], DeviceTimeout)
    await collection.reader.wait_idle()  # the read in flight ends: it fails and marks the device offline
    assert collection.health.skipped_until(DEVICE) is not None
    assert (await collection.store.devices.require(DEVICE)).online is False
    requests = t3_sim.request_count
    offline = await collection.read_current([pid])
    error = offline.errors[pid]
    assert isinstance(error, DeviceOffline) and error.code == "DEVICE_OFFLINE" and offline.values[pid].stale
    assert "is offline" in str(error) and "tried again at" in str(error)
    fault = offline.faults[pid]
    assert fault.retry_at_ms == error.retry_at_ms == clock() + collection.health.retry_ms
    assert fault.since_ms == clock()  # the first time it did not answer
    assert t3_sim.request_count == requests  # not asked
    t3_sim.resume()
    clock.advance(collection.health.retry_ms / 1000)
    back = await collection.read_current([pid])
    assert back.values[pid].value == 42.5 and not back.errors
    assert (await collection.store.devices.require(DEVICE)).online is True


async def test_refresh_point_reads_even_a_fresh_value(
    collection: Collection, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    [ref] = await add_t3(collection.store, DEVICE, t3_sim, 1, [(PointType.VARIABLE, 5)])
    await collection.store.writes.record([Sample(ref, clock(), 3.0)], "test")
    await t3_sim.set_value(1, PointType.VARIABLE, 5, 21.5)
    value = await collection.refresh_point(ref)
    assert (value.value, value.stale, value.source) == (21.5, False, READ_SOURCE)
    assert t3_sim.requests[READ] == 1


async def test_refresh_point_raises_the_device_error(collection: Collection, t3_sim: T3ModbusSimulator) -> None:
    [ref] = await add_t3(collection.store, DEVICE, t3_sim, 7, [(PointType.VARIABLE, 5)])  # no unit 7
    with pytest.raises(DeviceError, match="Modbus exception 4"):
        await collection.refresh_point(ref)


async def test_write_point_value_writes_the_device_then_records_with_an_audit_entry(
    collection: Collection, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    store = collection.store
    [ref] = await add_t3(store, DEVICE, t3_sim, 1, [(PointType.OUTPUT, 2)])
    await store.writes.record([Sample(ref, clock() - 5000, 10.0)], "test")
    clock.advance(1)
    value = await collection.write_point_value(ref, 55.125, actor=Actor("alice", "10.0.0.9"))
    assert await t3_sim.value(1, PointType.OUTPUT, 2) == 55.125
    assert (value.value, value.stale) == (55.125, False)
    pid = (await store.points.resolve([ref]))[ref]
    assert store.cache.peek(pid).value == 55.125  # type: ignore[union-attr]
    [entry] = await store.audit.recent(device_id=DEVICE)
    assert (entry.operation, entry.user_id, entry.client, entry.outcome, entry.old_value, entry.new_value) == (
        WRITE_OPERATION,
        "alice",
        "10.0.0.9",
        "done",
        10.0,
        55.125,
    )


async def test_a_refused_write_stores_nothing_and_is_audited_as_failed(
    collection: Collection, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    store = collection.store
    [ref] = await add_t3(
        store, DEVICE, t3_sim, 1, [(PointType.VARIABLE, 9)], options={"register": {"register": 40000}}
    )
    with pytest.raises(DeviceError, match="illegal data address") as refused:
        await collection.write_point_value(ref, 1.0)
    assert refused.value.extensions == {"deviceWrite": "REFUSED"}
    [entry] = await store.audit.recent()
    assert (entry.operation, entry.outcome, entry.new_value) == (WRITE_OPERATION, "failed", 1.0)
    assert entry.detail["device_took"] == "no" and "illegal data address" in entry.detail["error"]
    assert store.cache.stats().total_points == 0


async def test_points_of_devices_without_a_driver_are_served_from_the_cache(
    collection: Collection, clock: FakeClock
) -> None:
    store = collection.store
    await store.devices.upsert(DeviceInput(5001, device_name="by API", device_type="meter"))
    await store.points.upsert(5001, [PointInput(PointType.VARIABLE, 1)])
    ref = PointRef(5001, PointType.VARIABLE, 1)
    await store.writes.record([Sample(ref, clock() - 600_000, 3.5)], "api")
    pid = (await store.points.resolve([ref]))[ref]
    reading = await collection.read_current([pid, 999_999])
    assert reading.values[pid].stale and reading.values[pid].value == 3.5
    assert reading.errors == {}


def _fields(settings: Settings) -> dict[str, object]:
    from dataclasses import fields

    return {f.name: getattr(settings, f.name) for f in fields(settings)}


@pytest.fixture
async def patient(collect_settings: Settings, clock: FakeClock) -> AsyncIterator[Collection]:
    """Collection whose readers wait up to 2 s: a bulk read split to find a lacking register takes a few requests,
    milliseconds each, which a loaded test machine must not turn into a reader's timeout."""
    settings = Settings.defaults(**{**_fields(collect_settings), "t3000_interface_timeout_ms": 2000})
    store = await Store.open(settings, clock=clock)
    collection = Collection(store, clock=clock, backoff_base=0.01)
    try:
        yield collection
    finally:
        await collection.stop()
        await store.close()


async def test_one_point_the_device_lacks_leaves_the_others_of_the_batch_read(
    patient: Collection, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    collection = patient
    store = collection.store
    refs = await add_t3(store, DEVICE, t3_sim, 1, [(PointType.INPUT, n) for n in (1, 2, 3)])
    await store.writes.record([Sample(refs[1], clock() - 120_000, 5.0)], "test")  # an old value of INPUT 2
    t3_sim.remove_point(1, PointType.INPUT, 2)
    ids = await store.points.resolve(refs)
    reading = await collection.read_current([ids[ref] for ref in refs])
    assert reading.values[ids[refs[0]]].value == await t3_sim.value(1, PointType.INPUT, 1)
    assert not reading.values[ids[refs[2]]].stale
    stale = reading.values[ids[refs[1]]]
    assert (stale.value, stale.stale) == (5.0, True)  # its last value, marked stale, with its own error
    error = reading.errors[ids[refs[1]]]
    assert (
        type(error) is not DeviceTimeout and error.code == "DEVICE_ERROR" and "illegal data address" in str(error)
    )
    assert list(reading.errors) == [ids[refs[1]]]
    assert collection.health.skipped_until(DEVICE) is None
    assert (await store.devices.require(DEVICE)).online is True


async def test_a_refused_write_leaves_the_device_online(
    patient: Collection, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    collection = patient
    store = collection.store
    refs = await add_t3(store, DEVICE, t3_sim, 1, [(PointType.VARIABLE, 8), (PointType.INPUT, 2)])
    t3_sim.refuse_writes(1, PointType.VARIABLE, 8)
    with pytest.raises(DeviceError, match="illegal data address") as info:
        await collection.write_point_value(refs[0], 1.0)
    assert not isinstance(info.value, DeviceTimeout)
    assert collection.health.skipped_until(DEVICE) is None
    assert (await store.devices.require(DEVICE)).online is True
    reads = collection.reader.device_reads
    reading = await collection.read_current([(await store.points.resolve([refs[1]]))[refs[1]]])
    assert reading.errors == {} and collection.reader.device_reads == reads + 1


async def test_a_read_in_flight_when_the_device_is_corrected_cannot_mark_it_offline(
    collection: Collection, clock: FakeClock, t3_sim: T3ModbusSimulator
) -> None:
    store = collection.store
    _, pid = await stale_point(collection, clock, t3_sim)
    t3_sim.pause()  # the device as configured hangs: the read below stays in flight
    first = await collection.read_current([pid])
    assert isinstance(first.errors[pid], DeviceTimeout) and collection.reader.in_flight(pid)
    async with T3ModbusSimulator(units=[1], update_interval=None) as fixed:
        await fixed.set_value(1, PointType.INPUT, 3, 7.25)
        await store.devices.upsert(DeviceInput(DEVICE, port=fixed.port))  # the port corrected meanwhile
        await collection.devices_changed()
        await collection.reader.wait_idle()  # the old read times out now: its outcome is dropped
        assert collection.health.skipped_until(DEVICE) is None
        assert (await store.devices.require(DEVICE)).online is not False
        reading = await collection.read_current([pid])
        assert reading.values[pid].value == 7.25 and reading.errors == {}
        assert fixed.requests[3] == 1
    t3_sim.resume()

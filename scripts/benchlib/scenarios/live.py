"""Live subscription scenarios: the app in a process of its own, WebSocket clients in this process.

The server process (`benchlib.serve` with `control=` this module's `control`) creates the devices and points,
then writes through the write path itself when told to, as the collector does, so latency is the time from the
write-path call to the moment a client has parsed the change. Every WebSocket scenario writes for 10 s (2 s with
--quick) and also reports deliveries/s, coalesced values and the CPU of the server and of this process (on a
machine with few cores the two compete). `--broadcast-url redis://127.0.0.1:6379` measures through Redis.
BENCH_LIVE_DEFLATE=0 turns WebSocket compression off in the server; BENCH_LIVE_PROFILE=FILE writes a cProfile
dump of the server process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib.context import Context
from benchlib.registry import Result, scenario
from benchlib.report import measured
from benchlib.serve import Handler, Server, serve
from benchlib.wsclient import DRAIN_SECONDS, Client, now_us, settle, stop_all, subscribe_all

SUBSCRIPTION = (
    "subscription ($deviceId: Int, $points: [PointRefInput!]) "
    "{ pointValues(deviceId: $deviceId, points: $points, includeInitial: false) "
    "{ deviceId pointType pointNumber value timestamp source } }"
)


# -- inside the server process ----------------------------------------------------------------------------------


async def control(app: Any, options: dict[str, Any]) -> Handler:
    """Creates `devices` x `points` INPUT points, then answers "drive" (write changes at a rate through the write
    path) and "stats" (this process's RSS and CPU, and the app's health report)."""
    import psutil

    from t3000gql.domain.inputs import DeviceInput, PointInput
    from t3000gql.domain.points import PointRef, PointType
    from t3000gql.domain.samples import Sample
    from t3000gql.services import Services

    services: Services = app.state.services
    devices, per_device = int(options["devices"]), int(options["points"])
    points = [PointRef(d, PointType.INPUT, n) for d in range(1, devices + 1) for n in range(1, per_device + 1)]
    for device_id in range(1, devices + 1):
        await services.store.devices.upsert(
            DeviceInput(device_id, device_name=f"bench {device_id}", device_type="T3")
        )
        await services.store.points.upsert(
            device_id, [PointInput(PointType.INPUT, n) for n in range(1, per_device + 1)]
        )

    async def drive(rate: float, seconds: float, batch: int, only_first: bool) -> dict[str, Any]:
        """Writes `rate` changes per second in batches of `batch` points (one device's), round robin; each value
        is the wall-clock time of its write call in microseconds."""
        targets = points[:1] if only_first else points
        interval = batch / rate
        ticks = round(seconds / interval)
        start = time.perf_counter()
        per_point: dict[str, int] = {}
        cursor = 0
        ts_ms = time.time_ns() // 1_000_000
        for tick in range(ticks):
            delay = start + tick * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            chosen = [targets[(cursor + k) % len(targets)] for k in range(batch)]
            cursor += batch
            ts_ms = max(ts_ms + 1, time.time_ns() // 1_000_000)
            value = float(now_us())
            await services.store.writes.record([Sample(p, ts_ms, value) for p in chosen], "bench")
            for p in chosen:
                key = f"{p.device_id}/{p.point_number}"
                per_point[key] = per_point.get(key, 0) + 1
        elapsed = time.perf_counter() - start
        return {"writes": sum(per_point.values()), "seconds": elapsed, "per_point": per_point}

    me = psutil.Process()

    async def handle(command: dict[str, Any]) -> dict[str, Any]:
        if command["cmd"] == "drive":
            return await drive(command["rate"], command["seconds"], command["batch"], command["only_first"])
        if command["cmd"] == "stats":
            cpu = me.cpu_times()
            return {"rss": me.memory_info().rss, "cpu_s": cpu.user + cpu.system, "health": await services.health()}
        raise ValueError(f"unknown command {command!r}")

    return handle


# -- in this process --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def live_server(ctx: Context, devices: int, points: int) -> Iterator[Server]:
    """The app with `devices` x `points` INPUT points, driven by `control` inside its process."""
    profile = os.environ.get("BENCH_LIVE_PROFILE")
    with serve(
        settings={
            "DATABASE_URL": ctx.database_url("bench"),
            "BROADCAST_URL": ctx.broadcast_url,
            "BROADCAST_CHANNEL_PREFIX": f"bench-{os.getpid()}",
            "BACKGROUND_COLLECTION_ENABLED": False,
            "API_MAX_CONCURRENT_REQUESTS": 10_000,
        },
        loop="asyncio",
        ws_deflate=os.environ.get("BENCH_LIVE_DEFLATE", "1") == "1",
        control=f"{__name__}:control",
        control_options={"devices": devices, "points": points},
        profile=Path(profile).resolve() if profile else None,
    ) as server:
        yield server


def _seconds(ctx: Context) -> float:
    return 2.0 if ctx.quick else 10.0


@dataclass
class Measured:
    clients: list[Client]
    drive: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    elapsed_s: float
    client_cpu_s: float
    peak_rss_mb: float

    @property
    def latencies_ms(self) -> list[float]:
        return [x / 1000 for c in self.clients for x in c.latencies_us]

    def cpu(self) -> dict[str, float]:
        server_cpu_s = self.after["cpu_s"] - self.before["cpu_s"]
        deliveries = sum(len(c.latencies_us) for c in self.clients)
        return {
            "server_cpu_pct": round(100 * server_cpu_s / self.elapsed_s, 1),
            "client_cpu_pct": round(100 * self.client_cpu_s / self.elapsed_s, 1),
            # What a delivery costs the server, writes included: unlike latencies, it does not depend on how
            # much of the machine the server gets.
            "server_cpu_us_per_delivery": round(1e6 * server_cpu_s / deliveries, 1) if deliveries else None,
        }


async def _measure(
    server: Server,
    variables: list[dict[str, Any]],
    *,
    rate: float,
    seconds: float,
    batch: int,
    only_first: bool,
    expected: Callable[[Client, dict[str, Any]], int],
) -> Measured:
    url = f"ws://127.0.0.1:{server.port}/graphql"
    clients = await subscribe_all(url, SUBSCRIPTION, "pointValues", variables)
    before = await server.command_async(cmd="stats")
    cpu_before, started = time.process_time(), time.perf_counter()
    drive = await server.command_async(cmd="drive", rate=rate, seconds=seconds, batch=batch, only_first=only_first)
    await settle(clients, lambda c: expected(c, drive))
    elapsed, client_cpu = time.perf_counter() - started, time.process_time() - cpu_before
    after = await server.command_async(cmd="stats")
    await stop_all(clients)
    return Measured(clients, drive, before, after, elapsed, client_cpu, server.peak_rss_mb())


def _devices_of(drive: dict[str, Any]) -> dict[int, int]:
    per_device: dict[int, int] = {}
    for key, count in drive["per_point"].items():
        device = int(key.split("/")[0])
        per_device[device] = per_device.get(device, 0) + count
    return per_device


def _result(ctx: Context, m: Measured, lost: int, **extra: Any) -> Result:
    latencies = m.latencies_ms
    return measured(
        latencies,
        rate_per_s=m.drive["writes"] / m.drive["seconds"],
        lost=lost,
        peak_rss_mb=m.peak_rss_mb,
        deliveries=len(latencies),
        deliveries_per_s=round(len(latencies) / m.elapsed_s, 1),
        coalesced=m.after["health"]["live"]["coalesced"] - m.before["health"]["live"]["coalesced"],
        **m.cpu(),
        broadcast=ctx.broadcast_url.split(":")[0],
        **extra,
    )


@scenario("live-latency", goal="p99_ms <= 50 and lost == 0")
async def live_latency(ctx: Context) -> Result:
    """100 devices x 10 points; 100 subscribers each watching one device; 1,000 changes/s."""
    with live_server(ctx, 100, 10) as server:
        m = await _measure(
            server,
            [{"deviceId": d} for d in range(1, 101)],
            rate=1000,
            seconds=_seconds(ctx),
            batch=10,
            only_first=False,
            expected=lambda c, drive: _devices_of(drive).get(c.variables["deviceId"], 0),
        )
    per_device = _devices_of(m.drive)
    lost = sum(max(0, per_device.get(c.variables["deviceId"], 0) - len(c.latencies_us)) for c in m.clients)
    return _result(ctx, m, lost)


@scenario("live-firehose")
async def live_firehose(ctx: Context) -> Result:
    """10 subscribers watching everything; 1,000 changes/s: p99, deliveries/s, coalesced."""
    with live_server(ctx, 100, 10) as server:
        m = await _measure(
            server,
            [{} for _ in range(10)],
            rate=1000,
            seconds=_seconds(ctx),
            batch=10,
            only_first=False,
            expected=lambda c, drive: int(drive["writes"]),
        )
    lost = sum(max(0, m.drive["writes"] - len(c.latencies_us)) for c in m.clients)
    return _result(ctx, m, lost)


@scenario("live-fanout")
async def live_fanout(ctx: Context) -> Result:
    """1,000 subscribers on one point; 10 changes/s: p99 and the server's RSS (idle, subscribed, after)."""
    point = {"deviceId": 1, "pointType": "INPUT", "pointNumber": 1}
    with live_server(ctx, 1, 1) as server:
        idle = await server.command_async(cmd="stats")
        m = await _measure(
            server,
            [{"points": [point]} for _ in range(1000)],
            rate=10,
            seconds=_seconds(ctx),
            batch=1,
            only_first=True,
            expected=lambda c, drive: int(drive["writes"]),
        )
    lost = sum(max(0, m.drive["writes"] - len(c.latencies_us)) for c in m.clients)
    mb = 2**20
    return _result(
        ctx,
        m,
        lost,
        server_rss_mb_idle=round(idle["rss"] / mb, 1),
        server_rss_mb_subscribed=round(m.before["rss"] / mb, 1),
        server_rss_mb_after=round(m.after["rss"] / mb, 1),
        rss_kb_per_subscriber=round((m.before["rss"] - idle["rss"]) / 1024 / len(m.clients), 1),
    )


@scenario("live-bus")
async def live_bus(ctx: Context) -> Result:
    """The bus alone in this process: write-path call to a local subscriber, no GraphQL and no WebSocket (100
    subscribers each watching one device, 1,000 changes/s): the part of live-latency that is not either."""
    from t3000gql.config import Settings
    from t3000gql.domain.inputs import DeviceInput, PointInput
    from t3000gql.domain.points import PointRef, PointType
    from t3000gql.domain.samples import Sample
    from t3000gql.services import Services

    seconds = _seconds(ctx)
    settings = Settings.defaults(
        database_url=ctx.database_url("bus"),
        broadcast_url=ctx.broadcast_url,
        broadcast_channel_prefix=f"bench-bus-{os.getpid()}",
    )
    services = await Services.start(settings)
    try:
        for device_id in range(1, 101):
            await services.store.devices.upsert(DeviceInput(device_id, device_name="b", device_type="T3"))
            await services.store.points.upsert(device_id, [PointInput(PointType.INPUT, n) for n in range(1, 11)])
        latencies: list[int] = []
        received = 0
        ticks = round(seconds * 100)
        all_received = asyncio.Event()

        async def consume(device_id: int) -> None:
            nonlocal received
            with services.live.watch_points(device_ids=[device_id]) as sub:
                async for change in sub:
                    latencies.append(now_us() - int(change.value))
                    received += 1
                    if received == ticks * 10:
                        all_received.set()

        consumers = [asyncio.create_task(consume(d)) for d in range(1, 101)]
        await asyncio.sleep(0)
        start = time.perf_counter()
        ts_ms = time.time_ns() // 1_000_000
        for tick in range(ticks):
            delay = start + tick * 0.01 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            device_id = tick % 100 + 1
            ts_ms = max(ts_ms + 1, time.time_ns() // 1_000_000)
            value = float(now_us())
            await services.store.writes.record(
                [Sample(PointRef(device_id, PointType.INPUT, n), ts_ms, value) for n in range(1, 11)], "bench"
            )
        elapsed = time.perf_counter() - start
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                await all_received.wait()
        for task in consumers:
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)
    finally:
        await services.stop()
    return measured(
        [x / 1000 for x in latencies],
        rate_per_s=ticks * 10 / elapsed,
        lost=ticks * 10 - received,
        deliveries=len(latencies),
        broadcast=ctx.broadcast_url.split(":")[0],
    )

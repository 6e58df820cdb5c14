"""The soak: seed 000's data rate through the collector path for `--minutes N` (10 by default; 60 for a release),
with dashboards polling and subscribers watching, and nothing may go wrong or grow.

    simulator (scripts/t3_modbus_sim.py, a process of its own: 10 T3 controllers, inputs changing every second)
      ──Modbus TCP──► the server (its own process; the real collector: 10 trend logs of 100 points every 6 s,
                      = 10,000 samples a minute through the write path)
      ◄── 100 dashboard clients (HTTP keep-alive, each polling one device's points with their current values
          every POLL_SECONDS = 10 s, a nested query; they start once the collector has read every point)
      ◄── 100 subscribers (graphql-transport-ws, `pointValues(deviceId)`: 10 per device, so they share work)

Reported: `errors` (HTTP answers not 200 or with GraphQL errors, subscription errors or closed sockets, failed
collector reads), `lost` (changes the server's bus carried for a device, with sample times inside the measured
window, that one of its subscribers did not get: counted on both sides by sample time, so the edges cannot
disagree), `rss_growth_pct` (the server's RSS at the end against its RSS once warmed up: a minute after the first
change reached a subscriber, a third of the run for a shorter one; `per_minute` has each minute's RSS too), p99 latencies of polls and of deliveries (sample time to the subscriber
parsing it) per minute, and the usual keys over the whole run. Goal: 0 errors, 0 lost, RSS growth ≤ 5%.
The run only counts from the moment every subscriber is acknowledged; the site is registered before.
BENCH_LIVE_SHARED=0 runs the server with LIVE_SHARED_SUBSCRIPTIONS=false (each subscriber executed on its own).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import websockets
from websockets.typing import Subprotocol

from benchlib import SCRIPTS
from benchlib.context import Context
from benchlib.httpload import Connection, post_graphql
from benchlib.registry import Result, scenario
from benchlib.report import measured
from benchlib.serve import serve
from benchlib.stats import latency

CONTROLLERS = 10
POINTS = 100
"""Per controller: its 64 inputs and 36 outputs, in one trend log."""
INTERVAL_SECONDS = 6
UPDATES_PER_MIN = CONTROLLERS * POINTS * 60 // INTERVAL_SECONDS
DASHBOARDS = 100
SUBSCRIBERS = 100
POLL_SECONDS = 10.0
RSS_EVERY_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 30.0
"""A poll not answered by then counts as an error (and the run goes on)."""
EDGE_SECONDS = 2.0
"""Between the window's edges and the start and stop of the run: what is counted is well inside both."""

DASHBOARD = (
    "query ($d: Int!) { device(deviceId: $d) { deviceId deviceName online "
    "points { pointType pointNumber current { value timestamp } } } }"
)
SUBSCRIPTION = (
    "subscription ($d: Int) { pointValues(deviceId: $d, includeInitial: false) "
    "{ deviceId pointType pointNumber value timestamp source } }"
)


# -- inside the server process ----------------------------------------------------------------------------------


async def control(app: Any, options: dict[str, Any]) -> Any:
    """Registers the controllers (devices 1..CONTROLLERS behind the simulator's port) and their trend logs
    through the registry service (which schedules their collection), starts counting the bus's changes, then
    answers "window" (count only changes whose sample time is in [from_ms, to_ms]), "counted" and "stats"."""
    import psutil

    from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
    from t3000gql.domain.points import PointRef, PointType
    from t3000gql.services import Services

    services: Services = app.state.services
    registry = services.registry
    counts: dict[int, int] = {}
    window = [math.inf, -math.inf]

    async def count() -> None:
        with services.live.watch_points(queue_size=100_000) as subscriber:
            async for change in subscriber:
                if window[0] <= change.ts_ms <= window[1]:
                    device = change.point.device_id
                    counts[device] = counts.get(device, 0) + 1

    counter = asyncio.create_task(count())
    for device_id in range(1, CONTROLLERS + 1):
        await registry.upsert_device(
            DeviceInput(
                device_id,
                device_name=f"T3 {device_id}",
                device_type="T3-BB",
                protocol="modbus",
                ip_address="127.0.0.1",
                port=int(options["port"]),
                modbus_unit_id=device_id,
            )
        )
        refs = [PointRef(device_id, PointType.INPUT, n) for n in range(1, 65)]
        refs += [PointRef(device_id, PointType.OUTPUT, n) for n in range(1, POINTS - 64 + 1)]
        await registry.upsert_points(device_id, [PointInput(r.point_type, r.point_number) for r in refs])
        await registry.upsert_trend_log(
            device_id, TrendLogInput(trend_log_name="SOAK", interval_seconds=INTERVAL_SECONDS, points=tuple(refs))
        )
    me = psutil.Process()

    async def handle(command: dict[str, Any]) -> dict[str, Any]:
        if command["cmd"] == "window":
            window[0], window[1] = command["from_ms"], command["to_ms"]
            return {"ok": True}
        if command["cmd"] == "counted":
            return {"counts": {str(k): v for k, v in counts.items()}, "counter_alive": not counter.done()}
        if command["cmd"] == "stats":
            cpu = me.cpu_times()
            health = await services.health()
            return {"rss": me.memory_info().rss, "cpu_s": cpu.user + cpu.system, "health": health}
        raise ValueError(f"unknown command {command!r}")

    return handle


# -- in this process --------------------------------------------------------------------------------------------


def ms_of(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


@dataclass
class Tally:
    """What the clients saw, per minute of the run: latencies of polls and deliveries, errors."""

    started: float
    polls: dict[int, list[float]] = field(default_factory=dict)
    deliveries: dict[int, list[float]] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    first_delivery: float | None = None
    """When (time.monotonic) the first change reached a subscriber: the warm-up is counted from there."""

    def minute(self) -> int:
        return int((time.monotonic() - self.started) // 60)

    def error(self, what: str) -> None:
        minute = self.minute()
        self.errors[minute] = self.errors.get(minute, 0) + 1
        if len(self.error_samples) < 10:
            self.error_samples.append(what[:300])


@dataclass
class Subscriber:
    device_id: int
    window: list[float]
    in_window: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, port: int, tally: Tally) -> None:
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/graphql",
                subprotocols=[Subprotocol("graphql-transport-ws")],
                max_queue=None,
            ) as ws:
                await ws.send(json.dumps({"type": "connection_init"}))
                ack = json.loads(await ws.recv())
                if ack["type"] != "connection_ack":
                    raise RuntimeError(f"no connection_ack: {ack}")
                variables = {"d": self.device_id}
                payload = {"query": SUBSCRIPTION, "variables": variables}
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
                self.ready.set()
                async for raw in ws:
                    message = orjson.loads(raw)
                    kind = message["type"]
                    if kind == "next":
                        if "errors" in message["payload"]:
                            tally.error(f"subscription: {message['payload']['errors']}")
                            continue
                        ts_ms = ms_of(message["payload"]["data"]["pointValues"]["timestamp"])
                        now_ms = time.time() * 1000
                        tally.deliveries.setdefault(tally.minute(), []).append(now_ms - ts_ms)
                        if tally.first_delivery is None:
                            tally.first_delivery = time.monotonic()
                        if self.window[0] <= ts_ms <= self.window[1]:
                            self.in_window += 1
                    elif kind == "ping":
                        await ws.send(json.dumps({"type": "pong"}))
                    else:
                        tally.error(f"subscription ended: {message}")
                        return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            tally.error(f"subscriber of device {self.device_id}: {exc!r}")
        finally:
            self.ready.set()


async def dashboard(port: int, device_id: int, offset: float, until: float, tally: Tally) -> None:
    """Polls one device's points and current values every POLL_SECONDS (starting `offset` s in) until `until`,
    on a connection of its own each time (as a page refreshing every 10 s does: uvicorn closes a keep-alive
    connection idle for 5 s). The latency includes the connect."""
    request = post_graphql(DASHBOARD, {"d": device_id})
    next_at = time.monotonic() + offset
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += POLL_SECONDS
        started = time.perf_counter()
        connection: Connection | None = None
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                connection = await Connection.open(port)
                body = orjson.loads(await connection.request(request))
        except Exception as exc:
            tally.error(f"dashboard of device {device_id}: {exc!r}")
            continue
        finally:
            if connection is not None:
                connection.close()
        if body.get("errors") or not body.get("data", {}).get("device"):
            tally.error(f"dashboard: {str(body.get('errors') or body)[:300]}")
            continue
        tally.polls.setdefault(tally.minute(), []).append((time.perf_counter() - started) * 1000)


class SimulatorProcess:
    """scripts/t3_modbus_sim.py with the controllers as unit ids 1..CONTROLLERS, inputs changing every second."""

    def __init__(self) -> None:
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> SimulatorProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPTS / "t3_modbus_sim.py"),
            "--units",
            ",".join(str(unit) for unit in range(1, CONTROLLERS + 1)),
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = (await asyncio.wait_for(self.process.stdout.readline(), 60)).decode()
        match = re.search(r"on 127\.0\.0\.1:(\d+)", line)
        if not match:
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.port = int(match.group(1))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.process.terminate()
            await self.process.wait()


def p99(values: list[float]) -> float | None:
    return latency(values)["p99_ms"] if values else None


@scenario("soak", goal="errors == 0 and lost == 0 and rss_growth_pct <= 5", only_when_named=True)
async def soak(ctx: Context) -> Result:
    """10,000 updates/min from a simulated site through the collector, 100 dashboards polling, 100 subscribers,
    for --minutes N (default 10; 60 for a release): errors, lost deliveries, RSS growth, p99 per minute.

    Runs only when named (--scenario soak or --area soak): it takes minutes, not seconds."""
    minutes = ctx.minutes
    seconds = minutes * 60
    warm_up = min(60.0, seconds / 3)
    async with SimulatorProcess() as simulator:
        with serve(
            settings={
                "DATABASE_URL": ctx.database_url("soak"),
                "BROADCAST_URL": ctx.broadcast_url,
                "BROADCAST_CHANNEL_PREFIX": f"soak-{ctx.workdir.name}",
                "PARTITION_CLEANUP_ENABLED": False,
                "LIVE_SHARED_SUBSCRIPTIONS": os.environ.get("BENCH_LIVE_SHARED", "1") == "1",
            },
            control=f"{__name__}:control",
            control_options={"port": simulator.port},
        ) as server:
            window = [math.inf, -math.inf]
            subscribers = [Subscriber(1 + i % CONTROLLERS, window) for i in range(SUBSCRIBERS)]
            await _first_scan(server)
            tally = Tally(time.monotonic())
            tasks = [asyncio.create_task(s.run(server.port, tally)) for s in subscribers]
            async with asyncio.timeout(60):
                await asyncio.gather(*(s.ready.wait() for s in subscribers))
            tally.started = started = time.monotonic()
            until = started + seconds
            window[0] = time.time() * 1000 + EDGE_SECONDS * 1000
            window[1] = window[0] + (seconds - 2 * EDGE_SECONDS) * 1000
            await server.command_async(cmd="window", from_ms=window[0], to_ms=window[1])
            before = await server.command_async(cmd="stats")
            polls = [
                asyncio.create_task(
                    dashboard(server.port, 1 + i % CONTROLLERS, POLL_SECONDS * i / DASHBOARDS, until, tally)
                )
                for i in range(DASHBOARDS)
            ]
            rss: list[tuple[float, float]] = []
            while time.monotonic() < until:
                rss.append((time.monotonic() - started, server.rss_mb()))
                await asyncio.sleep(min(RSS_EVERY_SECONDS, max(0.0, until - time.monotonic())))
            rss.append((time.monotonic() - started, server.rss_mb()))
            await asyncio.gather(*polls)
            counted = await _settle(server, subscribers)
            after = await server.command_async(cmd="stats")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            peak = server.peak_rss_mb()
    collection = after["health"]["collection"]["total"]
    failures = collection["failures"] - before["health"]["collection"]["total"]["failures"]
    if failures:
        tally.error(f"{failures} failed collector runs: {after['health']['collection'].get('lastError')}")
    lost = sum(max(0, counted.get(str(s.device_id), 0) - s.in_window) for s in subscribers)
    # Warmed up: WARM_UP after the first change reached a subscriber (the collector, the bus and the groups all
    # running), or after WARM_UP if none ever did.
    warm_from = warm_up + (tally.first_delivery - started if tally.first_delivery is not None else 0.0)
    warm = next((mb for at, mb in rss if at >= warm_from), rss[-1][1])
    end = rss[-1][1]
    every_poll = [t for values in tally.polls.values() for t in values]
    every_delivery = [t for values in tally.deliveries.values() for t in values]
    per_minute = [
        {
            "minute": minute + 1,
            "poll_p99_ms": p99(tally.polls.get(minute, [])),
            "delivery_p99_ms": p99(tally.deliveries.get(minute, [])),
            "polls": len(tally.polls.get(minute, [])),
            "deliveries": len(tally.deliveries.get(minute, [])),
            "errors": tally.errors.get(minute, 0),
            "rss_mb": max((mb for at, mb in rss if minute * 60 <= at < (minute + 1) * 60), default=None),
        }
        for minute in range(math.ceil(minutes))
    ]
    elapsed = seconds
    stored = collection["samples"] - before["health"]["collection"]["total"]["samples"]
    return measured(
        every_poll,
        rate_per_s=stored / elapsed,
        lost=lost,
        peak_rss_mb=peak,
        errors=sum(tally.errors.values()),
        error_samples=tally.error_samples,
        rss_growth_pct=round(100 * (end - warm) / warm, 2),
        rss_mb_warm=round(warm, 1),
        warm_at_s=round(warm_from, 1),
        rss_mb_end=round(end, 1),
        minutes=minutes,
        updates_per_min=round(stored / (elapsed / 60)),
        expected_deliveries=sum(counted.get(str(s.device_id), 0) for s in subscribers),
        deliveries=len(every_delivery),
        deliveries_per_s=round(len(every_delivery) / elapsed, 1),
        delivery_p99_ms=p99(every_delivery),
        polls=len(every_poll),
        coalesced=after["health"]["live"]["coalesced"] - before["health"]["live"]["coalesced"],
        server_cpu_pct=round(100 * (after["cpu_s"] - before["cpu_s"]) / elapsed, 1),
        per_minute=per_minute,
    )


async def _first_scan(server: Any) -> None:
    """Waits until the collector has read every point once: the dashboards start on a warm cache."""
    async with asyncio.timeout(120):
        while True:
            stats = await server.command_async(cmd="stats")
            if stats["health"]["cache"]["freshPoints"] >= CONTROLLERS * POINTS:
                return
            await asyncio.sleep(0.5)


async def _settle(server: Any, subscribers: list[Subscriber]) -> dict[str, int]:
    """The server's counts, once every subscriber has what its device's count says (or 10 s without progress)."""
    last, last_change = -1, time.monotonic()
    while True:
        counted: dict[str, int] = (await server.command_async(cmd="counted"))["counts"]
        have = sum(s.in_window for s in subscribers)
        if all(s.in_window >= counted.get(str(s.device_id), 0) for s in subscribers):
            return counted
        if have != last:
            last, last_change = have, time.monotonic()
        elif time.monotonic() - last_change > 10:
            return counted
        await asyncio.sleep(0.2)

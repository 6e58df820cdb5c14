#!/usr/bin/env python3
"""Live subscription benchmarks: a real server process, WebSocket clients in this process.

    python scripts/bench_live.py                       # every scenario (also run by scripts/bench.py)
    python scripts/bench_live.py --scenario live-latency [--quick] [--broadcast-url redis://127.0.0.1:6379]

The server runs in its own process (this script started with --serve): it creates the devices and points, then
writes through the write path itself when told to, as the collector does, so "latency" is the time from the
write-path call to the moment a client has parsed the change. Each written value is the wall-clock time of its
write call in microseconds, so a client can compute latency without a shared table.

Scenarios (each function returns a dict: median_ms, p95_ms, p99_ms, floor_ms (null: no floor exists for this),
ratio (null), rate_per_s, lost, and what else the scenario measures):
- live-latency: 100 devices x 10 points; 100 subscribers each watching one device; 1,000 changes/s.
  Goal: p99 <= 50 ms and nothing lost.
- live-firehose: 10 subscribers watching everything; 1,000 changes/s: p99, deliveries/s, coalesced.
- live-fanout: 1,000 subscribers on one point; 10 changes/s: p99 and the server's RSS.
- live-bus: the bus alone in one process (write path to a local subscriber, no GraphQL, no WebSocket): the part
  of live-latency that is not GraphQL or WebSocket.
Every scenario writes for 10 s (2 s with --quick) and also reports deliveries/s, coalesced values and the CPU of
the server and of the client process (on a machine with few cores the two compete).
Environment: BENCH_LIVE_DEFLATE=0 turns WebSocket compression off in the server; BENCH_LIVE_PROFILE=FILE writes a
cProfile dump of the server process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import websockets
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
SUBSCRIPTION = (
    "subscription ($deviceId: Int, $points: [PointRefInput!]) "
    "{ pointValues(deviceId: $deviceId, points: $points, includeInitial: false) "
    "{ deviceId pointType pointNumber value timestamp source } }"
)
DRAIN_SECONDS = 5.0
"""After the last write, how long clients may take to receive what is still on its way before it counts as lost."""


def now_us() -> int:
    return time.time_ns() // 1000


# -- the server process -------------------------------------------------------------------------------------------


async def serve(args: argparse.Namespace) -> None:
    """Runs the server on 127.0.0.1 port 0, prints {"port", "pid"} on stdout, then obeys JSON commands on stdin."""
    import uvicorn

    from t3000gql.app import create_app
    from t3000gql.config import Settings
    from t3000gql.domain.inputs import DeviceInput, PointInput
    from t3000gql.domain.points import PointRef, PointType
    from t3000gql.domain.samples import Sample
    from t3000gql.services import Services

    settings = Settings.defaults(
        database_url=f"sqlite:///{args.db}",
        broadcast_url=args.broadcast_url,
        broadcast_channel_prefix=args.prefix,
        background_collection_enabled=False,
        api_max_concurrent_requests=10_000,
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws_ping_interval=None,
        ws_per_message_deflate=os.environ.get("BENCH_LIVE_DEFLATE", "1") == "1",
    )
    server = uvicorn.Server(config)
    server_task = asyncio.create_task(server.serve())
    while not server.started:
        if server_task.done():
            server_task.result()
            raise SystemExit("the server stopped while starting")
        await asyncio.sleep(0.01)
    services: Services = app.state.services
    points = [
        PointRef(d, PointType.INPUT, n) for d in range(1, args.devices + 1) for n in range(1, args.points + 1)
    ]
    for device_id in range(1, args.devices + 1):
        await services.store.devices.upsert(
            DeviceInput(device_id, device_name=f"bench {device_id}", device_type="T3")
        )
        await services.store.points.upsert(
            device_id, [PointInput(PointType.INPUT, n) for n in range(1, args.points + 1)]
        )
    port = server.servers[0].sockets[0].getsockname()[1]
    print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)

    async def drive(rate: float, seconds: float, batch: int, only_first: bool) -> dict[str, Any]:
        """Writes `rate` changes per second in batches of `batch` points (one device's), round robin."""
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

    import psutil

    me = psutil.Process()
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            command = json.loads(line)
            if command["cmd"] == "drive":
                reply = await drive(command["rate"], command["seconds"], command["batch"], command["only_first"])
            elif command["cmd"] == "stats":
                cpu = me.cpu_times()
                reply = {
                    "rss": me.memory_info().rss,
                    "cpu_s": cpu.user + cpu.system,
                    "health": await services.health(),
                }
            else:
                break
            print(json.dumps(reply), flush=True)
    finally:
        server.should_exit = True
        await server_task


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    port: int
    pid: int

    @classmethod
    def start(cls, db: Path, devices: int, points: int, broadcast_url: str, prefix: str) -> ServerProcess:
        command = [sys.executable, __file__, "--serve", "--db", str(db), "--devices", str(devices)]
        command += ["--points", str(points), "--broadcast-url", broadcast_url, "--prefix", prefix]
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the server process ended (status {process.wait()})")
        hello = json.loads(line)
        return cls(process, hello["port"], hello["pid"])

    def command(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        reply: dict[str, Any] = json.loads(self.process.stdout.readline())
        return reply

    async def command_async(self, **command: Any) -> dict[str, Any]:
        return await asyncio.to_thread(lambda: self.command(**command))

    def stop(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- the clients --------------------------------------------------------------------------------------------------


@dataclass
class Client:
    """One WebSocket connection (graphql-transport-ws) with one subscription; records each change's latency."""

    url: str
    variables: dict[str, Any]
    latencies_us: list[int] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with websockets.connect(
            self.url, subprotocols=[Subprotocol("graphql-transport-ws")], max_queue=None
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            ack = json.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION, "variables": self.variables},
                    }
                )
            )
            self.ready.set()
            async for raw in ws:
                received = now_us()
                message = orjson.loads(raw)
                if message["type"] == "next":
                    value = message["payload"]["data"]["pointValues"]
                    self.latencies_us.append(received - int(value["value"]))
                    key = f"{value['deviceId']}/{value['pointNumber']}"
                    self.seen[key] = self.seen.get(key, 0) + 1
                elif message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif message["type"] in ("error", "complete"):
                    raise RuntimeError(f"subscription ended: {message}")


async def subscribe_all(url: str, variables: list[dict[str, Any]]) -> list[Client]:
    clients = [Client(url, v) for v in variables]
    for client in clients:
        client.task = asyncio.create_task(client.run())
    async with asyncio.timeout(60):
        await asyncio.gather(*(c.ready.wait() for c in clients))
    return clients


async def settle(clients: list[Client], expected: Callable[[Client], int]) -> None:
    """Waits until every client has what it should, or DRAIN_SECONDS without progress."""
    last, last_change = -1, time.monotonic()
    while time.monotonic() - last_change < DRAIN_SECONDS:
        total = sum(len(c.latencies_us) for c in clients)
        if all(len(c.latencies_us) >= expected(c) for c in clients):
            return
        if total != last:
            last, last_change = total, time.monotonic()
        await asyncio.sleep(0.05)


async def stop_all(clients: list[Client]) -> None:
    for client in clients:
        if client.task is not None:
            client.task.cancel()
    await asyncio.gather(*(c.task for c in clients if c.task is not None), return_exceptions=True)


def summarize(latencies_us: list[int]) -> dict[str, float | None]:
    if not latencies_us:
        return {"median_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(latencies_us)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000, 3)

    return {
        "median_ms": round(statistics.median(ordered) / 1000, 3),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1] / 1000, 3),
    }


# -- scenarios ----------------------------------------------------------------------------------------------------

BROADCAST_URL = "memory://"
"""BROADCAST_URL of the server process (--broadcast-url; redis://127.0.0.1:6379 to measure through Redis)."""


def _seconds(quick: bool) -> float:
    return 2.0 if quick else 10.0


@dataclass
class Measured:
    clients: list[Client]
    drive: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    elapsed_s: float
    client_cpu_s: float

    @property
    def latencies(self) -> list[int]:
        return [x for c in self.clients for x in c.latencies_us]

    def cpu(self) -> dict[str, float]:
        return {
            "server_cpu_pct": round(100 * (self.after["cpu_s"] - self.before["cpu_s"]) / self.elapsed_s, 1),
            "client_cpu_pct": round(100 * self.client_cpu_s / self.elapsed_s, 1),
        }


async def _measure(
    server: ServerProcess,
    variables: list[dict[str, Any]],
    *,
    rate: float,
    seconds: float,
    batch: int,
    only_first: bool,
    expected: Callable[[Client, dict[str, Any]], int],
) -> Measured:
    clients = await subscribe_all(f"ws://127.0.0.1:{server.port}/graphql", variables)
    before = await server.command_async(cmd="stats")
    cpu_before, started = time.process_time(), time.perf_counter()
    drive = await server.command_async(cmd="drive", rate=rate, seconds=seconds, batch=batch, only_first=only_first)
    await settle(clients, lambda c: expected(c, drive))
    elapsed, client_cpu = time.perf_counter() - started, time.process_time() - cpu_before
    after = await server.command_async(cmd="stats")
    await stop_all(clients)
    return Measured(clients, drive, before, after, elapsed, client_cpu)


def _devices_of(drive: dict[str, Any]) -> dict[int, int]:
    per_device: dict[int, int] = {}
    for key, count in drive["per_point"].items():
        device = int(key.split("/")[0])
        per_device[device] = per_device.get(device, 0) + count
    return per_device


def _result(name: str, m: Measured, lost: int, **extra: Any) -> dict[str, Any]:
    return {
        "scenario": name,
        **summarize(m.latencies),
        "floor_ms": None,
        "ratio": None,
        "rate_per_s": round(m.drive["writes"] / m.drive["seconds"], 1),
        "deliveries": len(m.latencies),
        "deliveries_per_s": round(len(m.latencies) / m.elapsed_s, 1),
        "lost": lost,
        "coalesced": m.after["health"]["live"]["coalesced"] - m.before["health"]["live"]["coalesced"],
        **m.cpu(),
        "broadcast": BROADCAST_URL.split(":")[0],
        **extra,
    }


async def _live_latency(workdir: Path, seconds: float) -> dict[str, Any]:
    server = ServerProcess.start(workdir / "bench.db", 100, 10, BROADCAST_URL, f"bench-{os.getpid()}")
    try:
        m = await _measure(
            server,
            [{"deviceId": d} for d in range(1, 101)],
            rate=1000,
            seconds=seconds,
            batch=10,
            only_first=False,
            expected=lambda c, drive: _devices_of(drive).get(c.variables["deviceId"], 0),
        )
    finally:
        server.stop()
    per_device = _devices_of(m.drive)
    lost = sum(max(0, per_device.get(c.variables["deviceId"], 0) - len(c.latencies_us)) for c in m.clients)
    p99 = summarize(m.latencies)["p99_ms"]
    met = p99 is not None and p99 <= 50 and lost == 0
    return _result("live-latency", m, lost, goal="p99 <= 50 ms, 0 lost", goal_met=met)


async def _live_firehose(workdir: Path, seconds: float) -> dict[str, Any]:
    server = ServerProcess.start(workdir / "bench.db", 100, 10, BROADCAST_URL, f"bench-{os.getpid()}")
    try:
        m = await _measure(
            server,
            [{} for _ in range(10)],
            rate=1000,
            seconds=seconds,
            batch=10,
            only_first=False,
            expected=lambda c, drive: int(drive["writes"]),
        )
    finally:
        server.stop()
    lost = sum(max(0, m.drive["writes"] - len(c.latencies_us)) for c in m.clients)
    return _result("live-firehose", m, lost, goal="measure (no goal set)")


async def _live_fanout(workdir: Path, seconds: float) -> dict[str, Any]:
    point = {"deviceId": 1, "pointType": "INPUT", "pointNumber": 1}
    server = ServerProcess.start(workdir / "bench.db", 1, 1, BROADCAST_URL, f"bench-{os.getpid()}")
    try:
        idle = await server.command_async(cmd="stats")
        m = await _measure(
            server,
            [{"points": [point]} for _ in range(1000)],
            rate=10,
            seconds=seconds,
            batch=1,
            only_first=True,
            expected=lambda c, drive: int(drive["writes"]),
        )
    finally:
        server.stop()
    lost = sum(max(0, m.drive["writes"] - len(c.latencies_us)) for c in m.clients)
    mb = 2**20
    return _result(
        "live-fanout",
        m,
        lost,
        server_rss_mb_idle=round(idle["rss"] / mb, 1),
        server_rss_mb_subscribed=round(m.before["rss"] / mb, 1),
        server_rss_mb_after=round(m.after["rss"] / mb, 1),
        rss_kb_per_subscriber=round((m.before["rss"] - idle["rss"]) / 1024 / len(m.clients), 1),
        goal="measure (no goal set)",
    )


async def _live_bus(seconds: float, broadcast_url: str) -> dict[str, Any]:
    """The bus alone, in one process: write-path call to a local Subscriber, no GraphQL and no WebSocket. What
    the WebSocket scenarios cannot beat (100 subscribers each watching one device, 1,000 changes/s)."""
    from t3000gql.config import Settings
    from t3000gql.domain.inputs import DeviceInput, PointInput
    from t3000gql.domain.points import PointRef, PointType
    from t3000gql.domain.samples import Sample
    from t3000gql.services import Services

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.defaults(
            database_url=f"sqlite:///{Path(tmp) / 'bus.db'}",
            broadcast_url=broadcast_url,
            broadcast_channel_prefix=f"bench-bus-{os.getpid()}",
        )
        services = await Services.start(settings)
        try:
            for device_id in range(1, 101):
                await services.store.devices.upsert(DeviceInput(device_id, device_name="b", device_type="T3"))
                await services.store.points.upsert(
                    device_id, [PointInput(PointType.INPUT, n) for n in range(1, 11)]
                )
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
    return {
        "scenario": "live-bus",
        **summarize(latencies),
        "floor_ms": None,
        "ratio": None,
        "rate_per_s": round(ticks * 10 / elapsed, 1),
        "deliveries": len(latencies),
        "lost": ticks * 10 - received,
        "broadcast": broadcast_url.split(":")[0],
        "goal": "none: the in-process part of live-latency",
    }


def live_latency(workdir: Path, *, quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_live_latency(workdir, _seconds(quick)))


def live_firehose(workdir: Path, *, quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_live_firehose(workdir, _seconds(quick)))


def live_fanout(workdir: Path, *, quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_live_fanout(workdir, _seconds(quick)))


def live_bus(workdir: Path, *, quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_live_bus(_seconds(quick), BROADCAST_URL))


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "live-latency": live_latency,
    "live-firehose": live_firehose,
    "live-fanout": live_fanout,
    "live-bus": live_bus,
}


def main() -> int:
    global BROADCAST_URL
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append", help="run only these")
    parser.add_argument("--quick", action="store_true", help="write for 2 s instead of 10 (a smoke run)")
    parser.add_argument("--broadcast-url", default="memory://", help="BROADCAST_URL of the server process")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--points", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="bench", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if os.environ.get("BENCH_LIVE_PROFILE"):  # a cProfile dump of the server process, to find its hot spots
            import cProfile

            cProfile.runctx(
                "asyncio.run(serve(args))", globals(), {"args": args}, os.environ["BENCH_LIVE_PROFILE"]
            )
        else:
            asyncio.run(serve(args))
        return 0
    BROADCAST_URL = args.broadcast_url
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        for name in args.scenario or list(SCENARIOS):
            workdir = Path(tmp) / name
            workdir.mkdir()
            results[name] = SCENARIOS[name](workdir, quick=args.quick)
            print(f"{name:15} {json.dumps(results[name])}", flush=True)
    print()
    print(f"{'scenario':<15}{'median':>9}{'p95':>9}{'p99':>9}{'writes/s':>10}{'deliv/s':>9}{'lost':>6}  goal")
    for name, r in results.items():
        met = {True: "met", False: "MISSED"}.get(r.get("goal_met"), "")  # type: ignore[arg-type]
        print(
            f"{name:<15}{r['median_ms']!s:>9}{r['p95_ms']!s:>9}{r['p99_ms']!s:>9}{r['rate_per_s']!s:>10}"
            f"{r.get('deliveries_per_s', '')!s:>9}{r['lost']!s:>6}  {r['goal']} {met}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A power-station simulator: one WebSocket server on 127.0.0.1 that plays N stations, each at its own path
(`ws://127.0.0.1:PORT/<station name>`), sending one reading per period in the live monitor's message format.

It counts what it sent (`sent[name]`, a send that raised is not counted), so a test can compare the database
with exactly what went over the wire. Timestamps of one station strictly increase (never two readings of a
station in the same millisecond), and energy counters only grow, so nothing is flagged.

Importable (`StationSimulator`) and runnable:  python scripts/station_sim.py --stations 10 --rate 1 --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


@dataclass(slots=True)
class _StationState:
    seq: int = 0
    last_ts: int = 0
    connections: set[ServerConnection] = field(default_factory=set)


class StationSimulator:
    def __init__(
        self,
        names: Sequence[str],
        *,
        rate_hz: float = 1.0,
        max_readings: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        record_times: bool = False,
    ) -> None:
        """`max_readings`: each station stops after sending that many (None: forever). `record_times`: keep the
        wall-clock send time of every reading (`sent_at[(name, ts)]`) for delay measurements."""
        if rate_hz <= 0:
            raise ValueError("rate_hz must be > 0")
        self.names = list(names)
        self.period = 1.0 / rate_hz
        self.max_readings = max_readings
        self.host = host
        self.port = port
        self.record_times = record_times
        self.sent: dict[str, int] = dict.fromkeys(self.names, 0)
        self.sent_at: dict[tuple[str, int], float] = {}
        self._states = {name: _StationState() for name in self.names}
        self._server: Server | None = None
        self._paused = asyncio.Event()
        self._paused.set()
        self._stopping = False

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    def url(self, name: str) -> str:
        return f"ws://{self.host}:{self.port}/{quote(name, safe='')}"

    async def start(self) -> StationSimulator:
        self._server = await serve(self._serve, self.host, self.port, compression=None)
        self.port = self._server.sockets[0].getsockname()[1] if self.port == 0 else self.port
        return self

    async def stop(self) -> None:
        self._stopping = True
        self._paused.set()  # a paused sender must wake up to notice the end
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> StationSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def pause(self) -> None:
        self._paused.clear()

    def resume(self) -> None:
        self._paused.set()

    def done(self) -> bool:
        return self.max_readings is not None and all(n >= self.max_readings for n in self.sent.values())

    async def drop_connections(self) -> None:
        """Closes every open connection (the monitor should reconnect and carry on)."""
        for state in self._states.values():
            for ws in list(state.connections):
                await ws.close(code=1012, reason="simulated restart")

    def reading(self, name: str) -> dict[str, object]:
        """The next reading of a station (advances its sequence)."""
        state = self._states[name]
        state.seq += 1
        state.last_ts = max(int(time.time() * 1000), state.last_ts + 1)
        n = state.seq
        message: dict[str, object] = {"type": "reading", "station": name, "timestamp": state.last_ts, "seq": n}
        for i in range(1, 7):
            message[f"activePower{i}"] = round(1000 + 100 * i + 50 * math.sin(n / 10 + i), 3)
        for i in range(1, 5):
            message[f"muxPower{i}"] = round(10_000 * i + n * 0.01 * i, 3)
        return message

    async def _serve(self, ws: ServerConnection) -> None:
        name = unquote(ws.request.path.lstrip("/")) if ws.request is not None else ""
        state = self._states.get(name)
        if state is None:
            await ws.close(code=4404, reason="no such station")
            return
        state.connections.add(ws)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        try:
            while self.max_readings is None or self.sent[name] < self.max_readings:
                await self._paused.wait()
                if self._stopping:
                    break
                message = self.reading(name)
                await ws.send(orjson.dumps(message).decode())
                self.sent[name] += 1
                if self.record_times:
                    self.sent_at[(name, int(message["timestamp"]))] = time.time()  # type: ignore[call-overload]
                next_at += self.period
                delay = next_at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    next_at = loop.time()  # fell behind: do not burst to catch up
            if not self._stopping:
                await ws.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            state.connections.discard(ws)


async def _main(args: argparse.Namespace) -> None:
    names = [f"{args.prefix}{n:03d}" for n in range(1, args.stations + 1)]
    async with StationSimulator(names, rate_hz=args.rate, host=args.host, port=args.port) as sim:
        for name in names:
            print(sim.url(name), flush=True)
        try:
            while True:
                await asyncio.sleep(10)
                print(f"sent {sim.total_sent} readings", flush=True)
        except asyncio.CancelledError:
            pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1.0, help="readings per second per station")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0: any free port")
    parser.add_argument("--prefix", default="STATION-")
    try:
        asyncio.run(_main(parser.parse_args()))
    except KeyboardInterrupt:
        pass

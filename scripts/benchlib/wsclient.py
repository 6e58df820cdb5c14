"""GraphQL subscribers over real WebSockets (graphql-transport-ws) that record the latency of every change.

The server side writes each value as the wall-clock time of its write call in microseconds, so a client computes
latency as (time received - value) without a table shared between processes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets
from websockets.typing import Subprotocol

DRAIN_SECONDS = 5.0
"""After the last write, how long clients may take to receive what is still on its way before it counts as lost."""


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class Client:
    """One WebSocket connection with one subscription; records each change's latency and counts it per point."""

    url: str
    query: str
    variables: dict[str, Any]
    root: str
    """The subscription's root field (its value has deviceId, pointNumber and value)."""
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
            if ack["type"] != "connection_ack":
                raise RuntimeError(f"no connection_ack: {ack}")
            payload = {"query": self.query, "variables": self.variables}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            self.ready.set()
            async for raw in ws:
                received = now_us()
                message = orjson.loads(raw)
                if message["type"] == "next":
                    value = message["payload"]["data"][self.root]
                    self.latencies_us.append(received - int(value["value"]))
                    key = f"{value['deviceId']}/{value['pointNumber']}"
                    self.seen[key] = self.seen.get(key, 0) + 1
                elif message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif message["type"] in ("error", "complete"):
                    raise RuntimeError(f"subscription ended: {message}")


async def subscribe_all(url: str, query: str, root: str, variables: list[dict[str, Any]]) -> list[Client]:
    """One client per variables dict, each subscribed (acknowledged and sent) before this returns."""
    clients = [Client(url, query, v, root) for v in variables]
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

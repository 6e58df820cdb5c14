"""A small GraphQL-over-WebSocket client for tests: graphql-transport-ws or the legacy graphql-ws, over a real
socket (the `websockets` package). Every wait is bounded by TIMEOUT."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
TIMEOUT = 5.0


class GraphQLSocket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.protocol = ws.subprotocol

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        url: str,
        protocol: str = TRANSPORT_WS,
        *,
        init: bool = True,
        payload: dict[str, Any] | None = None,
        **options: Any,
    ) -> AsyncIterator[GraphQLSocket]:
        """Connects (and, with `init`, sends connection_init with `payload` and waits for the ack). `options`
        go to `websockets.connect` (a pre-connected `sock`, `max_queue`, `additional_headers`, ...)."""
        async with connect(
            url, subprotocols=[Subprotocol(protocol)], proxy=None, open_timeout=TIMEOUT, **options
        ) as ws:
            socket = cls(ws)
            if init:
                await socket.send({"type": "connection_init", "payload": payload or {}})
                ack = await socket.receive()
                assert ack["type"] == "connection_ack", ack
            yield socket

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def receive(self, *, skip_keep_alive: bool = True) -> dict[str, Any]:
        """The next message; legacy keep-alives ("ka") and server pings are answered and skipped unless asked."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                message: dict[str, Any] = json.loads(await self.ws.recv())
                if skip_keep_alive and message["type"] == "ka":
                    continue
                if skip_keep_alive and message["type"] == "ping" and self.protocol == TRANSPORT_WS:
                    await self.send({"type": "pong"})
                    continue
                return message

    async def subscribe(self, operation_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation_id, "type": kind, "payload": payload})

    async def next_data(self, operation_id: str) -> dict[str, Any]:
        """The data of the next result of that operation (fails on anything else)."""
        message = await self.receive()
        kind = "next" if self.protocol == TRANSPORT_WS else "data"
        assert message.get("id") == operation_id and message["type"] == kind, message
        assert "errors" not in message["payload"], message["payload"]
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def complete(self, operation_id: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.send({"id": operation_id, "type": kind})

    async def closed(self) -> tuple[int | None, str | None]:
        """Waits until the server closes the socket; returns its close code and reason."""
        async with asyncio.timeout(TIMEOUT):
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await self.ws.recv()
        return self.ws.close_code, self.ws.close_reason

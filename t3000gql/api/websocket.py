"""The WebSocket side of /graphql: keep-alive for both protocols, and messages checked before strawberry sees them.

Keep-alive: strawberry sends "ka" messages only for the legacy graphql-ws protocol; for graphql-transport-ws it
only answers a client's pings. `TransportWSHandler` also pings the client every `keep_alive_interval` once the
connection is acknowledged, so idle subscriptions survive proxies and NATs that drop silent connections.

Malformed messages: strawberry 0.341 trusts the shape of a parsed message, so a JSON array, a `subscribe`
whose payload is a string or a legacy `start` without payload end in a TypeError/KeyError inside the ASGI app
(an abnormal close, 1006, and a traceback in the log). Both handlers check the envelope first:
graphql-transport-ws closes with 4400 and the reason, as its protocol says; legacy graphql-ws (which defines no
close codes) sends `connection_error` with the reason and closes with 1002, as strawberry does for binary
frames. Everything else (4401 before the ack, 4406 without a subprotocol, 4408 when connection_init does not
come in time, 4409 for a repeated id, 4429 for a second connection_init) is strawberry's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from t3000gql.api.context import Context
from t3000gql.compat.strawberry import (
    BaseGraphQLTransportWSHandler,
    BaseGraphQLWSHandler,
    ConnectionInitMessage,
    OperationMessage,
)
from t3000gql.compat.strawberry import TransportWSMessage as Message
from t3000gql.lifecycle import cancel_and_wait

KEEP_ALIVE_SECONDS = 15.0
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
PROTOCOL_ERROR = 1002


def envelope_problem(message: object, operation_types: tuple[str, ...], stop_type: str) -> str | None:
    """What is wrong with a message's envelope (None when it is well formed). `operation_types` carry a
    GraphQL operation in `payload`; they and `stop_type` need a string `id`."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a string `type`"
    if kind in (*operation_types, stop_type) and not isinstance(message.get("id"), str):
        return f"a {kind} message needs a string `id`"
    if kind in operation_types:
        payload = message.get("payload")
        if not isinstance(payload, dict):
            return f"a {kind} message needs an object `payload`"
        if not isinstance(payload.get("query"), str):
            return "`payload.query` must be a string"
        for name, expected, label in (
            ("variables", dict, "an object"),
            ("extensions", dict, "an object"),
            ("operationName", str, "a string"),
        ):
            if payload.get(name) is not None and not isinstance(payload[name], expected):
                return f"`payload.{name}` must be {label} or null"
    return None


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with server pings and checked envelopes."""

    _pinger: asyncio.Task[None] | None = None

    async def handle_message(self, message: Message) -> None:
        problem = envelope_problem(message, ("subscribe",), "complete")
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._pinger is None:
            self._pinger = asyncio.create_task(self._ping_forever())

    async def _ping_forever(self) -> None:
        interval = self.view.keep_alive_interval or KEEP_ALIVE_SECONDS
        while True:
            await asyncio.sleep(interval)
            await self.send_message({"type": "ping"})

    async def shutdown(self) -> None:
        pinger, self._pinger = self._pinger, None
        await cancel_and_wait(pinger)
        await super().shutdown()


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol (subscriptions-transport-ws) with checked envelopes."""

    async def handle_message(self, message: OperationMessage) -> None:
        problem = envelope_problem(message, ("start",), "stop")
        if problem is not None:
            error: Any = {"type": "connection_error", "payload": {"message": problem}}
            with contextlib.suppress(Exception):
                await self.send_message(error)
            await self.websocket.close(code=PROTOCOL_ERROR, reason=problem)
            return
        await super().handle_message(message)

"""The WebSocket side of /graphql: keep-alive for both protocols, and messages checked before strawberry sees them.

Keep-alive: strawberry sends "ka" messages only for the legacy graphql-ws protocol; for graphql-transport-ws it
only answers a client's pings. `TransportWSHandler` also pings the client every `keep_alive_interval` once the
connection is acknowledged, so idle subscriptions survive proxies and NATs that drop silent connections.

Malformed messages: strawberry 0.341 trusts the shape of a parsed message, so a JSON array, a `subscribe`
whose payload is a string or a legacy `start` without payload end in a TypeError/KeyError inside the ASGI app
(an abnormal close, 1006, and a traceback in the log). Both handlers check the envelope first:
graphql-transport-ws closes with 4400 and the reason, as its protocol says; legacy graphql-ws (which defines no
close codes) sends `connection_error` with the reason and closes with 1002, as strawberry does for binary
frames. Everything else (4406 without a subprotocol, 4408 when connection_init does not come in time, 4409 for a
repeated id, 4429 for a second connection_init) is strawberry's own.

Access (docs/security.md): the token comes in `connection_init`'s payload (`{"authorization": "Bearer TOKEN"}`)
or in the upgrade request's Authorization header; without a valid one (while AUTH_REQUIRED, or a bad one ever)
the socket is closed with 4401 and the reason. Every operation then runs with that identity, so roles apply as
over HTTP, and counts against the token's rate limit. A token revoked or expired while its socket is open closes
it with 4401 within AUTH_TOKEN_REFRESH_SECONDS (at once when revoked through this server). A socket runs at most
WS_MAX_OPERATIONS_PER_CONNECTION operations at once (one more gets an error) and may send
WS_MAX_MESSAGES_PER_SECOND messages a second (a faster client is closed with 1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

from t3000gql.api.context import Context
from t3000gql.api.shared_subscriptions import SharedMessage, SharedSubscriptions
from t3000gql.compat.strawberry import (
    BaseGraphQLTransportWSHandler,
    BaseGraphQLWSHandler,
    ConnectionInitMessage,
    Operation,
    OperationMessage,
    OperationStreamClosed,
    TextWebSocketAdapter,
)
from t3000gql.compat.strawberry import LegacyConnectionInitMessage as LegacyInitMessage
from t3000gql.compat.strawberry import TransportWSMessage as Message
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import LimitExceeded, T3000Error, Unauthenticated
from t3000gql.lifecycle import cancel_and_wait
from t3000gql.live.subscriber import Subscriber

KEEP_ALIVE_SECONDS = 15.0
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
PROTOCOL_ERROR = 1002
POLICY_VIOLATION = 1008
UNAUTHORIZED = 4401
MAX_REASON_BYTES = 123
"""What a close frame's reason may hold (RFC 6455)."""


def close_reason(text: str) -> str:
    encoded = text.encode()
    return (
        text
        if len(encoded) <= MAX_REASON_BYTES
        else encoded[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."
    )


def formatted(error: T3000Error) -> dict[str, Any]:
    return {"message": str(error), "extensions": {"code": error.code, **error.extensions}}


class MessageRate:
    """A token bucket of WS_MAX_MESSAGES_PER_SECOND on the server's clock: bursts of a second's worth."""

    def __init__(self, per_second: int, clock: Clock) -> None:
        self.per_second = per_second
        self._clock = clock
        self._left = float(per_second)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._left = min(float(self.per_second), self._left + (now - self._at) * self.per_second / 1000)
        self._at = now
        if self._left < 1.0:
            return False
        self._left -= 1.0
        return True


class SocketAccess:
    """Who a WebSocket acts as, and what it may still do: shared by both protocols' handlers."""

    def __init__(self, context: Context, close: Callable[[int, str], Awaitable[None]]) -> None:
        self.context = context
        services = context.services
        settings = services.settings
        self.auth = services.auth
        self.messages = MessageRate(settings.ws_max_messages_per_second, services.clock)
        self.max_operations = settings.ws_max_operations_per_connection
        self._close = close
        self._unwatch: Callable[[], None] = lambda: None
        self._closing: asyncio.Task[None] | None = None

    def credentials(self, payload: object) -> str | None:
        """The token of connection_init's payload, else of the upgrade request's Authorization header."""
        if isinstance(payload, dict):
            given = payload.get("authorization", payload.get("Authorization"))
            if isinstance(given, str) and given:
                return given
        request = self.context.request
        return None if request is None else request.headers.get("authorization")

    async def admit(self, payload: object) -> bool:
        """Authenticates the socket (closing it with 4401 when it may not connect); True when it may."""
        try:
            identity = self.auth.authenticate(self.credentials(payload))
        except Unauthenticated as exc:
            await self._close(UNAUTHORIZED, close_reason(f"Unauthorized: {exc}"))
            return False
        self.context.identity = identity
        self._unwatch = self.auth.watch(identity, self._invalidated)
        return True

    def _invalidated(self, reason: str) -> None:
        self._closing = asyncio.ensure_future(self._close(UNAUTHORIZED, close_reason(f"Unauthorized: {reason}")))

    async def message_allowed(self) -> bool:
        """False (and the socket closed with 1008) past WS_MAX_MESSAGES_PER_SECOND."""
        if self.messages.take():
            return True
        await self._close(
            POLICY_VIOLATION,
            f"more than {self.messages.per_second} messages a second (WS_MAX_MESSAGES_PER_SECOND)",
        )
        return False

    async def operation_refusal(self, running: int) -> T3000Error | None:
        """Why a new operation may not start (None when it may); a token no longer valid closes the socket."""
        identity = self.context.identity
        if identity is not None and (reason := self.auth.invalid_reason(identity)) is not None:
            await self._close(UNAUTHORIZED, close_reason(f"Unauthorized: {reason}"))
            return Unauthenticated(reason)
        if running >= self.max_operations:
            return LimitExceeded(
                f"this WebSocket runs {running} operations already (WS_MAX_OPERATIONS_PER_CONNECTION): complete "
                "one first, or open another connection"
            )
        if identity is not None:
            try:
                self.auth.admit(identity)
            except LimitExceeded as exc:
                return exc
        self.context.renew_history_budget()
        return None

    def release(self) -> None:
        self._unwatch()


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
    """graphql-transport-ws with server pings, checked envelopes and access (see the module's docstring)."""

    _pinger: asyncio.Task[None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access = SocketAccess(
            self.context, lambda code, reason: self.websocket.close(code=code, reason=reason)
        )

    async def handle_message(self, message: Message) -> None:
        problem = envelope_problem(message, ("subscribe",), "complete")
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        if not await self.access.message_allowed():
            return
        if (
            message["type"] == "subscribe"
            and self.connection_acknowledged
            and message["id"] not in self.operations
        ):
            refusal = await self.access.operation_refusal(len(self.operations))
            if refusal is not None:
                error: Any = {"id": message["id"], "type": "error", "payload": [formatted(refusal)]}
                with contextlib.suppress(Exception):
                    await self.send_message(error)
                return
        await super().handle_message(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """strawberry's own, unless the operation can share its work (api/shared_subscriptions.py): then its
        own stream gives its initial values (or its errors), and the group's messages follow."""
        hub: SharedSubscriptions | None = getattr(self.view, "shared_subscriptions", None)  # api/view.py's
        share = None if hub is None else hub.share_for(operation, self.context)
        if share is None:
            await super().run_operation(operation)
            return
        context = replace(self.context, live_share=share)
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with contextlib.aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            if share.member is not None and not operation.completed:
                await self._send_shared(operation, share.member)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise
        finally:
            share.leave()

    async def _send_shared(self, operation: Operation[Context, None], member: Subscriber[SharedMessage]) -> None:
        """Sends the group's messages with this operation's id until the group or the operation ends."""
        head = '{"id":' + json.dumps(operation.id) + ',"type":"next","payload":'
        send = cast(TextWebSocketAdapter, self.websocket).send_text
        async for message in member:
            if operation.completed:
                return
            await send(head + message.payload + "}")

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload")
        if (payload is None or isinstance(payload, dict)) and not self.connection_init_received:
            if not await self.access.admit(payload):
                return
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._pinger is None:
            self._pinger = asyncio.create_task(self._ping_forever())

    async def _ping_forever(self) -> None:
        interval = self.view.keep_alive_interval or KEEP_ALIVE_SECONDS
        while True:
            await asyncio.sleep(interval)
            await self.send_message({"type": "ping"})

    async def shutdown(self) -> None:
        self.access.release()
        pinger, self._pinger = self._pinger, None
        await cancel_and_wait(pinger)
        await super().shutdown()


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol (subscriptions-transport-ws) with checked envelopes and access."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access = SocketAccess(self.context, lambda code, reason: refuse_legacy(self, code, reason))

    async def handle_message(self, message: OperationMessage) -> None:
        problem = envelope_problem(message, ("start",), "stop")
        if problem is not None:
            await refuse_legacy(self, PROTOCOL_ERROR, problem)
            return
        if not await self.access.message_allowed():
            return
        if message["type"] == "start" and self.connection_acknowledged:
            running = len(self.tasks) - (message["id"] in self.tasks)
            refusal = await self.access.operation_refusal(running)
            if refusal is not None:
                error: Any = {"type": "error", "id": message["id"], "payload": formatted(refusal)}
                with contextlib.suppress(Exception):
                    await self.send_message(error)
                return
        await super().handle_message(message)

    async def handle_connection_init(self, message: LegacyInitMessage) -> None:
        payload = message.get("payload")
        if (payload is None or isinstance(payload, dict)) and not await self.access.admit(payload):
            return
        await super().handle_connection_init(message)

    async def cleanup(self) -> None:
        self.access.release()
        await super().cleanup()


async def refuse_legacy(handler: LegacyWSHandler, code: int, reason: str) -> None:
    """Closes a legacy graphql-ws socket; that protocol defines no close codes, so the reason goes in a
    connection_error first. (A function, not a method: the handler's methods are strawberry's overrides.)"""
    error: Any = {"type": "connection_error", "payload": {"message": reason}}
    with contextlib.suppress(Exception):
        await handler.send_message(error)
    await handler.websocket.close(code=code, reason=reason)

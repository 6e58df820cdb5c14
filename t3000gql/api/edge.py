"""The HTTP edge, before any route: Host and Origin checks, the body size cap and the WebSocket connection cap.

Each is a small ASGI middleware that `app.py` puts around every route (GraphQL, /health, /metrics, and REST
when it is mounted), answering in GraphQL's error shape with a code:

- `HostGuard`: a Host header not in ALLOWED_HOSTS gets 400 (BAD_REQUEST): a page on a rebinding DNS name that
  resolves to this server cannot reach it. WebSocket handshakes too.
- `OriginGuard`: a browser request from another origin that ALLOWED_ORIGINS does not list gets 403
  (FORBIDDEN), before it runs; listed origins get CORS headers from Starlette's CORSMiddleware. (WebSocket
  handshakes are checked by strawberry's view against the same list.)
- `BodyLimit`: a body over API_MAX_BODY_BYTES gets 413 (BAD_REQUEST) before it is parsed: at once from
  Content-Length, or as soon as a chunked body passes the limit.
- `WebSocketLimit`: past WS_MAX_CONNECTIONS open WebSockets, a new one is accepted and closed at once with
  1013 (try again later) and a reason saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from t3000gql.api.errors import request_error

TRY_AGAIN_LATER = 1013


def error_response(message: str, code: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(request_error(message, code)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def host_name(host: str) -> str:
    """The name of a Host header without its port: `[::1]:8000` -> `::1`, `Example.com:80` -> `example.com`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HostGuard:
    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        names = [name.lower() for name in allowed]
        self.any = "*" in names
        self.exact = {host_name(name) for name in names if not name.startswith("*.")}
        self.suffixes = tuple(name[1:] for name in names if name.startswith("*."))

    def allows(self, host: str) -> bool:
        name = host_name(host)
        return self.any or name in self.exact or (bool(name) and name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host", "")
            if not self.allows(host):
                response = error_response(
                    f"this server does not answer to Host {host!r}: add it to ALLOWED_HOSTS if it is this server's "
                    "name",
                    "BAD_REQUEST",
                    400,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def same_origin(origin: str, host: str) -> bool:
    return urlsplit(origin).netloc.lower() == host.strip().lower()


class OriginGuard:
    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.any = "*" in allowed
        self.allowed = {origin.rstrip("/").lower() for origin in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.any:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if (
                origin is not None
                and origin.rstrip("/").lower() not in self.allowed
                and not same_origin(origin, headers.get("host", ""))
            ):
                response = error_response(
                    f"pages on {origin} may not call this API: an admin lists trusted web origins in ALLOWED_ORIGINS",
                    "FORBIDDEN",
                    403,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Sequence[str] = ()) -> None:
        """`exempt`: path prefixes whose routes enforce the same limit themselves (REST: in its envelope)."""
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = tuple(exempt)

    def _refusal(self) -> Response:
        return error_response(
            f"the request body is larger than {self.max_bytes} bytes (API_MAX_BODY_BYTES): send less per request",
            "BAD_REQUEST",
            413,
            {"Connection": "close"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.exempt and scope["path"].startswith(self.exempt)):
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refusal()(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:
                raise
            await self._refusal()(scope, receive, send)


@dataclass
class SocketCount:
    """Open WebSockets and those refused at the cap, shared by `WebSocketLimit` and /metrics."""

    open: int = 0
    refused: int = 0


class WebSocketLimit:
    def __init__(
        self, app: ASGIApp, max_connections: int, protocols: Sequence[str], count: SocketCount | None = None
    ) -> None:
        self.app = app
        self.max_connections = max_connections
        self.protocols = tuple(protocols)
        self.count = count or SocketCount()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        count = self.count
        if count.open >= self.max_connections:
            await self._refuse(scope, receive, send)
            return
        count.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            count.open -= 1

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Accepted (with the client's protocol, so it reads the close frame) and closed with the reason."""
        self.count.refused += 1
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        offered = scope.get("subprotocols") or []
        chosen = next((protocol for protocol in offered if protocol in self.protocols), None)
        await send({"type": "websocket.accept", "subprotocol": chosen})
        await send(
            {
                "type": "websocket.close",
                "code": TRY_AGAIN_LATER,
                "reason": f"the server has {self.max_connections} WebSockets open (WS_MAX_CONNECTIONS); try again later",
            }
        )

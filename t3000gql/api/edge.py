"""The HTTP edge, before any route: Host and Origin checks, the body size cap, the WebSocket connection cap and
who a request acts as, in one ASGI layer that reads the request's headers once.

`app.py` puts it around every route (GraphQL, /health, /metrics, REST, the pages); its answers have GraphQL's
error shape with a code:

- Host: a Host header not in ALLOWED_HOSTS gets 400 (BAD_REQUEST): a page on a rebinding DNS name that resolves
  to this server cannot reach it. WebSocket handshakes too.
- Origin: a browser request from another origin that ALLOWED_ORIGINS does not list gets 403 (FORBIDDEN), before
  it runs; listed origins get CORS headers from Starlette's CORSMiddleware inside. (WebSocket handshakes are
  checked by strawberry's view against the same list.)
- Body: one over API_MAX_BODY_BYTES gets 413 (BAD_REQUEST) before it is parsed: at once from Content-Length, or
  as soon as a chunked body passes the limit. Exempt prefixes (REST) enforce it themselves, in their envelope.
- WebSockets: past WS_MAX_CONNECTIONS open ones, a new one is accepted and closed at once with 1013 (try again
  later) and a reason saying so.
- Identity: requests to the paths that need one are authenticated (api/authentication.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from t3000gql.api.authentication import identify
from t3000gql.api.errors import request_error

TRY_AGAIN_LATER = 1013
_WANTED = frozenset((b"host", b"origin", b"content-length", b"authorization", b"accept"))


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


def same_origin(origin: str, host: str) -> bool:
    return urlsplit(origin).netloc.lower() == host.strip().lower()


@dataclass
class SocketCount:
    """Open WebSockets and those refused at the cap, shared by `Edge` and /metrics."""

    open: int = 0
    refused: int = 0


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: Sequence[str],
        origins: Sequence[str],
        max_body_bytes: int,
        body_exempt: Sequence[str],
        max_sockets: int,
        protocols: Sequence[str],
        sockets: SocketCount,
        authenticated: Collection[str],
    ) -> None:
        self.app = app
        names = [name.lower() for name in hosts]
        self.any_host = "*" in names
        self.hosts = {host_name(name) for name in names if not name.startswith("*.")}
        self.host_suffixes = tuple(name[1:] for name in names if name.startswith("*."))
        self.any_origin = "*" in origins
        self.origins = {origin.rstrip("/").lower() for origin in origins}
        self.max_body_bytes = max_body_bytes
        self.body_exempt = tuple(body_exempt)
        self.max_sockets = max_sockets
        self.protocols = tuple(protocols)
        self.sockets = sockets
        self.authenticated = frozenset(authenticated)

    def allows_host(self, host: str) -> bool:
        name = host_name(host)
        return self.any_host or name in self.hosts or (bool(name) and name.endswith(self.host_suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {name: value.decode("latin-1") for name, value in scope["headers"] if name in _WANTED}
        host = headers.get(b"host", "")
        if not self.allows_host(host):
            message = f"this server does not answer to Host {host!r}: add it to ALLOWED_HOSTS if it is this server's name"
            await error_response(message, "BAD_REQUEST", 400)(scope, receive, send)
            return
        if kind == "websocket":
            await self._socket(scope, receive, send)
            return
        origin = headers.get(b"origin")
        if (
            origin is not None
            and not self.any_origin
            and origin.rstrip("/").lower() not in self.origins
            and not same_origin(origin, host)
        ):
            message = (
                f"pages on {origin} may not call this API: an admin lists trusted web origins in ALLOWED_ORIGINS"
            )
            await error_response(message, "FORBIDDEN", 403)(scope, receive, send)
            return
        if scope["path"] in self.authenticated:
            refusal = identify(scope, headers.get(b"authorization"), headers.get(b"accept", ""))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        if self.body_exempt and scope["path"].startswith(self.body_exempt):
            await self.app(scope, receive, send)
            return
        await self._limited(scope, receive, send, headers.get(b"content-length"))

    async def _limited(self, scope: Scope, receive: Receive, send: Send, length: str | None) -> None:
        if length is not None and length.isdigit():
            # The server reads no more than Content-Length says (h11 and httptools hold the client to it): the
            # declared length is the check, and the body needs no counting on its way in.
            if int(length) > self.max_body_bytes:
                await self._too_large()(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
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
            await self._too_large()(scope, receive, send)

    def _too_large(self) -> Response:
        return error_response(
            f"the request body is larger than {self.max_body_bytes} bytes (API_MAX_BODY_BYTES): send less per request",
            "BAD_REQUEST",
            413,
            {"Connection": "close"},
        )

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        count = self.sockets
        if count.open >= self.max_sockets:
            await self._refuse_socket(scope, receive, send)
            return
        count.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            count.open -= 1

    async def _refuse_socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Accepted (with the client's protocol, so it reads the close frame) and closed with the reason."""
        self.sockets.refused += 1
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
                "reason": f"the server has {self.max_sockets} WebSockets open (WS_MAX_CONNECTIONS); try again later",
            }
        )


class _TooLarge(Exception):
    pass

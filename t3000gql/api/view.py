"""The ASGI endpoint at /graphql: GraphQL over HTTP (POST, GET for queries), WebSocket, GraphiQL.

Beyond strawberry's own view it speaks the GraphQL-over-HTTP spec: it answers
`application/graphql-response+json` to clients that accept it (a request error is then HTTP 400) and
`application/json` to the rest (always 200 once the request is well formed); a mutation over GET is 405, a body
that is not JSON 415, an Accept it cannot satisfy 406. Every HTTP request passes the `RequestGate`, and JSON is
encoded with orjson, which is what makes the column scalars fast. A request that sends a persisted query's hash
instead of its text gets its text in `parse_http_body` (api/persisted_queries.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException, parse_content_type
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult

from t3000gql.api.context import Context
from t3000gql.api.errors import HTTP_CODES, request_error
from t3000gql.api.limits import RequestGate
from t3000gql.api.persisted_queries import PersistedQueries, PersistedQueryError
from t3000gql.api.shared_subscriptions import SharedSubscriptions
from t3000gql.api.websocket import (
    CONNECTION_INIT_TIMEOUT,
    KEEP_ALIVE_SECONDS,
    LegacyWSHandler,
    TransportWSHandler,
)
from t3000gql.compat.strawberry import BaseRequestProtocol, InvalidOperationTypeError, TextWebSocketAdapter
from t3000gql.config import Settings
from t3000gql.errors import LimitExceeded, RequestTimeout

SUBPROTOCOLS = (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL)
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
_LIMIT_STATUS = {LimitExceeded: 429, RequestTimeout: 504}


class _MethodNotAllowed(HTTPException):
    def __init__(self, reason: str, allow: str) -> None:
        super().__init__(405, reason)
        self.allow = allow


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with for an Accept header; None when it accepts neither of ours."""
    if not accept:
        return JSON
    best: dict[str, float] = {GRAPHQL_RESPONSE_JSON: 0.0, JSON: 0.0}
    for part in accept.split(","):
        media, *params = (item.strip().lower() for item in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        target = GRAPHQL_RESPONSE_JSON if media == GRAPHQL_RESPONSE_JSON else JSON
        if media in (GRAPHQL_RESPONSE_JSON, JSON, "application/*", "*/*"):
            best[target] = max(best[target], quality)
    if best[GRAPHQL_RESPONSE_JSON] > 0 and best[GRAPHQL_RESPONSE_JSON] >= best[JSON]:
        return GRAPHQL_RESPONSE_JSON
    return JSON if best[JSON] > 0 else None


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = TextWebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        schema: BaseSchema,
        settings: Settings,
        *,
        ide: Callable[[Request], Awaitable[Response]] | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if ide is not None else None,
            subscription_protocols=SUBPROTOCOLS,
            keep_alive=True,
            keep_alive_interval=KEEP_ALIVE_SECONDS,
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
            max_subscriptions_per_connection=None,  # api/websocket.py: WS_MAX_OPERATIONS_PER_CONNECTION
            allowed_origins=settings.origins,
        )
        self.settings = settings
        self.gate = RequestGate(settings.api_max_concurrent_requests, settings.api_request_timeout_seconds)
        self.persisted_queries = PersistedQueries(settings.api_persisted_query_cache_size)
        self._ide = ide
        self.shared_subscriptions = SharedSubscriptions(
            schema,
            enabled=settings.live_shared_subscriptions,
            queue_size=settings.live_queue_size,
            encode=self.encode_json_string,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        """The GraphiQL page `ide` renders (t3000gql.web: served from this server, no CDN)."""
        assert self._ide is not None  # strawberry asks only when graphql_ide is set, i.e. when ide is given
        return await self._ide(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        request = Request(scope, receive)
        media_type = negotiate(request.headers.get("accept"))
        request.state.media_type = media_type or JSON
        try:
            if media_type is None and not self.should_render_graphql_ide(self.request_adapter_class(request)):
                raise HTTPException(406, f"this endpoint answers {GRAPHQL_RESPONSE_JSON} or {JSON}")
            response = await self.gate.run(lambda: self.run(request))
        except HTTPException as exc:
            headers = {"Allow": getattr(exc, "allow", "GET, POST")} if exc.status_code == 405 else {}
            response = self._error(
                request, exc.reason, HTTP_CODES.get(exc.status_code, "BAD_REQUEST"), exc.status_code, headers
            )
        except (LimitExceeded, RequestTimeout) as exc:
            headers = {"Retry-After": "1"} if isinstance(exc, LimitExceeded) else {}
            response = self._error(request, str(exc), exc.code, _LIMIT_STATUS[type(exc)], headers)
        except PersistedQueryError as exc:
            response = self._error(request, str(exc), exc.code, exc.status, exc.headers)
        await response(scope, receive, send)
        state = request.state
        if response.media_type == "text/html":
            return  # the GraphiQL page, not an API request
        scope["app"].state.services.health_checks.requests.record(
            getattr(state, "operation", "invalid"),
            time.perf_counter() - started,
            error=response.status_code >= 400 or getattr(state, "failed", False),
        )

    def _error(self, request: Request, message: str, code: str, status: int, headers: dict[str, str]) -> Response:
        return Response(
            self.encode_json(request_error(message, code)),
            status_code=status,
            media_type=request.state.media_type,
            headers=headers,
        )

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        # HTTP: api/authentication.py put the identity in the request's state; WebSocket: the handler sets it
        # when connection_init is checked.
        identity = getattr(request.state, "identity", None) if isinstance(request, Request) else None
        return Context.create(request.app.state.services, request, response, identity=identity)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        response = await super().get_sub_response(request)
        response.media_type = request.state.media_type
        request.state.sub_response = response
        return response

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """Not for a GET that sends a persisted query's hash (`extensions`) instead of its text."""
        return super().should_render_graphql_ide(request) and "extensions" not in request.query_params

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST":
            media_type, _ = parse_content_type(request.content_type or "")
            if media_type != JSON:
                raise HTTPException(
                    415, 'send the operation as application/json: {"query": "...", "variables": {...}}'
                )
        parsed = await super().parse_http_body(request)
        if isinstance(parsed, list):
            return [self.persisted_queries.resolve(one) for one in parsed]
        return self.persisted_queries.resolve(parsed)

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            result = await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                raise _MethodNotAllowed("GET runs queries only: send mutations with POST", allow="POST") from exc
            raise
        # What the request is recorded as (health's API metrics): its operation type, and whether it failed.
        request, context = kwargs["request"], kwargs["context"]  # strawberry passes them by name
        request.state.operation = context.operation_type or "invalid"
        request.state.failed = bool(result.errors)
        return result

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = process_result(result)
        if result.errors and result.data is None and all(error.path is None for error in result.errors):
            # A request error (syntax, validation, variables): nothing was executed, so there is no `data`.
            response.pop("data", None)
            if request.state.media_type == GRAPHQL_RESPONSE_JSON:
                request.state.sub_response.status_code = 400
        return response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = Response(
            self.encode_json(response_data),
            status_code=sub_response.status_code or 200,
            media_type=sub_response.media_type,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        return response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

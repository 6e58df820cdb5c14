"""What every REST route gets without writing it: the request gate, the JSON-only body rule, and errors turned
into the envelope. Routes are FastAPI path operations on a router of `EnvelopeRoute`s; each returns its answer
(`envelope.ok(...)`) or raises one of our errors, and `errors(...)` lists in the OpenAPI document the failures
it can answer with."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from t3000gql.api.limits import RequestGate
from t3000gql.rest import envelope
from t3000gql.rest.access import EDGE
from t3000gql.rest.models import ApiResponse, ErrorResponse
from t3000gql.services import Services

_DESCRIPTIONS = {
    400: "Bad input: `error` says what to fix, `details` names each field, item index and value.",
    401: "No API token while the server needs one (AUTH_REQUIRED), or a bad, revoked or expired one "
    "(UNAUTHENTICATED): send `Authorization: Bearer TOKEN`.",
    403: "The token's role may not call this route (FORBIDDEN); nothing was done.",
    404: "The device or point does not exist.",
    413: "The body is larger than the server accepts.",
    415: "The body is not application/json.",
    429: "The server is answering API_MAX_CONCURRENT_REQUESTS requests already, or the token sent more than "
    "API_RATE_LIMIT_PER_MINUTE (RATE_LIMITED): retry after `Retry-After` s.",
    500: "An internal error; `error` holds a reference to the server log and nothing else.",
    502: "The device answered with an error (DEVICE_ERROR); `data` holds the last known value, if any.",
    503: "The database cannot take writes now (DATABASE_UNAVAILABLE): retry after `Retry-After` s.",
    504: "The device did not answer within T3000_INTERFACE_TIMEOUT (DEVICE_TIMEOUT), or is skipped after not "
    "answering until COLLECTOR_ERROR_RETRY_SECONDS have passed (DEVICE_OFFLINE, nothing sent); `data` holds the last "
    "known value, marked stale, if there is one. Or the request ran longer than API_REQUEST_TIMEOUT_SECONDS (TIMEOUT).",
}
ALWAYS = (400, 401, 403, 429, 500, 503, 504)
"""Any route can meet bad path or query parameters, the token check and the route's role, the request gate and
the rate limit, an internal error, a database that refuses, and API_REQUEST_TIMEOUT_SECONDS."""
WITH_BODY = (413, 415)


@dataclass(frozen=True)
class Edge:
    """What the mounted REST app is handed per request (under `access.EDGE` in the scope)."""

    services: Services
    gate: RequestGate


def errors(*statuses: int, stale: type[Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """The failure answers of a route for its `responses=`: ALWAYS plus `statuses`; with `stale`, 502 and 504
    carry that data type (a stale value served beside the error)."""
    answers: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*ALWAYS, *statuses}):
        model: type[Any] = ErrorResponse
        if stale is not None and status in (502, 504):
            model = ApiResponse[stale]  # type: ignore[valid-type]  # a generic model made for this route
        answers[status] = {"model": model, "description": _DESCRIPTIONS[status]}
    return answers


class EnvelopeRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def serve(request: Request) -> Response:
            if takes_body:
                if not _is_json(request.headers.get("content-type")):
                    raise HTTPException(415, "send the body as application/json")
                request = await _with_limited_body(request)
            return await handler(request)

        async def guarded(request: Request) -> Response:
            edge: Edge = request.scope[EDGE]
            clock = edge.services.clock
            try:
                return await edge.gate.run(lambda: serve(request))
            except RequestValidationError as exc:
                return envelope.for_request_errors(exc.errors(), clock())
            except HTTPException as exc:
                return http_failure(exc, clock())
            except Exception as exc:
                return envelope.for_error(exc, clock())

        return guarded


def router() -> APIRouter:
    """A router of `EnvelopeRoute`s whose operations are named after their functions in the document."""
    return APIRouter(route_class=EnvelopeRoute, generate_unique_id_function=lambda route: route.name)


def http_failure(exc: HTTPException, now_ms: int) -> Response:
    """An HTTP-level refusal (no such path, wrong method, body too large) in the envelope."""
    status = exc.status_code
    headers = dict(exc.headers or {})
    message = {404: "no such REST route (see /openapi.json)", 405: "this route does not take that method"}.get(
        status, str(exc.detail)
    )
    return envelope.failure(
        status, message, now_ms, code=envelope.HTTP_CODES.get(status, "BAD_REQUEST"), headers=headers
    )


async def _with_limited_body(request: Request) -> Request:
    """The request with its body read, refused with 413 past API_MAX_BODY_BYTES (by its Content-Length before
    reading anything, or while reading a body sent without one). The body is handed on through a receive that
    replays it, so the route reads it as usual."""
    limit = request.scope[EDGE].services.settings.api_max_body_bytes
    too_large = HTTPException(
        413, f"the body is larger than {limit} bytes (API_MAX_BODY_BYTES); send smaller batches"
    )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    replayed = False

    async def receive() -> Message:
        nonlocal replayed
        if replayed:
            return await request.receive()
        replayed = True
        return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    return Request(request.scope, receive)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == envelope.JSON or (media.startswith("application/") and media.endswith("+json"))

"""Seed 000's envelope `{success, data, error, source, timestamp}` around every answer, and the one place where
errors become HTTP answers (seed 000's error-recovery table):

    ValidationError, ConflictError, a request that does not fit the document   400  BAD_USER_INPUT, with details
    Unauthenticated (no token while one is needed; a bad, revoked, expired one) 401  UNAUTHENTICATED
    Forbidden (the token's role may not call this route)                        403  FORBIDDEN
    NotFoundError, a path that is no route                                     404  NOT_FOUND
    a method the path does not take                                            405  METHOD_NOT_ALLOWED
    a body over the size limit                                                 413  BAD_REQUEST
    a body that is not application/json                                        415  UNSUPPORTED_MEDIA_TYPE
    LimitExceeded (API_MAX_CONCURRENT_REQUESTS, API_RATE_LIMIT_PER_MINUTE)     429  RATE_LIMITED, Retry-After
    DeviceError (the controller answered with an error)                        502  DEVICE_ERROR
    DatabaseUnavailable                                                        503  DATABASE_UNAVAILABLE
    DeviceTimeout                                                              504  DEVICE_TIMEOUT, stale data
    DeviceOffline (skipped after not answering; nothing was sent)              504  DEVICE_OFFLINE, stale data
    RequestTimeout (API_REQUEST_TIMEOUT_SECONDS)                               504  TIMEOUT
    anything else                                                              500  INTERNAL, a reference only

Codes are GraphQL's `extensions.code`, so a client moving to GraphQL keeps its error handling. Names in messages
and details are the seed's snake_case ones (`end_time`, not `endTime`), whatever layer raised the error.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response

from t3000gql.errors import (
    ConflictError,
    DatabaseUnavailable,
    DeviceError,
    DeviceOffline,
    DeviceTimeout,
    Forbidden,
    LimitExceeded,
    NotFoundError,
    RequestTimeout,
    T3000Error,
    Unauthenticated,
    ValidationError,
)

log = logging.getLogger(__name__)

JSON = "application/json"
ERROR_SOURCE = "error"

STATUS: tuple[tuple[type[T3000Error], int], ...] = (
    (ValidationError, 400),
    (ConflictError, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFoundError, 404),
    (LimitExceeded, 429),
    (DeviceTimeout, 504),
    (DeviceOffline, 504),
    (DeviceError, 502),
    (DatabaseUnavailable, 503),
    (RequestTimeout, 504),
)
"""Our errors by HTTP status, most specific first (DeviceTimeout and DeviceOffline are DeviceErrors)."""

HTTP_CODES = {
    400: "BAD_USER_INPUT",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "BAD_REQUEST",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
RETRY_AFTER = {429: "1", 503: "5"}

_CAMEL = re.compile(r"\b[a-z]+(?:[A-Z][a-z0-9]*)+\b")


def snake(text: str) -> str:
    """`endTime` -> `end_time`, in a name or in a sentence: lower layers may name fields the GraphQL way."""
    return _CAMEL.sub(lambda match: re.sub(r"(?<!^)([A-Z])", r"_\1", match.group()).lower(), text)


def ok(data: Any, source: str, now_ms: int) -> Response:
    return _envelope(200, True, data, None, source, now_ms)


def failure(
    status: int,
    message: str,
    now_ms: int,
    *,
    code: str,
    data: Any = None,
    source: str = ERROR_SOURCE,
    details: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    extra: dict[str, Any] = {"code": code}
    if details is not None:
        extra["details"] = list(details)
    return _envelope(status, False, data, message, source, now_ms, extra, headers)


def for_error(exc: BaseException, now_ms: int, *, data: Any = None, source: str = ERROR_SOURCE) -> Response:
    """The answer to an exception raised while serving a route; `data` is what can still be served (the stale
    value of a device that did not answer)."""
    status = next((status for kind, status in STATUS if isinstance(exc, kind)), None)
    if isinstance(exc, T3000Error) and status is not None:
        details = None
        if isinstance(exc, ValidationError):
            field = None if exc.field is None else snake(exc.field)
            details = [_detail(field, exc.index, exc.value, snake(exc.reason))]
        return failure(
            status,
            snake(str(exc)),
            now_ms,
            code=exc.code,
            data=data,
            source=source,
            details=details,
            headers=_headers(exc, status),
        )
    reference = uuid.uuid4().hex[:12]
    log.error("internal error %s in a REST request", reference, exc_info=exc)
    return failure(
        500, f"internal error (reference {reference}); the server log has the details", now_ms, code="INTERNAL"
    )


def for_request_errors(errors: Sequence[Mapping[str, Any]], now_ms: int) -> Response:
    """A 400 for what pydantic found wrong in the path, query or body (FastAPI's RequestValidationError)."""
    details = [_request_detail(error) for error in errors]
    first = details[0]
    where = []
    if first["index"] is not None:
        where.append(f"item {first['index']}")
    if first["field"] is not None:
        where.append(f"field {first['field']!r}")
    message = (f"{', '.join(where)}: " if where else "") + first["message"]
    if len(details) > 1:
        message += f" (and {len(details) - 1} more problems, listed in details)"
    return failure(400, message, now_ms, code="BAD_USER_INPUT", details=details)


def _request_detail(error: Mapping[str, Any]) -> dict[str, Any]:
    location, *path = error.get("loc", ()) or ("body",)
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "invalid JSON")
        return _detail(
            None, None, None, f"the body is not valid JSON: {reason} (at character {path[0] if path else 0})"
        )
    names = [str(part) for part in path if isinstance(part, str)]
    indexes = [part for part in path if isinstance(part, int)]
    field = ".".join(names) or (None if location == "body" else str(location))
    value = None if error.get("type") == "missing" else error.get("input")
    message = str(error.get("msg", "is not valid"))
    if location in ("path", "query"):
        message = f"{message} ({location} parameter)"
    return _detail(field, indexes[-1] if indexes else None, value, message)


def _detail(field: str | None, index: int | None, value: Any, message: str) -> dict[str, Any]:
    return {"field": field, "index": index, "value": _json_safe(value), "message": message}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)  # JSON has no such bound, orjson (and most clients) do
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return value[:200].decode("utf-8", "replace")
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _envelope(
    status: int,
    success: bool,
    data: Any,
    error: str | None,
    source: str,
    now_ms: int,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"success": success, "data": data, "error": error, "source": source, "timestamp": now_ms // 1000}
    if extra:
        body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=dict(headers or {}))


def _headers(exc: T3000Error, status: int) -> dict[str, str] | None:
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="t3000gql"'}
    if status in RETRY_AFTER:
        return {"Retry-After": str(getattr(exc, "retry_after_seconds", RETRY_AFTER[status]))}
    return None

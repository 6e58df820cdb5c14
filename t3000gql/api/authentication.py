"""Who an HTTP request to /graphql, /metrics or /export.csv acts as: checked by the edge (api/edge.py) before
the request is read or executed.

The `Authorization: Bearer TOKEN` header is checked by the running authenticator (`services.auth`, in memory).
No token, or a bad, revoked or expired one, is HTTP 401 with a GraphQL error UNAUTHENTICATED (and
`WWW-Authenticate: Bearer`); while AUTH_REQUIRED is false a request without a header acts as `anonymous` with
every right, and one with a bad token is still refused. A token past API_RATE_LIMIT_PER_MINUTE is 429
RATE_LIMITED with Retry-After. The identity goes to the request's state, where the GraphQL view's context
picks it up; each field then checks the role it needs (api/access.py).

GraphiQL's page (a browser's GET of /graphql without a query) is served without a token: it is static, and
every operation it sends is checked. WebSockets are authenticated by their first message (api/websocket.py).
"""

from __future__ import annotations

import orjson
from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.types import Scope

from t3000gql.api.errors import request_error
from t3000gql.auth import Role, allows
from t3000gql.auth.rate_limit import RateLimitExceeded
from t3000gql.errors import LimitExceeded, Unauthenticated
from t3000gql.services import Services


def is_graphiql_page(scope: Scope, accept: str) -> bool:
    """A browser asking for the GraphiQL page (not an operation sent by GET)."""
    if scope["method"] != "GET" or "text/html" not in accept:
        return False
    params = QueryParams(scope.get("query_string", b""))
    return "query" not in params and "extensions" not in params


def identify(scope: Scope, authorization: str | None, accept: str) -> Response | None:
    """Puts the request's identity in its state (None: go on), or the refusal to send (401, 429)."""
    if is_graphiql_page(scope, accept):
        return None
    services: Services = scope["app"].state.services
    try:
        identity = services.auth.authenticate(authorization)
        services.auth.admit(identity)
    except Unauthenticated as exc:
        return refusal(str(exc), exc.code, 401, {"WWW-Authenticate": 'Bearer realm="t3000gql"'})
    except LimitExceeded as exc:
        wait = exc.retry_after_seconds if isinstance(exc, RateLimitExceeded) else 1
        return refusal(str(exc), exc.code, 429, {"Retry-After": str(wait)})
    scope.setdefault("state", {})["identity"] = identity
    return None


def refusal(message: str, code: str, status: int, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(request_error(message, code)), status, headers, "application/json")


def may_see_details(services: Services, authorization: str | None) -> bool:
    """Whether a request to an open endpoint (/health) may see device errors: an admin's, never refused."""
    try:
        return allows(services.auth.authenticate(authorization), Role.ADMIN)
    except Unauthenticated:
        return False

"""Assembles the REST API: seed 000's routes under /api (a FastAPI application, mounted), its OpenAPI document at
/openapi.json, and a documentation page at /api/docs whose scripts and styles come from the server itself.

The FastAPI application is built once per process (it holds no state: what the server runs reaches it per
request, through `RestApi`, from the Starlette application's state that the lifespan filled).
"""

from __future__ import annotations

import functools
import re
import time
from typing import cast

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from t3000gql import __version__
from t3000gql.api.limits import RequestGate
from t3000gql.rest import configuration, device_data, timeseries
from t3000gql.rest.access import EDGE
from t3000gql.rest.openapi import DESCRIPTION, PREFIX, TITLE, document, document_json
from t3000gql.rest.routing import Edge, http_failure

DOCS_ASSETS = "/docs-assets"
ROUTERS = (device_data.routes, timeseries.routes, configuration.routes)


@functools.cache
def rest_app() -> FastAPI:
    """The FastAPI application of the routes (paths without the /api prefix: it is mounted there)."""
    app = FastAPIOffline(
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        static_url=DOCS_ASSETS,
        root_path_in_servers=False,
    )
    for router in ROUTERS:
        app.include_router(router)

    async def refused(request: Request, exc: Exception) -> Response:
        edge: Edge = request.scope[EDGE]
        return http_failure(cast(HTTPException, exc), edge.services.clock())  # registered for HTTPException only

    app.add_exception_handler(HTTPException, refused)
    generated = document(app, ROUTERS)
    app.openapi = lambda: generated  # type: ignore[method-assign]  # FastAPI's documented way to replace it
    return app


class RestApi:
    """The ASGI app mounted at /api: hands each request what the server runs (`Edge`), then FastAPI routes it."""

    def __init__(self, gate: RequestGate) -> None:
        self.gate = gate
        self.app = rest_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services = scope["app"].state.services
        scope[EDGE] = Edge(services, self.gate)
        started = time.perf_counter()
        status = 500

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:  # health's API metrics: REST requests beside GraphQL's
            services.health_checks.requests.record("rest", time.perf_counter() - started, error=status >= 400)


def rest_routes(gate: RequestGate) -> list[BaseRoute]:
    """The routes app.py adds beside /graphql. REST requests pass the same request gate as GraphQL's (one budget
    of API_MAX_CONCURRENT_REQUESTS and API_REQUEST_TIMEOUT_SECONDS for the server)."""
    body = document_json(rest_app()).encode()

    async def openapi(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return [Route("/openapi.json", openapi, methods=["GET"]), _Mount(PREFIX, app=RestApi(gate))]


class _Mount(Mount):
    """Starlette's Mount matches `<prefix>/(?P<path>.*)`, and `.` stops at a newline: a path with `%0A` in it
    (`/api/device/%0A/data`) fell through to the outer app's plain-text 404 instead of reaching the REST routes,
    which answer in the envelope. The same pattern, with `.` matching newlines too."""

    def __init__(self, path: str, app: ASGIApp) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)

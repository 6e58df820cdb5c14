"""Builds the ASGI app. It assembles; it decides nothing: services are opened in the lifespan and handed on
through `app.state`, never as import-time globals."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from t3000gql.api.metrics import metrics_endpoint
from t3000gql.api.schema import schema
from t3000gql.api.view import GraphQLView
from t3000gql.config import Settings
from t3000gql.domain.timeutil import Clock, system_clock
from t3000gql.lifecycle import LifecycleHook
from t3000gql.rest import rest_routes
from t3000gql.services import Services
from t3000gql.web import WebSite


async def health(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    return JSONResponse(await services.health())


def create_app(
    settings: Settings, *, demo: bool = False, clock: Clock = system_clock, hook: LifecycleHook | None = None
) -> Starlette:
    """`hook` hears each part of Services start and stop (t3000gql/lifecycle.py)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with await Services.start(settings, clock=clock, demo=demo, hook=hook) as services:
            app.state.services = services
            yield

    web = WebSite(settings)
    graphql = GraphQLView(schema, settings, ide=web.graphiql_page)
    routes = [
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
        Route("/health", health),
        Route("/metrics", metrics_endpoint(graphql.gate)),
        *rest_routes(graphql.gate),
        *web.routes,
    ]
    return Starlette(routes=routes, lifespan=lifespan)

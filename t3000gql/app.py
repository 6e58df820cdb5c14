"""Builds the ASGI app. It assembles; it decides nothing: services are opened in the lifespan and handed on
through `app.state`, never as import-time globals."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route, WebSocketRoute

from t3000gql.api.edge import Edge, SocketCount
from t3000gql.api.gc_policy import gc_policy
from t3000gql.api.health_routes import health_routes
from t3000gql.api.metrics import metrics_endpoint
from t3000gql.api.schema import schema
from t3000gql.api.view import SUBPROTOCOLS, GraphQLView
from t3000gql.config import Settings
from t3000gql.domain.timeutil import Clock, system_clock
from t3000gql.lifecycle import LifecycleHook
from t3000gql.rest import rest_routes
from t3000gql.rest.openapi import PREFIX as REST_PREFIX
from t3000gql.services import Services
from t3000gql.web import WebSite


def edge(settings: Settings, sockets: SocketCount) -> list[Middleware]:
    """What every request passes before a route, outermost first: CORS for the origins allowed (so a preflight
    is answered before anything asks for a token, and refusals carry CORS headers), then the edge (api/edge.py)."""
    cors = (
        [
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept"],
                max_age=600,
            )
        ]
        if settings.origins
        else []
    )
    edge = Middleware(
        Edge,
        hosts=settings.host_names,
        origins=settings.origins,
        max_body_bytes=settings.api_max_body_bytes,
        body_exempt=(REST_PREFIX,),
        max_sockets=settings.ws_max_connections,
        protocols=SUBPROTOCOLS,
        sockets=sockets,
        authenticated=("/graphql", "/metrics", "/export.csv"),
    )
    return [*cors, edge]


def create_app(
    settings: Settings, *, demo: bool = False, clock: Clock = system_clock, hook: LifecycleHook | None = None
) -> Starlette:
    """`hook` hears each part of Services start and stop (t3000gql/lifecycle.py)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with await Services.start(settings, clock=clock, demo=demo, hook=hook) as services:
            app.state.services = services
            with gc_policy(settings):
                yield

    web = WebSite(settings)
    graphql = GraphQLView(schema, settings, ide=web.graphiql_page)
    sockets = SocketCount()
    routes = [
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
        *health_routes(),
        Route("/metrics", metrics_endpoint(graphql.gate, sockets)),
        *rest_routes(graphql.gate),
        *web.routes,
    ]
    return Starlette(routes=routes, middleware=edge(settings, sockets), lifespan=lifespan)


def app_from_environment() -> Starlette:
    """The app over settings read from the environment: what each process of `serve --workers N` builds (uvicorn
    imports it by name in every worker, and the workers inherit the environment of the command)."""
    return create_app(Settings.from_env())

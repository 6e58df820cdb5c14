"""A real uvicorn on 127.0.0.1 (port 0) running in the test's own event loop, so a test can subscribe over a
real WebSocket and also call the server's write path directly (same loop, same connections)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from t3000gql.app import create_app
from t3000gql.config import Settings
from t3000gql.domain.timeutil import Clock, system_clock
from t3000gql.services import Services
from tests.live.helpers import wait_until


@dataclass
class InLoopServer:
    app: Starlette
    port: int

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def serve_in_loop(
    settings: Settings, *, send_buffer: int | None = None, clock: Clock = system_clock, demo: bool = False
) -> AsyncIterator[InLoopServer]:
    """`send_buffer` fixes SO_SNDBUF of the listening socket (accepted sockets inherit it), so that a client
    that stops reading blocks the server's sends after kilobytes instead of the megabytes Linux allows.
    `clock` is the server's clock seam (a FakeClock moves token expiry and rate limits without sleeping).
    `demo`: as `serve --demo` (a Modbus simulator collected every few seconds)."""
    app = create_app(settings, clock=clock, demo=demo)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws_ping_interval=None)
    server = uvicorn.Server(config)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    listener.bind(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await wait_until(lambda: server.started or task.done(), "uvicorn start")
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped while starting")
        yield InLoopServer(app, listener.getsockname()[1])
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        listener.close()

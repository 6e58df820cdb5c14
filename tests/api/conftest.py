"""Fixtures for the API tests: a seeded SQLite file, the real app behind Starlette's TestClient (the lifespan
runs, so the store is opened as in production) and a real uvicorn on 127.0.0.1 for what needs a socket.

The app's clock is fixed at NOW, so which cached values are fresh is decided by the test, not by timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from starlette.testclient import TestClient

from t3000gql.app import create_app
from t3000gql.auth import Role
from t3000gql.auth.tokens import create_token
from t3000gql.config import Settings
from t3000gql.domain.audit import Actor
from t3000gql.domain.inputs import DeviceInput, PointInput, TrendLogInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.domain.timeutil import from_datetime
from t3000gql.storage.store import Store
from tests.conftest import ANY_YEAR_SKEW_SECONDS

BASE_URL = "http://127.0.0.1"
"""The TestClient's default host (`testserver`) is not one the server answers to (ALLOWED_HOSTS)."""
NOW = from_datetime(datetime(2025, 1, 2, 0, 0, 30, tzinfo=UTC))
DAY_START = from_datetime(datetime(2024, 12, 31, tzinfo=UTC))
QUARTER = 15 * 60 * 1000
SUPPLY = PointRef(1001, PointType.INPUT, 1)
RETURN = PointRef(1001, PointType.INPUT, 2)
FAN = PointRef(1001, PointType.OUTPUT, 1)
SETPOINT = PointRef(1001, PointType.VARIABLE, 1)
SUPPLY_SAMPLES = 192
"""Two days of quarter-hour samples of SUPPLY, 2024-12-31 00:00Z .. 2025-01-01 23:45Z (across the new year)."""


def supply_value(index: int) -> float:
    return 20.0 + (index % 8) * 0.5


async def seed(store: Store) -> None:
    """A small site: an air handler with four points and a trend log, an inactive boiler, a power station."""
    await store.devices.upsert(
        DeviceInput(
            1001,
            device_name="AHU-1",
            device_type="T3-BB",
            ip_address="192.168.1.10",
            port=502,
            # "none": this site's values come through the API. A "modbus" device would be read on every stale
            # `current` (the hardware fallback), dialling 192.168.1.10 from the tests; reads from devices are
            # tested against the simulators in tests/collect and tests/api/test_collection.py.
            protocol="none",
            modbus_unit_id=1,
        )
    )
    await store.devices.upsert(DeviceInput(1002, device_name="Boiler", device_type="T3-TB", is_active=False))
    await store.devices.upsert(DeviceInput(2001, device_name="Main meter", device_type="power_station"))
    await store.points.upsert(
        1001,
        [
            PointInput(PointType.INPUT, 1, point_name="Supply air", unit_code=1),
            PointInput(PointType.INPUT, 2, point_name="Return air", unit_code=1),
            PointInput(PointType.OUTPUT, 1, point_name="Fan", unit_code=101, data_type="BOOLEAN"),
            PointInput(PointType.VARIABLE, 1, point_name="Setpoint", unit_code=1, is_active=False),
        ],
    )
    log = await store.trend_logs.upsert(
        1001, TrendLogInput(trend_log_name="AHU temps", interval_seconds=900, points=(SUPPLY, RETURN))
    )
    await store.writes.record(
        [
            Sample(SUPPLY, DAY_START + i * QUARTER, supply_value(i), trend_log_id=log.id)
            for i in range(SUPPLY_SAMPLES)
        ]
        + [Sample(RETURN, DAY_START + i * QUARTER, 18.0, trend_log_id=log.id) for i in range(SUPPLY_SAMPLES)],
        "collector",
    )
    await store.writes.record([Sample(SETPOINT, NOW - 10_000, 21.0), Sample(FAN, NOW - 5_000, 1.0)], "api")


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The app's clock stands at NOW (2025-01-02) while tests store samples of later months: the rule refusing
    # samples from the future (MAX_CLOCK_SKEW_SECONDS) is widened here and tested with its default elsewhere.
    return Settings.defaults(
        database_url=database_url,
        partition_cleanup_enabled=False,
        max_clock_skew_seconds=ANY_YEAR_SKEW_SECONDS,
    )


def seed_file(settings: Settings, seeder: Callable[[Store], Any]) -> None:
    async def run() -> None:
        store = await Store.open(settings, clock=lambda: NOW)
        try:
            await seeder(store)
        finally:
            await store.close()

    asyncio.run(run())


def issue_token(settings: Settings, name: str, role: Role, *, expires_days: int | None = None) -> str:
    """Creates an API token in the settings' database (as `t3000gql token create` does); returns its secret."""
    created: list[str] = []

    async def create(store: Store) -> None:
        made = await create_token(
            store, store.clock, name=name, role=role, expires_days=expires_days, actor=Actor("test")
        )
        created.append(made.secret)

    seed_file(settings, create)
    return created[0]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def seeded(settings: Settings) -> Settings:
    seed_file(settings, seed)
    return settings


@dataclass
class GraphQLClient:
    """Posts operations to /graphql of the real app and returns the decoded JSON body."""

    http: TestClient

    def post(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        response = self.http.post("/graphql", json={"query": query, "variables": variables or {}}, **kwargs)
        assert response.headers["content-type"].startswith("application/")
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of an operation that must succeed."""
        body = self.post(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The one error of an operation that must fail (with the body under "body")."""
        body = self.post(query, variables)
        assert len(body.get("errors", [])) == 1, body
        return {**body["errors"][0], "body": body}

    @property
    def services(self) -> Any:
        return self.http.app.state.services  # type: ignore[attr-defined]

    def run(self, func: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Runs a coroutine function on the app's event loop (where its database connections live)."""
        assert self.http.portal is not None
        return self.http.portal.call(func, *args)


@contextlib.contextmanager
def open_client(settings: Settings) -> Iterator[GraphQLClient]:
    """The real app with these settings, lifespan running, clock at NOW."""
    with TestClient(create_app(settings, clock=lambda: NOW), base_url=BASE_URL) as http:
        yield GraphQLClient(http)


def _client(settings: Settings) -> Iterator[GraphQLClient]:
    with open_client(settings) as client:
        yield client


@pytest.fixture
def client(seeded: Settings) -> Iterator[GraphQLClient]:
    """The app over the seeded site."""
    yield from _client(seeded)


@pytest.fixture
def empty_client(settings: Settings) -> Iterator[GraphQLClient]:
    """The app over an empty database."""
    yield from _client(settings)


@dataclass
class LiveServer:
    url: str
    host: str
    port: int


@pytest.fixture
def live_server(request: pytest.FixtureRequest, seeded: Settings) -> Iterator[LiveServer]:
    """A real uvicorn on 127.0.0.1 (port 0) in a thread with its own loop. Settings can be overridden with
    `@pytest.mark.settings(field=value)`."""
    from dataclasses import replace

    marker = request.node.get_closest_marker("settings")
    settings = replace(seeded, **(marker.kwargs if marker else {}))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings, clock=lambda: NOW), log_level="warning", lifespan="on", ws_ping_interval=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.01)
        yield LiveServer(f"http://127.0.0.1:{port}", "127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

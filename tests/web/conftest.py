"""Fixtures for the pages in a real browser: Debian's chromium driven by Playwright (installed with apt-get when
missing; skipped when it cannot be had, failed under T3000GQL_REQUIRE_SERVICES=1), one browser for the whole
session, and one real server for the session: `serve --demo` (three simulated controllers collected over
Modbus) plus a "Test rig" device with a known week of history, on 127.0.0.1 with the site in Europe/Berlin.

Every page a test opens records the requests and WebSockets it makes; the test fails if one leaves the
server's origin.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn

from t3000gql.app import create_app
from t3000gql.auth import Role
from t3000gql.auth.tokens import create_token
from t3000gql.config import Settings
from t3000gql.domain.audit import Actor
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.domain.timeutil import from_datetime
from t3000gql.storage.store import Store
from t3000gql.web.assets import Assets

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SITE_TZ = "Europe/Berlin"
RIG = 7001
RIG_TEMP = PointRef(RIG, PointType.INPUT, 1)
RIG_FLOW = PointRef(RIG, PointType.INPUT, 2)
RIG_SETPOINT = PointRef(RIG, PointType.VARIABLE, 1)
WEEK_START = from_datetime(datetime(2025, 3, 10, tzinfo=ZoneInfo(SITE_TZ)))
MINUTE = 60_000
WEEK_MINUTES = 7 * 24 * 60


def rig_temperature(i: int) -> float:
    """A daily wave with a faster ripple, so buckets have distinct min, max and average."""
    return round(20 + 3 * math.sin(2 * math.pi * i / 1440) + 0.4 * math.sin(2 * math.pi * i / 7), 3)


def unavailable(message: str) -> None:
    if os.environ.get("T3000GQL_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and T3000GQL_REQUIRE_SERVICES=1")
    pytest.skip(message)


def ensure_chromium() -> str:
    """Debian's chromium, installed with apt-get when missing (the tests run as root on our machines)."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    detail = "apt-get is not available"
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True, timeout=600)
            subprocess.run(
                ["apt-get", "install", "-y", "chromium"], env=env, check=True, capture_output=True, timeout=1200
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            output = getattr(exc, "stderr", b"") or b""
            detail = f"apt-get failed: {output.decode(errors='replace')[-500:]}"
    elif shutil.which("apt-get"):
        detail = "apt-get needs root"
    if not Path(CHROMIUM).exists():
        unavailable(f"Debian's chromium is not installed at {CHROMIUM} and could not be installed ({detail})")
    return CHROMIUM


def ensure_assets() -> Assets:
    assets = Assets()
    if not assets.built:
        result = subprocess.run([str(ROOT / "scripts" / "build_web.sh")], capture_output=True, text=True)
        if result.returncode != 0:
            unavailable(f"the web pages are not built and scripts/build_web.sh failed: {result.stderr[-500:]}")
    return assets


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = ensure_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright (Python) is not installed: scripts/test.sh installs the dev extras")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


async def seed_rig(store: Store) -> None:
    await store.devices.upsert(DeviceInput(RIG, device_name="Test rig", device_type="T3-BB", protocol="none"))
    await store.points.upsert(
        RIG,
        [
            PointInput(PointType.INPUT, 1, point_name="Rig temperature", unit_code=1),
            PointInput(PointType.INPUT, 2, point_name="Rig flow", unit_code=22),
            PointInput(PointType.VARIABLE, 1, point_name="Rig setpoint", unit_code=1),
        ],
    )
    samples = [Sample(RIG_TEMP, WEEK_START + i * MINUTE, rig_temperature(i)) for i in range(WEEK_MINUTES)]
    samples += [Sample(RIG_FLOW, WEEK_START + i * 5 * MINUTE, float(i % 100)) for i in range(WEEK_MINUTES // 5)]
    await store.writes.record(samples, "import")
    await store.writes.record([Sample(RIG_SETPOINT, store.clock(), 21.0)], "api")


@dataclass
class SiteServer:
    url: str
    port: int
    client: httpx.Client = field(repr=False)
    token: str = field(default="", repr=False)
    """A viewer's API token in the site's database (what a user types into the pages' token control)."""

    @property
    def origins(self) -> tuple[str, ...]:
        return (f"http://127.0.0.1:{self.port}/", f"ws://127.0.0.1:{self.port}/")

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post("/graphql", json={"query": query, "variables": variables or {}})
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def write_value(self, ref: PointRef, value: float) -> None:
        self.graphql(
            "mutation($d: Int!, $v: [PointValueInput!]!) { updateDeviceData(deviceId: $d, values: $v) { updated } }",
            {
                "d": ref.device_id,
                "v": [{"pointType": ref.point_type.name, "pointNumber": ref.point_number, "value": value}],
            },
        )


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteServer]:
    """`serve --demo` with the test rig, on a free port of 127.0.0.1, for the whole session."""
    ensure_assets()
    path = tmp_path_factory.mktemp("web") / "site.db"
    settings = Settings.defaults(
        database_url=f"sqlite:///{path}", timezone=SITE_TZ, partition_cleanup_enabled=False
    )

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings, demo=True), log_level="warning", lifespan="on", ws_ping_interval=None
    )
    server = uvicorn.Server(config)

    tokens: list[str] = []

    async def seed_and_serve() -> None:
        # In the server's thread: Playwright's sync API holds an event loop in the tests' thread.
        store = await Store.open(settings)
        try:
            await seed_rig(store)
            made = await create_token(
                store, store.clock, name="browser", role=Role.VIEWER, expires_days=None, actor=Actor("test")
            )
            tokens.append(made.secret)
        finally:
            await store.close()
        await server.serve(sockets=[sock])

    thread = threading.Thread(target=lambda: asyncio.run(seed_and_serve()), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.01)
        with httpx.Client(base_url=url, timeout=30) as client:
            yield SiteServer(url, port, client, tokens[0])
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@dataclass
class Traffic:
    """Every request and WebSocket a page opened."""

    urls: list[str] = field(default_factory=list)
    sockets: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Uncaught exceptions in the page's scripts."""

    def foreign(self, origins: tuple[str, ...]) -> list[str]:
        local_schemes = ("data:", "blob:", "about:")
        return [u for u in self.urls if not u.startswith(origins) and not u.startswith(local_schemes)]


@pytest.fixture
def traffic() -> Traffic:
    return Traffic()


@pytest.fixture
def page(browser: Any, site: SiteServer, traffic: Traffic) -> Iterator[Any]:
    """A fresh browser context (empty storage) on the site; afterwards, no request may have left its origin."""
    context = browser.new_context(viewport={"width": 1400, "height": 820}, accept_downloads=True)
    context.set_default_timeout(20_000)
    context.on("request", lambda request: traffic.urls.append(request.url))
    opened = context.new_page()

    def on_socket(ws: Any) -> None:
        traffic.urls.append(ws.url)
        traffic.sockets.append(ws)

    opened.on("websocket", on_socket)
    opened.on("pageerror", lambda error: traffic.errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert traffic.errors == [], f"uncaught errors in the page: {traffic.errors}"
    assert traffic.urls, "the page made no request at all"
    assert traffic.foreign(site.origins) == [], (
        f"requests left the server's origin: {traffic.foreign(site.origins)}"
    )

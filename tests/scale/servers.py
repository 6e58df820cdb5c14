"""Real `t3000gql serve` processes for the scale tests: started with the CLI as an operator would, on a free port
of 127.0.0.1, in a working directory of their own (no .env leaks in), talked to over HTTP and WebSocket only.

Every wait is bounded (`wait_for`): a test fails after the bound instead of hanging, and never sleeps for luck.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
START_BOUND = 60.0
"""How long a server may take to answer /health (a loaded CI machine imports slowly)."""
WAIT_BOUND = 30.0
"""Default bound of every other wait."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One `t3000gql serve` command (with --workers N: the supervisor and its workers)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def health(self) -> dict[str, Any]:
        """GET /health on a new connection (with several workers, the kernel picks which one answers). The
        report is the same JSON whether the server is ready (200) or not (503, e.g. while the database is locked)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            response = await http.get("/health")
        if response.status_code != 503:
            response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            response = await http.post("/graphql", json={"query": query, "variables": dict(variables or {})})
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The data of a query that must succeed."""
        body = await self.graphql(query, variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def kill(self) -> None:
        """kill -9: no shutdown of any kind runs."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=WAIT_BOUND)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; returns the exit status (killed if it does not end)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=WAIT_BOUND)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def base_environment(database_url: str, broadcast_url: str, prefix: str, **settings: Any) -> dict[str, str]:
    """The variables of every server of a test: the shared database and bus, and quick leadership."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": database_url,
        "BROADCAST_URL": broadcast_url,
        "BROADCAST_CHANNEL_PREFIX": prefix,
        "DATABASE_POOL_SIZE": "2",
        "LEADER_TIMEOUT_SECONDS": "3",
        "PARTITION_CLEANUP_ENABLED": "false",
    }
    env.update(
        {
            name.upper(): str(value).lower() if isinstance(value, bool) else str(value)
            for name, value in settings.items()
        }
    )
    return env


@contextlib.contextmanager
def running(workdir: Path, env: Mapping[str, str], *arguments: str, name: str = "server") -> Iterator[Server]:
    """Starts `t3000gql serve` (plus `arguments`) and stops it with SIGTERM afterwards."""
    server = start(workdir, env, *arguments, name=name)
    try:
        yield server
    finally:
        server.stop()


def start(workdir: Path, env: Mapping[str, str], *arguments: str, name: str = "server") -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "t3000gql", "serve", "--host", "127.0.0.1", "--port", str(port), *arguments],
            cwd=workdir,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log, dict(env))
    deadline = time.monotonic() + START_BOUND
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            if httpx.get(f"{server.url}/health", timeout=10).status_code == 200:
                return server
        except (OSError, httpx.HTTPError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"{name} did not come up (status {process.poll()}):\n{server.output()[-3000:]}")
        time.sleep(0.05)


async def wait_for(probe: Callable[[], Awaitable[T | None]], what: str, bound: float = WAIT_BOUND) -> T:
    """Calls `probe()` until it returns something other than None or False; fails after `bound` seconds."""
    try:
        async with asyncio.timeout(bound):
            while True:
                found = await probe()
                if found is not None and found is not False:
                    return found
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"no {what} within {bound} s") from None

"""A small keep-alive HTTP/1.1 load generator on asyncio (under uvloop when installed), so that the client costs
little beside the server it measures: sequential timings on one connection, or N clients back to back.

It speaks just enough HTTP for uvicorn's Content-Length responses; a status other than 200 raises.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson


def post_graphql(query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> bytes:
    """The raw bytes of POST /graphql with this query (with `Authorization: Bearer token` when given)."""
    body = orjson.dumps({"query": query, "variables": variables or {}})
    authorization = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{authorization}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 26)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> bytes:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = head[9:12]
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        if status != b"200":
            raise RuntimeError(f"HTTP {status.decode()}: {body[:300]!r}")
        return body

    def close(self) -> None:
        self.writer.close()


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Runs the client side on uvloop when it is installed (as the server runs), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


async def timed(port: int, raw: bytes | Callable[[int], bytes], runs: int, warmup: int) -> list[float]:
    """Milliseconds of `runs` sequential requests on one connection (after `warmup` untimed ones). A GraphQL
    answer carrying errors raises: a fast error is not a measurement."""
    connection = await Connection.open(port)
    try:
        times = []
        for i in range(warmup + runs):
            payload = raw(i) if callable(raw) else raw
            started = time.perf_counter()
            body = await connection.request(payload)
            elapsed = (time.perf_counter() - started) * 1000
            if b'"errors":' in body:
                raise RuntimeError(body[-600:].decode())
            if i >= warmup:
                times.append(elapsed)
        return times
    finally:
        connection.close()


async def load(port: int, raw: bytes, clients: int, seconds: float) -> tuple[list[float], float]:
    """`clients` connections each sending requests back to back for `seconds`: (latencies ms, requests/s)."""
    connections = [await Connection.open(port) for _ in range(clients)]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(connection: Connection) -> None:
        while True:
            started = time.perf_counter()
            if started >= deadline:
                return
            await connection.request(raw)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return latencies, len(latencies) / elapsed


async def fetch(port: int, raw: bytes) -> bytes:
    """One request on a connection of its own."""
    connection = await Connection.open(port)
    try:
        return await connection.request(raw)
    finally:
        connection.close()

"""Concurrency and time limits through a real uvicorn on 127.0.0.1.

A request is held in flight deterministically by a client that sends its headers and only part of its body:
the server has admitted it and waits for the rest. /metrics (not gated) shows when that has happened.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import LiveServer

QUERY = b'{"query": "{ cacheStats { totalPoints } }"}'


def _in_flight(server: LiveServer) -> int:
    text = httpx.get(f"{server.url}/metrics").text
    line = next(line for line in text.splitlines() if line.startswith("t3000gql_graphql_requests_in_flight "))
    return int(float(line.split()[1]))  # prometheus-client prints every value as a float


def _wait_for_in_flight(server: LiveServer, want: int) -> None:
    for _ in range(1000):
        if _in_flight(server) == want:
            return
    raise AssertionError(f"in-flight requests never reached {want}")


@pytest.fixture
def held_request(live_server: LiveServer) -> Iterator[socket.socket]:
    """A POST whose body stays incomplete until the test sends the rest or closes the socket."""
    sock = socket.create_connection((live_server.host, live_server.port), timeout=30)
    head = (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(QUERY)}\r\n\r\n"
    ).encode()
    sock.sendall(head + QUERY[:10])
    try:
        yield sock
    finally:
        sock.close()


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ")[1]), body


@pytest.mark.settings(api_max_concurrent_requests=1)
def test_the_request_over_the_limit_is_refused_at_once(
    live_server: LiveServer, held_request: socket.socket
) -> None:
    _wait_for_in_flight(live_server, 1)
    response = httpx.post(
        f"{live_server.url}/graphql", content=QUERY, headers={"content-type": "application/json"}
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED"}
    assert "API_MAX_CONCURRENT_REQUESTS" in error["message"]

    held_request.sendall(QUERY[10:])
    status, body = _read_response(held_request)
    assert status == 200
    assert b"totalPoints" in body
    _wait_for_in_flight(live_server, 0)
    after = httpx.post(f"{live_server.url}/graphql", content=QUERY, headers={"content-type": "application/json"})
    assert after.status_code == 200


@pytest.mark.settings(api_request_timeout_seconds=0.05)
def test_a_request_that_runs_too_long_is_stopped_with_timeout(
    live_server: LiveServer, held_request: socket.socket
) -> None:
    status, body = _read_response(held_request)
    assert status == 504
    assert b'"code":"TIMEOUT"' in body
    assert b"API_REQUEST_TIMEOUT_SECONDS" in body
    _wait_for_in_flight(live_server, 0)
    metrics = httpx.get(f"{live_server.url}/metrics").text
    assert "t3000gql_graphql_requests_timed_out_total 1" in metrics

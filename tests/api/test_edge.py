"""The HTTP edge over real sockets: the Host check against DNS rebinding, browser origins (CORS and WebSocket
handshakes), the body size cap before parsing, list caps, and the WebSocket caps (connections, operations per
connection, messages per second)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from t3000gql.config import Settings
from tests.api.conftest import NOW, LiveServer
from tests.api.liveserver import InLoopServer, serve_in_loop
from tests.api.wsclient import LEGACY_WS, TRANSPORT_WS, GraphQLSocket
from tests.conftest import FakeClock

QUERY = {"query": "{ devices { deviceId } }"}
WATCH = "subscription { pointValues(deviceId: 1001) { pointNumber } }"
QUIET = "subscription { pointValues(deviceId: 1001, includeInitial: false) { pointNumber } }"
"""Sends nothing until a value changes: operations that stay open."""


def raw_request(server: LiveServer, request: bytes) -> bytes:
    """Sends bytes as they are (a Host header httpx would not send) and returns the whole answer."""
    with socket.create_connection((server.host, server.port), timeout=10) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def post_with_host(server: LiveServer, host: str) -> bytes:
    body = b'{"query": "{ devices { deviceId } }"}'
    return raw_request(
        server,
        b"POST /graphql HTTP/1.1\r\nHost: " + host.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body,
    )


def test_a_host_not_allowed_is_refused_with_400(live_server: LiveServer) -> None:
    for host in ("evil.example.com", "evil.example.com:8000", "127.0.0.1.nip.io"):
        answer = post_with_host(live_server, host)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b'"code":"BAD_REQUEST"' in answer and b"ALLOWED_HOSTS" in answer
    for host in (f"127.0.0.1:{live_server.port}", "localhost", f"[::1]:{live_server.port}"):
        assert post_with_host(live_server, host).startswith(b"HTTP/1.1 200"), host


@pytest.mark.settings(allowed_hosts="scada.example.com,*.site.example.com")
def test_allowed_hosts_names_and_subdomains(live_server: LiveServer) -> None:
    assert post_with_host(live_server, "scada.example.com").startswith(b"HTTP/1.1 200")
    assert post_with_host(live_server, "ahu.site.example.com:443").startswith(b"HTTP/1.1 200")
    assert post_with_host(live_server, "site.example.com.evil.net").startswith(b"HTTP/1.1 400")
    assert post_with_host(live_server, "127.0.0.1").startswith(b"HTTP/1.1 400")  # the list replaces the default


async def test_a_websocket_to_a_host_not_allowed_is_refused(seeded: Settings) -> None:
    async with serve_in_loop(seeded, clock=FakeClock(NOW)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"GET /graphql HTTP/1.1\r\nHost: rebound.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert status.startswith(b"HTTP/1.1 400"), status


def test_a_page_from_another_origin_is_refused_before_anything_runs(live_server: LiveServer) -> None:
    url = f"{live_server.url}/graphql"
    mutation = {"query": "mutation { deleteDevice(deviceId: 1001) }"}
    refused = httpx.post(url, json=mutation, headers={"Origin": "https://evil.example.com"})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    assert "ALLOWED_ORIGINS" in refused.json()["errors"][0]["message"]
    same_origin = httpx.post(url, json=QUERY, headers={"Origin": live_server.url})
    assert same_origin.status_code == 200 and "access-control-allow-origin" not in same_origin.headers
    still = httpx.post(url, json={"query": "{ device(deviceId: 1001) { deviceId } }"}).json()
    assert still["data"]["device"] == {"deviceId": 1001}


@pytest.mark.settings(allowed_origins="https://scada.example.com")
def test_an_allowed_origin_gets_cors_headers(live_server: LiveServer) -> None:
    url = f"{live_server.url}/graphql"
    origin = {"Origin": "https://scada.example.com"}
    preflight = httpx.options(
        url,
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://scada.example.com"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    answer = httpx.post(url, json=QUERY, headers=origin)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://scada.example.com"
    assert httpx.post(url, json=QUERY, headers={"Origin": "https://other.example.com"}).status_code == 403


async def test_a_websocket_from_another_origin_is_refused(seeded: Settings) -> None:
    settings = replace(seeded, allowed_origins="https://scada.example.com")
    async with serve_in_loop(settings, clock=FakeClock(NOW)) as server:
        with pytest.raises(InvalidStatus) as refused:
            async with GraphQLSocket.open(server.ws_url, origin="https://evil.example.com"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        async with GraphQLSocket.open(server.ws_url, origin="https://scada.example.com") as allowed:  # type: ignore[arg-type]
            await allowed.subscribe("w", WATCH)
            await allowed.next_data("w")


@pytest.mark.settings(api_max_body_bytes=4096)
def test_a_body_over_the_limit_is_413_before_it_is_parsed(live_server: LiveServer) -> None:
    url = f"{live_server.url}/graphql"
    big = b'{"query": "{ devices { deviceId } }", "variables": {"pad": "' + b"x" * 5000 + b'"}}'
    by_length = httpx.post(url, content=big, headers={"Content-Type": "application/json"})
    assert by_length.status_code == 413
    [error] = by_length.json()["errors"]
    assert error["extensions"] == {"code": "BAD_REQUEST"} and "4096 bytes (API_MAX_BODY_BYTES)" in error["message"]

    def chunked() -> bytes:
        yield big[:3000]
        yield big[3000:]

    streamed = httpx.post(url, content=chunked(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    # not even valid JSON: refused by size, never parsed
    garbage = httpx.post(url, content=b"\x00" * 5000, headers={"Content-Type": "application/json"})
    assert garbage.status_code == 413
    assert httpx.post(url, json=QUERY).status_code == 200


def test_a_list_over_its_cap_is_refused_naming_the_argument_and_writes_nothing(live_server: LiveServer) -> None:
    values = [{"pointType": "INPUT", "pointNumber": 1, "value": float(i)} for i in range(10_001)]
    body = httpx.post(
        f"{live_server.url}/graphql",
        json={
            "query": "mutation ($v: [PointValueInput!]!) { updateDeviceData(deviceId: 1001, values: $v) { inserted } }",
            "variables": {"v": values},
        },
        timeout=30,
    ).json()
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "values", "value": 10_001}
    assert "more than the 10000 one request may send" in error["message"]


@pytest.fixture
async def capped(seeded: Settings) -> AsyncIterator[InLoopServer]:
    settings = replace(seeded, ws_max_connections=2, ws_max_operations_per_connection=2)
    async with serve_in_loop(settings, clock=FakeClock(NOW)) as server:
        yield server


async def test_one_websocket_past_the_cap_is_closed_with_1013(capped: InLoopServer) -> None:
    async with GraphQLSocket.open(capped.ws_url), GraphQLSocket.open(capped.ws_url, LEGACY_WS):
        async with GraphQLSocket.open(capped.ws_url, init=False) as third:
            code, reason = await third.closed()
            assert code == 1013 and reason is not None and "WS_MAX_CONNECTIONS" in reason
    async with GraphQLSocket.open(capped.ws_url) as later:  # a place is free again
        await later.subscribe("w", WATCH)
        await later.next_data("w")


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_operations_past_the_cap_on_one_socket_get_an_error(capped: InLoopServer, protocol: str) -> None:
    async with GraphQLSocket.open(capped.ws_url, protocol) as ws:
        await ws.subscribe("a", QUIET)
        await ws.subscribe("b", QUIET)
        await ws.subscribe("c", QUIET)
        refused = await ws.receive()
        assert refused["type"] == "error" and refused["id"] == "c"
        payload = refused["payload"][0] if isinstance(refused["payload"], list) else refused["payload"]
        assert payload["extensions"]["code"] == "RATE_LIMITED"
        assert "runs 2 operations already (WS_MAX_OPERATIONS_PER_CONNECTION)" in payload["message"]
        await ws.complete("a")
        await ws.subscribe("d", WATCH)  # one finished: a new one may run
        message = await ws.receive()
        while message.get("id") != "d":  # legacy graphql-ws confirms the stop of "a" first
            assert (message["type"], message["id"]) == ("complete", "a"), message
            message = await ws.receive()
        assert message["type"] in ("next", "data") and "errors" not in message["payload"], message


async def test_a_client_sending_too_many_messages_is_closed_with_1008(seeded: Settings) -> None:
    """The server's clock stands still here, so the five messages a second are five in all: no timing."""
    async with serve_in_loop(replace(seeded, ws_max_messages_per_second=5), clock=FakeClock(NOW)) as server:
        async with GraphQLSocket.open(server.ws_url) as ws:  # connection_init was the first message
            for _ in range(4):
                await ws.send({"type": "ping"})
            assert (await ws.receive(skip_keep_alive=False))["type"] == "pong"
            await ws.send({"type": "ping"})
            code, reason = await ws.closed()
            assert code == 1008 and reason is not None and "WS_MAX_MESSAGES_PER_SECOND" in reason

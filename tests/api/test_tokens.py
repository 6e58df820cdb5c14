"""Tokens over real HTTP and WebSockets (uvicorn in the test's loop, on the server's clock seam): their
lifecycle through GraphQL, expiry on the server's clock, revocation (also by the CLI in another process) closing
open sockets, WebSocket authentication in both protocols, roles per operation over a socket, the per-token rate
limit and its counts in /metrics."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from t3000gql.auth import Role
from t3000gql.config import Settings
from tests.api.conftest import NOW, bearer, issue_token
from tests.api.liveserver import InLoopServer, serve_in_loop
from tests.api.wsclient import LEGACY_WS, TRANSPORT_WS, GraphQLSocket
from tests.conftest import FakeClock
from tests.live.helpers import wait_until

DAY = 86400
WATCH = "subscription { pointValues(deviceId: 1001) { pointType pointNumber value } }"


@pytest.fixture
def secure(seeded: Settings) -> Settings:
    return replace(seeded, auth_required="true", auth_token_refresh_seconds=0.05)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def root(secure: Settings) -> str:
    """An admin's token, made before the server starts (it refuses to start without one)."""
    return issue_token(secure, "root", Role.ADMIN)


@pytest.fixture
async def server(
    root: str, secure: Settings, clock: FakeClock, request: pytest.FixtureRequest
) -> AsyncIterator[InLoopServer]:
    marker = request.node.get_closest_marker("settings")
    settings = replace(secure, **(marker.kwargs if marker else {}))
    async with serve_in_loop(settings, clock=clock) as running:
        yield running


async def graphql(server: InLoopServer, query: str, token: str | None = None, **variables: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        return await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=bearer(token) if token else {}
        )


def errors_of(answer: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in answer.json().get("errors", [])]


async def test_a_token_made_revoked_and_listed_through_graphql(secure: Settings, clock: FakeClock) -> None:
    admin = await issued(secure, "root", Role.ADMIN)
    async with serve_in_loop(secure, clock=clock) as server:
        made = await graphql(
            server,
            'mutation { createApiToken(name: "panel", role: OPERATOR, expiresInDays: 30) '
            "{ token apiToken { name role createdBy expiresAt } } }",
            admin,
        )
        created = made.json()["data"]["createApiToken"]
        token = created["token"]
        assert token.startswith("t3k_") and len(token) == 4 + 43  # 256 random bits, URL-safe base64
        assert created["apiToken"] == {
            "name": "panel",
            "role": "OPERATOR",
            "createdBy": "root",
            "expiresAt": "2025-02-01T00:00:30.000+00:00",
        }
        me = await graphql(server, "{ me { name role expiresAt } }", token)
        assert me.json()["data"]["me"]["role"] == "OPERATOR"
        listed = await graphql(server, "{ apiTokens { name role revokedAt } }", admin)
        assert token not in listed.text and {t["name"] for t in listed.json()["data"]["apiTokens"]} == {
            "root",
            "panel",
        }
        again = await graphql(server, 'mutation { createApiToken(name: "panel", role: VIEWER) { token } }', admin)
        assert errors_of(again) == ["BAD_USER_INPUT"] and "exists already" in again.text

        revoked = await graphql(server, 'mutation { revokeApiToken(name: "panel") { name revokedAt } }', admin)
        assert revoked.json()["data"]["revokeApiToken"]["revokedAt"] == "2025-01-02T00:00:30.000+00:00"
        refused = await graphql(server, "{ me { name } }", token)
        assert refused.status_code == 401 and "unknown, or revoked" in refused.text
        history = await graphql(
            server,
            "{ apiTokens(includeRevoked: true) { name revokedAt } auditLog { entries { user operation detail } } }",
            admin,
        )
        data = history.json()["data"]
        assert [t["name"] for t in data["apiTokens"] if t["revokedAt"]] == ["panel"]
        entries = [(e["user"], e["operation"], e["detail"].get("name")) for e in data["auditLog"]["entries"]]
        assert entries[:2] == [("root", "revoke_token", "panel"), ("root", "create_token", "panel")]


async def test_an_expired_token_is_refused_and_its_socket_closed_on_the_servers_clock(
    server: InLoopServer, secure: Settings, clock: FakeClock
) -> None:
    """Expiry is measured on the server's clock: moving it by hand expires the token, no sleeping."""
    token = await issued(secure, "temp", Role.VIEWER, expires_days=1)
    # (issued after the server started: it reads tokens made by another process within the refresh interval)
    await wait_until_accepted(server, token)
    async with GraphQLSocket.open(server.ws_url, payload={"authorization": f"Bearer {token}"}) as socket:
        await socket.subscribe("w", WATCH)
        await socket.next_data("w")
        clock.advance(DAY - 1)
        assert (await graphql(server, "{ me { name } }", token)).status_code == 200
        clock.advance(2)
        refused = await graphql(server, "{ me { name } }", token)
        assert refused.status_code == 401 and "the token 'temp' expired at 2025-01-03T00:00:30" in refused.text
        code, reason = await socket.closed()
        assert code == 4401 and reason is not None and "expired" in reason


async def wait_until_accepted(server: InLoopServer, token: str) -> None:
    """A token made by another process is taken within AUTH_TOKEN_REFRESH_SECONDS (0.05 s here)."""
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        for _ in range(500):
            answer = await http.post("/graphql", json={"query": "{ me { name } }"}, headers=bearer(token))
            if answer.status_code == 200:
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the server never took the token")


async def issued(settings: Settings, name: str, role: Role, **options: Any) -> str:
    """`issue_token` from a thread of its own (it runs its own event loop), as another process would."""
    return await asyncio.to_thread(issue_token, settings, name, role, **options)


async def test_a_token_revoked_by_the_cli_in_another_process_is_refused_and_its_sockets_closed(
    server: InLoopServer, secure: Settings
) -> None:
    token = await issued(secure, "wall-display", Role.VIEWER)
    await wait_until_accepted(server, token)
    async with (
        GraphQLSocket.open(server.ws_url, payload={"authorization": f"Bearer {token}"}) as modern,
        GraphQLSocket.open(server.ws_url, LEGACY_WS, payload={"authorization": f"Bearer {token}"}) as legacy,
    ):
        await modern.subscribe("w", WATCH)
        await modern.next_data("w")
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "t3000gql", "token", "revoke", "wall-display"],
            env={**os.environ, "DATABASE_URL": secure.database_url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "revoked token 'wall-display' (viewer)" in done.stdout
        code, reason = await modern.closed()
        assert code == 4401 and reason is not None and "revoked" in reason
        message = await legacy.receive()
        assert message["type"] == "connection_error" and "revoked" in message["payload"]["message"]
        assert (await legacy.closed())[0] == 4401
    assert (await graphql(server, "{ me { name } }", token)).status_code == 401


async def test_a_token_revoked_through_graphql_closes_its_sockets_at_once(
    secure: Settings, clock: FakeClock
) -> None:
    admin = await issued(secure, "root", Role.ADMIN)
    viewer = await issued(secure, "screen", Role.VIEWER)
    async with serve_in_loop(replace(secure, auth_token_refresh_seconds=3600), clock=clock) as server:
        async with GraphQLSocket.open(
            server.ws_url, additional_headers=bearer(viewer)
        ) as socket:  # upgrade header
            await socket.subscribe("w", WATCH)
            await socket.next_data("w")
            assert server.services.auth.watched == 1
            await graphql(server, 'mutation { revokeApiToken(name: "screen") { name } }', admin)
            code, _ = await socket.closed()  # no refresh interval to wait for: the revoking server knows
            assert code == 4401
        await wait_until(lambda: server.services.auth.watched == 0, "the closed socket unwatched")


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_websocket_without_a_valid_token_is_closed_with_4401(
    server: InLoopServer, secure: Settings, protocol: str
) -> None:
    for payload in ({}, {"authorization": "Bearer t3k_nonsense"}, {"authorization": "Token abc"}):
        async with GraphQLSocket.open(server.ws_url, protocol, init=False) as socket:
            await socket.send({"type": "connection_init", "payload": payload})
            if protocol == LEGACY_WS:
                assert (await socket.receive())["type"] == "connection_error"
            code, reason = await socket.closed()
            assert code == 4401 and reason is not None and reason.startswith("Unauthorized: "), (payload, reason)


async def test_a_bad_token_on_a_websocket_is_refused_also_when_none_is_required(seeded: Settings) -> None:
    async with serve_in_loop(seeded, clock=FakeClock(NOW)) as server:
        async with GraphQLSocket.open(server.ws_url, payload={}) as anonymous:
            await anonymous.subscribe("w", WATCH)
            assert set((await anonymous.next_data("w"))["pointValues"]) == {"pointType", "pointNumber", "value"}
        async with GraphQLSocket.open(server.ws_url, init=False) as socket:
            await socket.send({"type": "connection_init", "payload": {"authorization": "Bearer t3k_x"}})
            assert (await socket.closed())[0] == 4401


async def test_roles_apply_to_each_operation_over_a_socket(server: InLoopServer, secure: Settings) -> None:
    """graphql-transport-ws runs mutations too (legacy graphql-ws runs subscriptions only, which every role may)."""
    viewer = await issued(secure, "watcher", Role.VIEWER)
    operator = await issued(secure, "engineer", Role.OPERATOR)
    await wait_until_accepted(server, operator)
    write = "mutation { writePointValue(deviceId: 1001, pointType: OUTPUT, pointNumber: 1, value: 0) { value } }"
    for token, allowed in ((viewer, False), (operator, True)):
        async with GraphQLSocket.open(server.ws_url, payload={"authorization": f"Bearer {token}"}) as ws:
            await ws.subscribe("m", write)
            message = await ws.receive()
            assert message["type"] == "next"
            payload = message["payload"]
            if allowed:
                assert payload == {"data": {"writePointValue": {"value": 0.0}}}
            else:
                assert payload["data"] == {"writePointValue": None}
                assert [e["extensions"]["code"] for e in payload["errors"]] == ["FORBIDDEN"]


@pytest.mark.settings(api_rate_limit_per_minute=3)
async def test_a_token_past_its_rate_limit_gets_429_and_metrics_count_by_role(
    server: InLoopServer, secure: Settings, clock: FakeClock
) -> None:
    viewer = await issued(secure, "busy", Role.VIEWER)
    admin = await issued(secure, "ops", Role.ADMIN)
    await wait_until_accepted(server, admin)  # its own requests count too: only the viewer's are checked here
    answers = [await graphql(server, "{ me { name } }", viewer) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].headers["retry-after"] == "20"
    [error] = answers[3].json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED"}
    assert (
        "token 'busy' (viewer) sent more than 3 requests a minute (API_RATE_LIMIT_PER_MINUTE)" in error["message"]
    )
    clock.advance(20)  # a third of a minute: one request's worth again
    assert (await graphql(server, "{ me { name } }", viewer)).status_code == 200
    async with GraphQLSocket.open(server.ws_url, payload={"authorization": f"Bearer {viewer}"}) as socket:
        await socket.subscribe("w", WATCH)  # the bucket is empty: a WebSocket operation counts too
        refused = await socket.receive()
        assert refused["type"] == "error" and refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        metrics = (await http.get("/metrics", headers=bearer(admin))).text
    assert 't3000gql_rate_limited_total{role="viewer"} 2' in metrics
    assert 't3000gql_admitted_total{role="viewer"} 4' in metrics
    assert 't3000gql_rate_limited_total{role="admin"} 0' in metrics


async def test_when_tokens_were_last_used_is_recorded_in_batches(secure: Settings) -> None:
    token = await issued(secure, "probe", Role.VIEWER)
    async with serve_in_loop(secure, clock=FakeClock(NOW + 5000)) as server:
        assert (await graphql(server, "{ me { name } }", token)).status_code == 200
        assert (await server.services.store.tokens.list())[0].last_used_at is None  # not a write per request
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "t3000gql", "token", "list"],
        env={**os.environ, "DATABASE_URL": secure.database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split() == ["name", "role", "created", "last", "used", "expires"]
    assert row.split() == ["probe", "viewer", "2025-01-02T00:00:30+00:00", "2025-01-02T00:00:35+00:00", "never"]

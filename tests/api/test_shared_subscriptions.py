"""Subscriptions that share work (api/shared_subscriptions.py), over real WebSockets to a real uvicorn: the
shared messages are the unshared ones (but for the id), a late subscriber gets its own current values and then
the shared changes without a repeat, roles never share, complete leaves the group, and a stalled subscriber of
a group delays none of the others."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from t3000gql.api.shared_subscriptions import SharedSubscriptions
from t3000gql.auth import Role
from t3000gql.config import Settings
from tests.api.conftest import issue_token
from tests.api.liveserver import InLoopServer, serve_in_loop
from tests.api.test_subscriptions import (
    A1,
    A2,
    B1,
    BY_FILTER,
    DEVICE_STATUS,
    T0,
    iso,
    record,
    seed,
    value,
    view_of,
)
from tests.api.wsclient import GraphQLSocket
from tests.live.helpers import wait_until

ALIASED = (
    "subscription Watch($deviceId: Int) { now: pointValues(deviceId: $deviceId, includeInitial: true) "
    "{ __typename deviceId kind: pointType pointNumber value timestamp source } }"
)


@pytest.fixture
def site_settings(database_url: str) -> Settings:
    return Settings.defaults(database_url=database_url, partition_cleanup_enabled=False)


@pytest.fixture
async def server(site_settings: Settings) -> AsyncIterator[InLoopServer]:
    async with serve_in_loop(site_settings) as running:
        await seed(running.services.store)
        yield running


def hub_of(server: InLoopServer) -> SharedSubscriptions:
    return view_of(server).shared_subscriptions


def members(server: InLoopServer) -> list[int]:
    return sorted(len(group.members) for group in hub_of(server).groups.values())


async def messages(ws: GraphQLSocket, count: int) -> list[dict[str, Any]]:
    return [await ws.receive() for _ in range(count)]


def without_id(received: list[dict[str, Any]], operation_id: str) -> list[dict[str, Any]]:
    assert all(message["id"] == operation_id for message in received), received
    return [{k: v for k, v in message.items() if k != "id"} for message in received]


async def test_shared_messages_are_the_unshared_ones_but_for_the_id(server: InLoopServer) -> None:
    await record(server, "collector", (A1, T0, 1.0), (A2, T0, 2.0))
    hub = hub_of(server)
    variables = {"deviceId": 1}
    async with GraphQLSocket.open(server.ws_url) as one, GraphQLSocket.open(server.ws_url) as other:
        await one.subscribe("a", ALIASED, variables)
        await other.subscribe("b-2", ALIASED, variables)
        await wait_until(lambda: members(server) == [2], "the two shareable ones in one group")
        hub.enabled = False  # the next one runs as strawberry runs it, alone
        await other.subscribe("unshared", ALIASED, variables)
        initial = {"a": await messages(one, 2)}
        on_other = await messages(other, 4)
        hub.enabled = True  # both of `other` have started
        for name in ("b-2", "unshared"):
            initial[name] = [m for m in on_other if m["id"] == name]
        assert members(server) == [2], "the unshared one joined the group: the test proves nothing"
        await record(server, "collector", (A1, T0 + 1, 1.5), (B1, T0 + 1, 9.0), (A2, T0 + 1, 2.5))
        await record(server, "api", (A2, T0 + 2, -0.25))
        changes = {"a": await messages(one, 3)}
        both = await messages(other, 6)
        changes["b-2"] = [m for m in both if m["id"] == "b-2"]
        changes["unshared"] = [m for m in both if m["id"] == "unshared"]
    expected = [
        {"now": {"__typename": "LivePointValue", **value(point, ts, number, source)}}
        for point, ts, number, source in (
            (A2, T0, 2.0, "collector"),  # current values by point type (OUTPUT first), then number
            (A1, T0, 1.0, "collector"),
            (A1, T0 + 1, 1.5, "collector"),
            (A2, T0 + 1, 2.5, "collector"),
            (A2, T0 + 2, -0.25, "api"),
        )
    ]
    for expected_row in expected:
        expected_row["now"]["kind"] = expected_row["now"].pop("pointType")
    unshared = without_id(initial["unshared"] + changes["unshared"], "unshared")
    assert [m["payload"]["data"] for m in unshared] == expected
    assert without_id(initial["a"] + changes["a"], "a") == unshared
    assert without_id(initial["b-2"] + changes["b-2"], "b-2") == unshared


async def test_a_late_subscriber_gets_its_own_current_values_then_the_shared_changes_once(
    server: InLoopServer,
) -> None:
    query, variables = BY_FILTER, {"points": [{"deviceId": 1, "pointType": "INPUT", "pointNumber": 1}]}
    await record(server, "collector", (A1, T0, 1.0))
    async with GraphQLSocket.open(server.ws_url) as early, GraphQLSocket.open(server.ws_url) as late:
        await early.subscribe("e", query, variables)
        assert await early.next_data("e") == {"pointValues": value(A1, T0, 1.0, "collector")}
        await record(server, "collector", (A1, T0 + 1, 2.0))
        assert await early.next_data("e") == {"pointValues": value(A1, T0 + 1, 2.0, "collector")}
        await late.subscribe("l", query, variables)
        assert await late.next_data("l") == {"pointValues": value(A1, T0 + 1, 2.0, "collector")}
        assert members(server) == [2]
        await record(server, "collector", (A1, T0 + 2, 3.0))
        for ws, name in ((early, "e"), (late, "l")):
            assert await ws.next_data(name) == {"pointValues": value(A1, T0 + 2, 3.0, "collector")}


async def test_a_change_committed_while_joining_comes_once(server: InLoopServer) -> None:
    query, variables = BY_FILTER, {"deviceId": 1}
    async with GraphQLSocket.open(server.ws_url) as early, GraphQLSocket.open(server.ws_url) as late:
        await early.subscribe("e", query, variables)
        await wait_until(lambda: members(server) == [1], "the group")
        for step in range(1, 21):  # changes in flight through the group while the late one joins
            await record(server, "collector", (A1, T0 + step, float(step)))
            if step == 10:
                await late.subscribe("l", query, variables)
        stamps = [iso(T0 + step) for step in range(21)]
        seen: list[int] = []
        while not seen or seen[-1] != 20:
            seen.append(stamps.index((await late.next_data("l"))["pointValues"]["timestamp"]))
        assert seen[0] >= 10 and seen == list(range(seen[0], 21)), "a gap or a repeat"


@pytest.fixture
def secrets(site_settings: Settings) -> dict[str, str]:
    """Two viewer tokens and an admin token in the database the server opens."""
    return {
        "viewer-1": issue_token(site_settings, "viewer-1", Role.VIEWER),
        "viewer-2": issue_token(site_settings, "viewer-2", Role.VIEWER),
        "admin": issue_token(site_settings, "admin", Role.ADMIN),
    }


async def test_only_the_same_role_shares(site_settings: Settings, secrets: dict[str, str]) -> None:
    async with serve_in_loop(replace(site_settings, auth_required=True)) as server:
        await seed(server.services.store)
        sockets = {
            name: GraphQLSocket.open(server.ws_url, payload={"authorization": f"Bearer {secret}"})
            for name, secret in secrets.items()
        }
        async with sockets["viewer-1"] as v1, sockets["viewer-2"] as v2, sockets["admin"] as admin:
            for ws in (v1, v2, admin):
                await ws.subscribe("1", DEVICE_STATUS)
            await wait_until(lambda: members(server) == [1, 2], "a group per role")
            server.services.live.publish_device_status(1, False, T0)
            for ws in (v1, v2, admin):
                assert await ws.next_data("1") == {
                    "deviceStatus": {"deviceId": 1, "online": False, "timestamp": iso(T0)}
                }


async def test_complete_leaves_the_group_and_the_last_one_frees_it(server: InLoopServer) -> None:
    live = server.services.live
    async with GraphQLSocket.open(server.ws_url) as ws:
        await ws.subscribe("1", BY_FILTER, {"initial": False})
        await ws.subscribe("2", BY_FILTER, {"initial": False})
        await wait_until(lambda: members(server) == [2], "two members")
        assert live.metrics().subscribers == 1, "one bus subscriber for the group"
        await ws.complete("1")
        await wait_until(lambda: members(server) == [1], "one member left")
        await record(server, "collector", (A1, T0, 1.0))
        assert await ws.next_data("2") == {"pointValues": value(A1, T0, 1.0, "collector")}
        await ws.complete("2")
        await wait_until(lambda: live.metrics().subscribers == 0 and not hub_of(server).groups, "nothing left")


async def test_a_stalled_member_does_not_delay_the_others(site_settings: Settings) -> None:
    async with serve_in_loop(replace(site_settings, live_queue_size=20), send_buffer=8192) as server:
        await seed(server.services.store)
        hub = hub_of(server)
        stalled_sock = socket.socket()
        stalled_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled_sock.connect(("127.0.0.1", server.port))
        async with (
            GraphQLSocket.open(
                server.ws_url, sock=stalled_sock, max_queue=1, compression=None, close_timeout=0.1
            ) as stalled,
            GraphQLSocket.open(server.ws_url) as healthy,
        ):
            await stalled.subscribe("s", BY_FILTER, {"initial": False})
            await healthy.subscribe("h", BY_FILTER, {"initial": False})
            await wait_until(lambda: members(server) == [2], "both in one group")
            received: list[dict[str, Any]] = []
            ts = T0
            rounds_after_overflow = 50
            for _ in range(5000):  # at most; ends 50 rounds after the stalled member's queue coalesced
                ts += 1
                await record(server, "collector", (A1, ts, 1.0), (A2, ts, 2.0), (B1, ts, 3.0))
                received += [(await healthy.next_data("h"))["pointValues"] for _ in range(3)]
                if hub.counters.coalesced:
                    rounds_after_overflow -= 1
                    if not rounds_after_overflow:
                        break
            assert hub.counters.coalesced > 0, "the stalled member never fell behind: the test proves nothing"
            (group,) = hub.groups.values()
            assert sum(1 for member in group.members if member.overflowing) == 1
            assert [(v["pointNumber"], v["timestamp"]) for v in received] == [
                (p.point_number, iso(t)) for t in range(T0 + 1, ts + 1) for p in (A1, A2, B1)
            ]

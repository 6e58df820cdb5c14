"""GraphQL subscriptions over a real WebSocket to a real uvicorn (127.0.0.1, port 0) in the test's loop.

pointValues sends the current values first, then every change, whichever route wrote it (storeTimeSeries,
updateDeviceData, the write path as the collector uses it); deviceStatus sends reachability changes.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from t3000gql.api.view import GraphQLView
from t3000gql.config import Settings
from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.domain.timeutil import to_datetime
from t3000gql.errors import DeviceTimeout
from t3000gql.storage.store import Store
from tests.api.liveserver import InLoopServer, serve_in_loop
from tests.api.serve_process import server_process
from tests.api.wsclient import LEGACY_WS, GraphQLSocket
from tests.live.helpers import wait_until

T0 = 1_790_000_000_000
A1 = PointRef(1, PointType.INPUT, 1)
A2 = PointRef(1, PointType.OUTPUT, 2)
B1 = PointRef(2, PointType.VARIABLE, 1)
FIELDS = "deviceId pointType pointNumber value timestamp source"
ALL_POINTS = f"subscription {{ pointValues {{ {FIELDS} }} }}"
BY_FILTER = (
    "subscription ($deviceId: Int, $points: [PointRefInput!], $initial: Boolean! = true) "
    f"{{ pointValues(deviceId: $deviceId, points: $points, includeInitial: $initial) {{ {FIELDS} }} }}"
)
DEVICE_STATUS = "subscription ($deviceId: Int) { deviceStatus(deviceId: $deviceId) { deviceId online timestamp } }"


def iso(ts_ms: int) -> str:
    return to_datetime(ts_ms).isoformat(timespec="milliseconds")


def value(point: PointRef, ts_ms: int, number: float, source: str) -> dict[str, Any]:
    return {
        "deviceId": point.device_id,
        "pointType": point.point_type.name,
        "pointNumber": point.point_number,
        "value": number,
        "timestamp": iso(ts_ms),
        "source": source.upper(),
    }


def point_input(point: PointRef) -> dict[str, Any]:
    return {"deviceId": point.device_id, "pointType": point.point_type.name, "pointNumber": point.point_number}


async def seed(store: Store) -> None:
    for device_id in (1, 2):
        await store.devices.upsert(DeviceInput(device_id, device_name=f"D{device_id}", device_type="T3-BB"))
    await store.points.upsert(1, [PointInput(PointType.INPUT, 1), PointInput(PointType.OUTPUT, 2)])
    await store.points.upsert(2, [PointInput(PointType.VARIABLE, 1)])


@pytest.fixture
def site_settings(database_url: str) -> Settings:
    return Settings.defaults(database_url=database_url, partition_cleanup_enabled=False)


@pytest.fixture
async def server(site_settings: Settings) -> AsyncIterator[InLoopServer]:
    async with serve_in_loop(site_settings) as running:
        await seed(running.services.store)
        yield running


async def record(server: InLoopServer, source: str, *samples: tuple[PointRef, int, float]) -> None:
    await server.services.store.writes.record([Sample(p, ts, v) for p, ts, v in samples], source)


async def post(server: InLoopServer, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


def view_of(server: InLoopServer) -> GraphQLView:
    for route in server.app.routes:
        endpoint = getattr(route, "app", None)
        if isinstance(endpoint, GraphQLView):
            return endpoint
    raise AssertionError("no GraphQLView mounted")


async def subscribers(server: InLoopServer) -> int:
    return server.services.live.metrics().subscribers


# -- values ---------------------------------------------------------------------------------------------------------


async def test_current_values_first_then_changes_from_every_write_route(server: InLoopServer) -> None:
    await record(server, "collector", (A1, T0, 1.0), (B1, T0, 3.0))
    async with GraphQLSocket.open(server.ws_url) as ws:
        await ws.subscribe("all", ALL_POINTS)
        assert [await ws.next_data("all") for _ in range(2)] == [
            {"pointValues": value(A1, T0, 1.0, "collector")},
            {"pointValues": value(B1, T0, 3.0, "collector")},
        ]
        await post(
            server,
            "mutation ($s: [TimeSeriesSampleInput!]!) { storeTimeSeries(samples: $s) { inserted } }",
            {"s": [{**point_input(A2), "value": 5.5, "timestamp": iso(T0 + 1000)}]},
        )
        assert await ws.next_data("all") == {"pointValues": value(A2, T0 + 1000, 5.5, "api")}
        await post(
            server,
            "mutation ($v: [PointValueInput!]!) { updateDeviceData(deviceId: 2, values: $v) { updated inserted } }",
            {"v": [{"pointType": "VARIABLE", "pointNumber": 1, "value": 4.0, "timestamp": iso(T0 + 2000)}]},
        )
        assert await ws.next_data("all") == {"pointValues": value(B1, T0 + 2000, 4.0, "api")}
        await record(server, "collector", (A1, T0 + 3000, 1.5))
        assert await ws.next_data("all") == {"pointValues": value(A1, T0 + 3000, 1.5, "collector")}


async def test_a_write_committed_just_before_subscribing_comes_once(server: InLoopServer) -> None:
    async with GraphQLSocket.open(server.ws_url) as ws:
        await record(server, "collector", (A1, T0, 1.0))  # committed; its publication may still be on its way
        await ws.subscribe("a", BY_FILTER, {"points": [point_input(A1)]})
        assert await ws.next_data("a") == {"pointValues": value(A1, T0, 1.0, "collector")}
        await record(server, "collector", (A1, T0 + 1, 2.0))
        assert await ws.next_data("a") == {"pointValues": value(A1, T0 + 1, 2.0, "collector")}


async def test_filters_by_device_and_by_points(server: InLoopServer) -> None:
    async with (
        GraphQLSocket.open(server.ws_url) as by_device,
        GraphQLSocket.open(server.ws_url) as by_points,
        GraphQLSocket.open(server.ws_url) as point_of_device,
    ):
        await by_device.subscribe("d", BY_FILTER, {"deviceId": 1, "initial": False})
        await by_points.subscribe("p", BY_FILTER, {"points": [point_input(A2), point_input(B1)], "initial": False})
        await point_of_device.subscribe(
            "pd", BY_FILTER, {"deviceId": 2, "points": [point_input(A1), point_input(B1)], "initial": False}
        )
        await wait_until(lambda: server.services.live.metrics().subscribers == 3, "three subscriptions")
        await record(server, "collector", (A1, T0, 1.0), (A2, T0, 2.0), (B1, T0, 3.0))
        await record(server, "manual", (A1, T0 + 1, 0.0), (A2, T0 + 1, 0.0), (B1, T0 + 1, 0.0))
        assert [await by_device.next_data("d") for _ in range(3)] == [
            {"pointValues": value(A1, T0, 1.0, "collector")},
            {"pointValues": value(A2, T0, 2.0, "collector")},
            {"pointValues": value(A1, T0 + 1, 0.0, "manual")},
        ]
        assert [await by_points.next_data("p") for _ in range(3)] == [
            {"pointValues": value(A2, T0, 2.0, "collector")},
            {"pointValues": value(B1, T0, 3.0, "collector")},
            {"pointValues": value(A2, T0 + 1, 0.0, "manual")},
        ]
        assert [await point_of_device.next_data("pd") for _ in range(2)] == [
            {"pointValues": value(B1, T0, 3.0, "collector")},
            {"pointValues": value(B1, T0 + 1, 0.0, "manual")},
        ]


async def test_unknown_device_or_point_is_not_found(server: InLoopServer) -> None:
    async with GraphQLSocket.open(server.ws_url) as ws:
        await ws.subscribe("d", BY_FILTER, {"deviceId": 99})
        message = await ws.receive()
        assert message["type"] == "next" and message["payload"]["data"] is None
        assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert (await ws.receive()) == {"id": "d", "type": "complete"}
        await ws.subscribe("p", BY_FILTER, {"points": [point_input(PointRef(1, PointType.INPUT, 64))]})
        message = await ws.receive()
        assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_device_status_changes_as_the_collector_records_them(server: InLoopServer) -> None:
    health, live = server.services.collection.health, server.services.live
    async with GraphQLSocket.open(server.ws_url) as ws:
        await ws.subscribe("s", DEVICE_STATUS, {"deviceId": 2})
        await wait_until(lambda: live.metrics().subscribers == 1, "the subscription")
        await health.failed(1, DeviceTimeout("no answer"))  # another device
        await health.succeeded(2)  # first seen: online
        await health.succeeded(2)  # still online: no change, nothing sent
        await health.failed(2, DeviceTimeout("no answer"))
        received = [(await ws.next_data("s"))["deviceStatus"] for _ in range(2)]
    assert [(r["deviceId"], r["online"]) for r in received] == [(2, True), (2, False)]
    assert all(r["timestamp"].endswith("+00:00") for r in received)


# -- protocol -------------------------------------------------------------------------------------------------------


async def test_complete_ends_the_subscription_and_frees_it(server: InLoopServer) -> None:
    live = server.services.live
    async with GraphQLSocket.open(server.ws_url) as ws:
        await ws.subscribe("1", ALL_POINTS)
        await ws.subscribe("2", DEVICE_STATUS)
        await wait_until(lambda: live.metrics().subscribers == 2, "two subscriptions")
        await ws.complete("1")
        await wait_until(lambda: live.metrics().subscribers == 1, "one subscription left")
    await wait_until(lambda: live.metrics().subscribers == 0, "nothing left once the socket closed")


async def test_the_legacy_graphql_ws_protocol(server: InLoopServer) -> None:
    await record(server, "collector", (A1, T0, 1.0))
    async with GraphQLSocket.open(server.ws_url, LEGACY_WS) as ws:
        await ws.subscribe("1", BY_FILTER, {"deviceId": 1})
        assert await ws.next_data("1") == {"pointValues": value(A1, T0, 1.0, "collector")}
        await record(server, "collector", (A2, T0, 2.0))
        assert await ws.next_data("1") == {"pointValues": value(A2, T0, 2.0, "collector")}
        await ws.complete("1")  # "stop"
        assert await ws.receive() == {"type": "complete", "id": "1"}
        await wait_until(lambda: server.services.live.metrics().subscribers == 0, "the subscription freed")


async def test_keep_alive_for_both_protocols(server: InLoopServer) -> None:
    view_of(server).keep_alive_interval = 0.05
    async with GraphQLSocket.open(server.ws_url) as ws:
        assert await ws.receive(skip_keep_alive=False) == {"type": "ping"}
        await ws.send({"type": "pong"})
        assert await ws.receive(skip_keep_alive=False) == {"type": "ping"}
    async with GraphQLSocket.open(server.ws_url, LEGACY_WS) as legacy:
        assert await legacy.receive(skip_keep_alive=False) == {"type": "ka"}


async def test_the_server_answers_a_client_ping(server: InLoopServer) -> None:
    async with GraphQLSocket.open(server.ws_url) as ws:
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}


async def test_connection_init_must_come_in_time(server: InLoopServer) -> None:
    view_of(server).connection_init_wait_timeout = timedelta(milliseconds=50)
    async with GraphQLSocket.open(server.ws_url, init=False) as ws:
        assert await ws.closed() == (4408, "Connection initialisation timeout")


SUBSCRIBE = {"id": "1", "type": "subscribe", "payload": {"query": ALL_POINTS}}


@pytest.mark.parametrize(
    ("messages", "code", "reason"),
    [
        (["{not json"], 4400, "WebSocket message must be valid JSON"),
        (["[]"], 4400, "a message must be a JSON object"),
        ([{"type": 5}], 4400, "a message needs a string `type`"),
        ([{"type": "bogus"}], 4400, "Unknown message type: bogus"),
        ([SUBSCRIBE], 4401, "Unauthorized"),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429, "Too many initialisation requests"),
        ([{"type": "connection_init"}, SUBSCRIBE, SUBSCRIBE], 4409, "Subscriber for 1 already exists"),
        (
            [{"type": "connection_init"}, {"id": "1", "type": "subscribe", "payload": "x"}],
            4400,
            "a subscribe message needs an object `payload`",
        ),
        (
            [{"type": "connection_init"}, {"id": 1, "type": "subscribe", "payload": {"query": ALL_POINTS}}],
            4400,
            "a subscribe message needs a string `id`",
        ),
        (
            [{"type": "connection_init"}, {"id": "1", "type": "subscribe", "payload": {"query": 5}}],
            4400,
            "`payload.query` must be a string",
        ),
        ([{"type": "connection_init"}, {"type": "complete"}], 4400, "a complete message needs a string `id`"),
    ],
)
async def test_a_malformed_graphql_transport_ws_message_closes_with_its_code(
    server: InLoopServer, messages: list[Any], code: int, reason: str
) -> None:
    async with GraphQLSocket.open(server.ws_url, init=False) as ws:
        for message in messages:
            await ws.send(message)
        assert await ws.closed() == (code, reason)
    await assert_still_serving(server)


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        (["[]"], "a message must be a JSON object"),
        ([{"id": "1"}], "a message needs a string `type`"),
        ([{"type": "connection_init"}, {"id": "1", "type": "start"}], "a start message needs an object `payload`"),
        ([{"type": "connection_init"}, {"type": "stop"}], "a stop message needs a string `id`"),
    ],
)
async def test_a_malformed_legacy_message_is_answered_and_closes_with_1002(
    server: InLoopServer, messages: list[Any], reason: str
) -> None:
    async with GraphQLSocket.open(server.ws_url, LEGACY_WS, init=False) as ws:
        for message in messages:
            await ws.send(message)
        received = []
        with contextlib.suppress(Exception):
            while True:
                received.append(await ws.receive())
        assert {"type": "connection_error", "payload": {"message": reason}} in received
        assert await ws.closed() == (1002, reason)
    await assert_still_serving(server)


async def test_a_client_without_a_subprotocol_is_refused_with_4406(server: InLoopServer) -> None:
    from websockets.asyncio.client import connect

    async with connect(server.ws_url, proxy=None) as raw:
        socket_ = GraphQLSocket(raw)
        assert await socket_.closed() == (4406, "Subprotocol not acceptable")
    await assert_still_serving(server)


async def assert_still_serving(server: InLoopServer) -> None:
    async with GraphQLSocket.open(server.ws_url) as ws:
        await ws.subscribe("ok", BY_FILTER, {"points": [point_input(B1)], "initial": False})
        await wait_until(lambda: server.services.live.metrics().subscribers >= 1, "a subscription")
        await record(server, "manual", (B1, T0 + 99_000, 9.0))
        assert await ws.next_data("ok") == {"pointValues": value(B1, T0 + 99_000, 9.0, "manual")}


# -- slow clients ---------------------------------------------------------------------------------------------------


async def test_a_stalled_client_does_not_delay_a_healthy_one(site_settings: Settings) -> None:
    """Unshared subscriptions (each its own bus subscriber); tests/api/test_shared_subscriptions.py has the
    shared path's own."""
    settings = replace(site_settings, live_queue_size=20, live_shared_subscriptions=False)
    async with serve_in_loop(settings, send_buffer=8192) as server:
        await seed(server.services.store)
        live = server.services.live
        # The stalled client reads nothing and offers a tiny receive window, so the server's sends to it block.
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
            await wait_until(lambda: live.metrics().subscribers == 2, "both subscriptions")
            received: list[dict[str, Any]] = []
            ts = T0
            rounds_after_overflow = 50
            for _ in range(5000):  # at most; ends 50 rounds after the stalled client's queue overflowed
                ts += 1
                await record(server, "collector", (A1, ts, 1.0), (A2, ts, 2.0), (B1, ts, 3.0))
                received += [(await healthy.next_data("h"))["pointValues"] for _ in range(3)]
                if live.metrics().lagging:
                    rounds_after_overflow -= 1
                    if not rounds_after_overflow:
                        break
            metrics = live.metrics()
            assert metrics.lagging == 1, "the stalled client never fell behind: the test proves nothing"
            assert metrics.coalesced > 0
            # Every change reached the stalled subscription's queue: taken by the server (then stuck in TCP),
            # still waiting (at most its 20 plus the latest of each of the 3 points), or coalesced away.
            taken_for_stalled = metrics.delivered - len(received)
            waiting = metrics.received - taken_for_stalled - metrics.coalesced
            assert 0 < waiting <= 20 + 3
            # The healthy client got every change, in order, while the other one was stuck.
            assert [(v["pointNumber"], v["timestamp"]) for v in received] == [
                (p.point_number, iso(t)) for t in range(T0 + 1, ts + 1) for p in (A1, A2, B1)
            ]
            health = (await post_health(server))["live"]
            assert health["lagging"] == 1 and health["coalesced"] == metrics.coalesced


async def post_health(server: InLoopServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        body: dict[str, Any] = (await http.get("/health")).json()
    return body


# -- several processes ----------------------------------------------------------------------------------------------


async def test_two_server_processes_sharing_redis_deliver_a_write_made_on_one_to_a_subscriber_of_the_other(
    site_settings: Settings, redis_url: str
) -> None:
    store = await Store.open(site_settings)
    try:
        await seed(store)
        await store.writes.record([Sample(A1, T0, 1.0)], "collector")
    finally:
        await store.close()
    prefix = f"t3000gql-test-{uuid.uuid4().hex}"
    url = site_settings.database_url
    with server_process(url, redis_url, prefix) as port_a, server_process(url, redis_url, prefix) as port_b:
        async with GraphQLSocket.open(f"ws://127.0.0.1:{port_b}/graphql") as on_b:
            await on_b.subscribe("a1", BY_FILTER, {"points": [point_input(A1)]})
            # The current value comes first: the subscription is registered on B's bus by then.
            assert await on_b.next_data("a1") == {"pointValues": value(A1, T0, 1.0, "collector")}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_a}") as on_a:
                response = await on_a.post(
                    "/graphql",
                    json={
                        "query": "mutation ($s: [TimeSeriesSampleInput!]!) { storeTimeSeries(samples: $s) "
                        "{ inserted } }",
                        "variables": {"s": [{**point_input(A1), "value": 7.25, "timestamp": iso(T0 + 1)}]},
                    },
                )
            assert response.json() == {"data": {"storeTimeSeries": {"inserted": 1}}}
            assert await on_b.next_data("a1") == {"pointValues": value(A1, T0 + 1, 7.25, "api")}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_b}") as on_b_http:
            current = await on_b_http.post(
                "/graphql",
                json={"query": "{ point(deviceId: 1, pointType: INPUT, pointNumber: 1) { current { value } } }"},
            )
        # B's cache followed A's write through the bus.
        assert current.json() == {"data": {"point": {"current": {"value": 7.25}}}}


async def test_a_long_subscription_does_not_grow_with_its_events(server: InLoopServer) -> None:
    # graphql-core 3.3.2 keeps ~1.4 KB per event alive for the life of a subscription unless each event gets
    # its own subfield memo (t3000gql.api.execution).
    async with GraphQLSocket.open(server.ws_url) as ws:
        await ws.subscribe("a", BY_FILTER, {"points": [point_input(A1)], "initial": False})
        await wait_until(lambda: server.services.live.metrics().subscribers == 1, "the subscription")

        async def events(first: int, count: int) -> None:
            for ts in range(T0 + first, T0 + first + count):
                await record(server, "collector", (A1, ts, 1.0))
                await ws.next_data("a")

        await events(0, 200)  # warm up: first-use caches, connections
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            await events(200, 1000)
            gc.collect()
            per_event = (tracemalloc.get_traced_memory()[0] - before) / 1000
        finally:
            tracemalloc.stop()
    assert per_event < 500, f"{per_event:.0f} bytes kept per event"

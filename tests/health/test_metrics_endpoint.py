"""/metrics as prometheus-client writes it, read back with prometheus-client's own parser: the counters and
gauges of before, and health's histograms (API time by operation type, SQL time by read/write, collection time
by driver) and states. The demo site collects from its Modbus simulator, so collection time has a driver."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from t3000gql.config import Settings
from tests.api.liveserver import serve_in_loop
from tests.live.helpers import TIMEOUT


def samples(text: str) -> dict[str, list[Sample]]:
    families = text_string_to_metric_families(text)
    return {family.name: family.samples for family in families}


def count_of(found: dict[str, list[Sample]], histogram: str, **labels: str) -> float:
    return next(
        s.value
        for s in found[histogram]
        if s.name == histogram + "_count" and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_metrics_has_histograms_by_operation_kind_and_driver_and_health_states(site: Settings) -> None:
    async with (
        serve_in_loop(replace(site, health_check_interval_seconds=0.05), demo=True) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as http,
    ):
        assert (await http.post("/graphql", json={"query": "{ devices { deviceId } }"})).status_code == 200
        mutation = "mutation { updateDeviceData(deviceId: 1001, values: [{pointType: INPUT, pointNumber: 2, value: 19.5}]) { inserted } }"
        await http.post("/graphql", json={"query": mutation})
        await http.post("/graphql", json={"query": "{ nosuchfield }"})
        await http.get("/api/devices")
        await server.services.health_checks.report()
        found = samples((await http.get("/metrics")).text)
        assert count_of(found, "t3000gql_api_request_seconds", operation="query") >= 1
        assert count_of(found, "t3000gql_api_request_seconds", operation="mutation") == 1
        assert count_of(found, "t3000gql_api_request_seconds", operation="invalid") == 1
        assert count_of(found, "t3000gql_api_request_seconds", operation="rest") == 1
        assert count_of(found, "t3000gql_sql_seconds", kind="read") > 0
        assert count_of(found, "t3000gql_sql_seconds", kind="write") > 0
        states = {s.labels["metric"]: s.value for s in found["t3000gql_health_state"]}
        assert {"overall", "readiness", "cacheHitRate", "diskUsage", "apiResponseTimeAvgMs"} <= set(states)
        assert states["readiness"] == 0
        assert found["t3000gql_ready"][0].value == 1
        values = {s.labels["metric"]: s.value for s in found["t3000gql_health_value"]}
        assert values["processMemoryBytes"] > 0
        # the counters of before, same names
        plain = {s.name: s.value for family in found.values() for s in family if not s.labels}
        assert plain["t3000gql_graphql_requests_total"] >= 3
        assert plain["t3000gql_cache_points"] >= 3
        # the demo's trend logs run every 5 s: wait for one (bounded), then it shows under its driver
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3 * TIMEOUT
        while "t3000gql_collection_seconds" not in found or not found["t3000gql_collection_seconds"]:
            assert loop.time() < deadline, "no collection run of the demo site"
            await asyncio.sleep(0.2)
            found = samples((await http.get("/metrics")).text)
        assert count_of(found, "t3000gql_collection_seconds", driver="modbus") >= 1

"""healthAlerts over a real WebSocket: thresholds crossed both ways by real requests, reads and SQL, on both
databases. Settings put a threshold where a request crosses it; moving the server's clock past
HEALTH_WINDOW_SECONDS empties the window (no data: ok again)."""

from __future__ import annotations

import logging

import pytest

from t3000gql.config import Settings
from tests.health.conftest import running

FAN = "{ point(deviceId: 1001, pointType: OUTPUT, pointNumber: 1) { current { value stale } } }"
"""Written 5 s before the server's NOW: fresh, a cache hit."""
SUPPLY = "{ point(deviceId: 1001, pointType: INPUT, pointNumber: 1) { current { value stale } } }"
"""Last written at 23:45 the day before: stale, a cache miss (its device is read through the API only)."""
HISTORY = """{ point(deviceId: 1001, pointType: INPUT, pointNumber: 1) {
    history(start: "2024-12-31T00:00:00Z", end: "2025-01-02T00:00:00Z") { columns { values } } } }"""
"""A range read: SQL on a reader."""


@pytest.mark.parametrize(("warning", "critical", "state"), [(0, 1e6, "WARNING"), (0, 0, "CRITICAL")])
async def test_api_response_time_alerts_on_crossing_and_on_recovery(
    site: Settings, warning: float, critical: float, state: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="t3000gql.health.service")
    async with running(
        site, health_api_response_warning_ms=warning, health_api_response_critical_ms=critical
    ) as server:
        assert (await server.graphql(FAN))["data"]["point"]["current"]["stale"] is False
        alert = await server.next_alert("apiResponseTimeAvgMs")
        assert (alert["previous"], alert["state"]) == ("OK", state)
        assert alert["value"] > 0
        assert "apiResponseTimeAvgMs is " + state.lower() in alert["message"]
        for _ in range(3):  # more checks, same state: no more alerts, no more log lines
            await server.server.services.health_checks.report()
        logged = [r for r in caplog.records if "apiResponseTimeAvgMs is " + state.lower() in r.getMessage()]
        assert len(logged) == 1 and logged[0].levelno == logging.WARNING
        server.clock.advance(61)  # the request leaves the window: no data, ok
        alert = await server.next_alert("apiResponseTimeAvgMs")
        assert (alert["previous"], alert["state"], alert["value"]) == (state, "OK", None)
        assert any(f"apiResponseTimeAvgMs is ok (was {state.lower()})" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("warning", "critical", "state"), [(0, 1e6, "WARNING"), (0, 0, "CRITICAL")])
async def test_database_query_time_alerts_on_crossing_and_on_recovery(
    site: Settings, warning: float, critical: float, state: str
) -> None:
    async with running(site, health_db_query_warning_ms=warning, health_db_query_critical_ms=critical) as server:
        assert len((await server.graphql(HISTORY))["data"]["point"]["history"]["columns"]["values"]) == 192
        alert = await server.next_alert("databaseQueryTimeAvgMs")
        assert (alert["previous"], alert["state"]) == ("OK", state)
        assert alert["value"] > 0
        server.clock.advance(61)
        alert = await server.next_alert("databaseQueryTimeAvgMs")
        assert (alert["previous"], alert["state"], alert["value"]) == (state, "OK", None)


async def test_cache_hit_rate_walks_down_through_warning_to_critical_and_back(site: Settings) -> None:
    """Seed 000's thresholds as they are: warning below 90 %, critical below 80 %."""
    async with running(site) as server:
        for _ in range(17):
            await server.graphql(FAN)
        for _ in range(3):  # 17/20 = 0.85
            assert (await server.graphql(SUPPLY))["data"]["point"]["current"]["stale"] is True
        alert = await server.next_alert("cacheHitRate")
        assert (alert["previous"], alert["state"]) == ("OK", "WARNING")
        for _ in range(3):  # 17/23 = 0.74
            await server.graphql(SUPPLY)
        alert = await server.next_alert("cacheHitRate")
        assert (alert["previous"], alert["state"]) == ("WARNING", "CRITICAL")
        assert 17 / 23 <= alert["value"] < 0.8  # judged at whichever check came first
        server.clock.advance(61)
        alert = await server.next_alert("cacheHitRate")
        assert (alert["previous"], alert["state"], alert["value"]) == ("CRITICAL", "OK", None)


async def test_the_health_query_shows_every_metric_with_its_state(site: Settings) -> None:
    # times judged leniently: this test reads the values, a loaded test machine would make them warnings
    lenient = {"health_api_response_warning_ms": 1e6, "health_api_response_critical_ms": 1e6}
    lenient |= {"health_db_query_warning_ms": 1e6, "health_db_query_critical_ms": 1e6}
    async with running(site, **lenient) as server:
        await server.graphql(FAN)
        body = await server.graphql(
            "{ health { state ready reasons metrics { name value unit state warning critical } "
            "cacheHitRate { value state } apiRequestsPerMinute { value } diskUsage { value state } } }"
        )
        health = body["data"]["health"]
        assert health["state"] == "OK" and health["ready"] is True and health["reasons"] == []
        metrics = {metric["name"]: metric for metric in health["metrics"]}
        assert list(metrics) == [
            "cacheHitRate",
            "cacheSizeBytes",
            "cacheEvictionRate",
            "databaseConnectionCount",
            "databaseQueryTimeAvgMs",
            "databaseSizeBytes",
            "collectionSuccessRate",
            "collectionLatencyAvgMs",
            "failedCollectionsLastHour",
            "apiRequestsPerMinute",
            "apiResponseTimeAvgMs",
            "apiErrorRate",
            "diskUsage",
            "processMemoryBytes",
        ]
        assert health["cacheHitRate"] == {"value": 1.0, "state": "OK"}
        assert metrics["cacheHitRate"]["warning"] == 0.9 and metrics["cacheHitRate"]["critical"] == 0.8
        assert metrics["apiResponseTimeAvgMs"]["warning"] == 1e6  # from the settings
        assert metrics["diskUsage"]["warning"] == 0.8 and metrics["diskUsage"]["critical"] == 0.95
        assert metrics["apiErrorRate"]["value"] == 0.0
        assert health["apiRequestsPerMinute"]["value"] is None or health["apiRequestsPerMinute"]["value"] > 0
        assert metrics["databaseConnectionCount"]["value"] >= 2  # the writer and at least one reader
        assert metrics["databaseSizeBytes"]["value"] > 0
        assert metrics["cacheSizeBytes"]["value"] > 0
        assert metrics["processMemoryBytes"]["value"] > 10_000_000
        assert 0 < health["diskUsage"]["value"] < 1
        # nothing collected on this site: no data is ok, with a null value
        assert (
            metrics["collectionSuccessRate"]["value"] is None and metrics["collectionSuccessRate"]["state"] == "OK"
        )
        assert metrics["failedCollectionsLastHour"]["value"] == 0

"""Seed 000's alerting thresholds: the defaults, each overridable from the environment, each crossed both ways
(ok → warning → critical and back) through the same `Thresholds.of(settings)` the health service judges with."""

from __future__ import annotations

import pytest

from t3000gql.config import Settings
from t3000gql.domain.health import HealthState, StateChanges, Threshold, worst
from t3000gql.errors import ConfigError
from t3000gql.health.measure import Thresholds

OK, WARNING, CRITICAL = HealthState.OK, HealthState.WARNING, HealthState.CRITICAL

# name in Thresholds, environment variables (warning, critical), seed 000's defaults in the report's unit,
# then a walk of values and the state each must give: there and back again.
CASES = [
    (
        "cache_hit_rate",
        ("HEALTH_CACHE_HIT_RATE_WARNING_PERCENT", "HEALTH_CACHE_HIT_RATE_CRITICAL_PERCENT"),
        (0.90, 0.80),
        [(0.95, OK), (0.90, OK), (0.85, WARNING), (0.79, CRITICAL), (0.85, WARNING), (0.91, OK)],
    ),
    (
        "db_query_ms",
        ("HEALTH_DB_QUERY_WARNING_MS", "HEALTH_DB_QUERY_CRITICAL_MS"),
        (100, 500),
        [(5, OK), (100, OK), (101, WARNING), (501, CRITICAL), (300, WARNING), (99, OK)],
    ),
    (
        "collection_success",
        ("HEALTH_COLLECTION_SUCCESS_WARNING_PERCENT", "HEALTH_COLLECTION_SUCCESS_CRITICAL_PERCENT"),
        (0.95, 0.85),
        [(1.0, OK), (0.95, OK), (0.9, WARNING), (0.8, CRITICAL), (0.9, WARNING), (0.99, OK)],
    ),
    (
        "api_response_ms",
        ("HEALTH_API_RESPONSE_WARNING_MS", "HEALTH_API_RESPONSE_CRITICAL_MS"),
        (50, 200),
        [(1, OK), (50, OK), (51, WARNING), (201, CRITICAL), (60, WARNING), (10, OK)],
    ),
    (
        "disk_usage",
        ("HEALTH_DISK_USAGE_WARNING_PERCENT", "HEALTH_DISK_USAGE_CRITICAL_PERCENT"),
        (0.80, 0.95),
        [(0.5, OK), (0.80, OK), (0.81, WARNING), (0.96, CRITICAL), (0.9, WARNING), (0.7, OK)],
    ),
]


@pytest.mark.parametrize(("name", "variables", "defaults", "walk"), CASES, ids=[c[0] for c in CASES])
def test_seed_thresholds_by_default_crossed_both_ways(
    name: str, variables: tuple[str, str], defaults: tuple[float, float], walk: list[tuple[float, HealthState]]
) -> None:
    threshold: Threshold = getattr(Thresholds.of(Settings.from_env({})), name)
    assert (threshold.warning, threshold.critical) == pytest.approx(defaults)
    changes = StateChanges()
    seen = []
    for value, expected in walk:
        state = threshold.state_of(value)
        assert state is expected, f"{name}={value}"
        if changes.changed(name, state) is not None:
            seen.append(state)
    assert seen == [WARNING, CRITICAL, WARNING, OK]  # one change each, not one per check
    assert threshold.state_of(None) is OK  # nothing measured yet


@pytest.mark.parametrize(("name", "variables", "defaults", "walk"), CASES, ids=[c[0] for c in CASES])
def test_each_threshold_is_a_setting(
    name: str, variables: tuple[str, str], defaults: tuple[float, float], walk: list[tuple[float, HealthState]]
) -> None:
    warning, critical = variables
    high_is_bad = getattr(Thresholds.of(Settings.from_env({})), name).high_is_bad
    low, high = ("10", "20") if high_is_bad else ("20", "10")
    threshold: Threshold = getattr(Thresholds.of(Settings.from_env({warning: low, critical: high})), name)
    scale = 1 / 100 if warning.endswith("_PERCENT") else 1
    assert (threshold.warning, threshold.critical) == pytest.approx((float(low) * scale, float(high) * scale))
    inside = 15 * scale
    assert threshold.state_of(inside) is WARNING


@pytest.mark.parametrize(("name", "variables", "defaults", "walk"), CASES, ids=[c[0] for c in CASES])
def test_thresholds_in_the_wrong_order_are_refused_naming_the_setting(
    name: str, variables: tuple[str, str], defaults: tuple[float, float], walk: list[tuple[float, HealthState]]
) -> None:
    warning, critical = variables
    high_is_bad = getattr(Thresholds.of(Settings.from_env({})), name).high_is_bad
    low, high = ("20", "10") if high_is_bad else ("10", "20")
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({warning: low, critical: high})
    assert (warning if not high_is_bad else critical) in str(refused.value)


def test_a_percentage_above_100_is_refused() -> None:
    with pytest.raises(ConfigError, match="HEALTH_DISK_USAGE_CRITICAL_PERCENT"):
        Settings.from_env({"HEALTH_DISK_USAGE_CRITICAL_PERCENT": "101"})


def test_the_whole_is_its_worst_part() -> None:
    assert worst([]) is OK
    assert worst([OK, WARNING, OK]) is WARNING
    assert worst([WARNING, CRITICAL, OK]) is CRITICAL

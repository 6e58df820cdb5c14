"""One result shape for every scenario, the table it prints as, and the JSON file.

Every result has the STANDARD_KEYS (None where a scenario does not measure one), then its own extra keys; the
runner adds `area`, `goal` (the goal's text, or None) and `goal_met` (True/False, or None without a goal). The
JSON file is {"run": {how it was run}, "scenarios": {NAME: result}}.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib.registry import Result, Scenario
from benchlib.stats import latency, median

STANDARD_KEYS = ("median_ms", "p95_ms", "p99_ms", "floor_ms", "ratio", "rate_per_s", "lost", "peak_rss_mb")
"""median/p95/p99 of the scenario's timings; floor_ms the floor's median (or its own measure, said in the
scenario's docstring); ratio median / floor unless the scenario says otherwise; rate_per_s what it does per
second; lost what went missing; peak_rss_mb the peak RSS of the process the scenario measures."""


def measured(
    times_ms: Sequence[float],
    floor: Sequence[float] | float | None = None,
    *,
    ratio: float | None = None,
    rate_per_s: float | None = None,
    lost: int | None = None,
    peak_rss_mb: float | None = None,
    **extra: Any,
) -> Result:
    """A result from timings in ms and the floor's timings (or its one figure). The ratio defaults to median over
    the floor's median; `measurements` says how many timings the statistics are over."""
    stats = latency(times_ms)
    floor_ms = (median(floor) if floor else None) if isinstance(floor, Sequence) else floor
    if ratio is None and floor_ms and stats["median_ms"] is not None:
        ratio = stats["median_ms"] / floor_ms
    return {
        **stats,
        "floor_ms": _rounded(floor_ms, 3),
        "ratio": _rounded(ratio, 2),
        "rate_per_s": _rounded(rate_per_s, 1),
        "lost": lost,
        "peak_rss_mb": _rounded(peak_rss_mb, 1),
        "measurements": len(times_ms),
        **extra,
    }


def per_second(count: float, ms: float | None) -> float | None:
    """`count` done in `ms` milliseconds, as a rate per second."""
    return count / (ms / 1000) if ms else None


def complete(scenario: Scenario, result: Result, backend: str = "sqlite") -> Result:
    """The result as written: area, goal and goal_met first, then the standard keys, then the extras."""
    missing = [key for key in STANDARD_KEYS if key not in result]
    if missing:
        raise ValueError(f"scenario {scenario.name!r} returned no {missing}: build its result with measured()")
    goal = scenario.goal_for(backend)
    return {
        "area": scenario.area,
        "goal": goal.text if goal else None,
        "goal_met": goal.met(result) if goal else None,
        **{key: result[key] for key in STANDARD_KEYS},
        **{key: value for key, value in result.items() if key not in STANDARD_KEYS},
    }


_COLUMNS = (
    ("median_ms", "median ms", 11),
    ("p95_ms", "p95 ms", 10),
    ("p99_ms", "p99 ms", 10),
    ("floor_ms", "floor ms", 10),
    ("ratio", "ratio", 8),
    ("rate_per_s", "rate/s", 12),
    ("lost", "lost", 6),
    ("peak_rss_mb", "rss MB", 8),
)
_SHOWN = {key for key, _, _ in _COLUMNS} | {"area", "goal", "goal_met"}
NAME_WIDTH = 26


def header() -> str:
    return f"{'scenario':<{NAME_WIDTH}}" + "".join(f"{title:>{width}}" for _, title, width in _COLUMNS) + "  goal"


def row(name: str, result: Result) -> str:
    """The scenario's line of the table, and on the next line the keys the columns do not show."""
    cells = "".join(f"{_cell(key, result.get(key)):>{width}}" for key, _, width in _COLUMNS)
    verdict = {True: "met", False: "MISSED"}.get(result["goal_met"], "")
    goal = f"{result['goal']}: {verdict}" if result["goal"] else "-"
    extra = {key: value for key, value in result.items() if key not in _SHOWN and value is not None}
    return f"{name:<{NAME_WIDTH}}{cells}  {goal}\n{'':<{NAME_WIDTH}}{json.dumps(extra)}"


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "lost" or (key == "rate_per_s" and value >= 100):
        return f"{value:,.0f}"
    if key == "rate_per_s":
        return f"{value:.1f}"
    if key == "peak_rss_mb":
        return f"{value:.1f}"
    return f"{value:.2f}"


def write_json(path: Path, run: dict[str, Any], results: dict[str, Result]) -> None:
    path.write_text(json.dumps({"run": run, "scenarios": results}, indent=2) + "\n")


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)

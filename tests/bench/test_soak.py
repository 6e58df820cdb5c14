"""The soak scenario (scripts/benchlib/scenarios/soak.py) in a short run through scripts/bench.py: the simulated
site, the collector, 100 dashboards and 100 subscribers for a few seconds, with nothing lost and no error. No
timing is asserted: only that it runs, counts and reports the keys the issue names."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from benchlib.registry import load

from tests.bench.test_harness import BENCH


def test_a_short_soak_runs_and_reports_no_error_and_nothing_lost(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--scenario", "soak", "--minutes", "0.15", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())["scenarios"]["soak"]
    assert result["errors"] == 0, result["error_samples"]
    assert result["lost"] == 0
    assert result["expected_deliveries"] > 0 and result["deliveries"] >= result["expected_deliveries"]
    assert result["polls"] > 0 and result["updates_per_min"] > 0
    for key in (
        "median_ms",
        "p95_ms",
        "p99_ms",
        "rate_per_s",
        "peak_rss_mb",
        "rss_growth_pct",
        "deliveries_per_s",
    ):
        assert result[key] is not None, key
    (minute,) = result["per_minute"]
    assert minute["minute"] == 1 and minute["deliveries"] > 0 and minute["delivery_p99_ms"] is not None


def test_the_soak_runs_only_when_named() -> None:
    spec = importlib.util.spec_from_file_location("bench_cli", BENCH)
    assert spec is not None and spec.loader is not None
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    scenarios = load()
    assert "soak" not in [s.name for s in cli.parse_args([], scenarios).selected]
    assert "soak" not in [s.name for s in cli.parse_args(["--area", "live"], scenarios).selected]
    assert [s.name for s in cli.parse_args(["--area", "soak"], scenarios).selected] == ["soak"]
    assert cli.parse_args(["--scenario", "soak", "--minutes", "60"], scenarios).minutes == 60
    refused = subprocess.run(
        [sys.executable, str(BENCH), "--scenario", "soak", "--minutes", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "--minutes must be more than 0" in refused.stderr

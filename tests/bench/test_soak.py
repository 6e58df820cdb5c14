"""The soak scenario (scripts/benchlib/scenarios/soak.py) through scripts/bench.py's options: it runs only when
named, and --minutes is checked. (A run itself takes over a minute even when short: a simulated site, a first
scan, 100 dashboards and 100 subscribers; `python scripts/bench.py --scenario soak --minutes 0.5` is the smoke.)"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from benchlib.registry import load

from tests.bench.test_harness import BENCH


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

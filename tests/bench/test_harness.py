"""The benchmark harness through its command line (scripts/bench.py) and the parts scenario authors use: the
registry, the statistics, the goal expressions, the server helper and the per-scenario databases.
No timing is asserted here: timings belong in the benchmark's output."""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from benchlib import httpload
from benchlib.context import open_context
from benchlib.registry import Goal, load
from benchlib.report import STANDARD_KEYS
from benchlib.serve import serve, serve_workers
from benchlib.stats import latency, percentile

from tests.conftest import require_service
from tests.postgres import PostgresServer

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench.py"

EXISTING = {
    "storage": ["insert-1k", "insert-100k", "range-1k", "range-100k", "agg-year-15min"],
    "api": [
        "api-cached-read",
        "api-concurrent-100",
        "api-cached-read-token",
        "api-concurrent-100-token",
        "api-range-1k",
        "api-range-100k-columns",
        "api-insert-1k",
        "api-nested",
    ],
    "live": ["live-latency", "live-firehose", "live-fanout", "live-bus"],
    "collect": ["collect-scan", "current-miss-service", "api-cache-miss"],
    "stations": ["import-logs-1m", "station-ingest"],
}
"""Every scenario name the five harnesses had before they became one, by the area it now lives in."""


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=120)


def test_list_shows_every_scenario_under_its_area_with_goal_and_floor() -> None:
    done = bench("--list")
    assert done.returncode == 0, done.stderr
    listed: dict[str, list[str]] = {}
    area = ""
    for line in done.stdout.splitlines():
        if heading := re.fullmatch(r"(\w+):", line):
            area = heading.group(1)
        elif match := re.match(r"  (\S+)\s", line):
            listed.setdefault(area, []).append(match.group(1))
    for area, names in EXISTING.items():
        assert set(names) <= set(listed.get(area, [])), (area, listed.get(area))
    assert "goal: p99_ms <= 50 and lost == 0" in done.stdout  # live-latency's
    assert "floor: stdlib sqlite3" in done.stdout
    assert list(load()) == [name for names in listed.values() for name in names]


def test_a_quick_run_writes_the_one_json_shape(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = bench("--scenario", "insert-1k", "--quick", "--json", str(out), "--workdir", str(tmp_path / "work"))
    assert done.returncode == 0, done.stderr
    assert re.search(r"^insert-1k .*median_ms <= 15: (met|MISSED)$", done.stdout, re.MULTILINE), done.stdout
    written = json.loads(out.read_text())
    assert written["run"]["quick"] is True and written["run"]["repeats"] == 3
    result = written["scenarios"]["insert-1k"]
    assert list(result)[:3] == ["area", "goal", "goal_met"]
    assert result["area"] == "storage" and result["goal"] == "median_ms <= 15"
    assert isinstance(result["goal_met"], bool)
    assert set(STANDARD_KEYS) <= set(result)
    for key in ("median_ms", "p95_ms", "p99_ms", "floor_ms", "ratio", "rate_per_s"):
        assert isinstance(result[key], float) and result[key] > 0, (key, result[key])
    assert result["median_ms"] <= result["p95_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["lost"] is None and result["peak_rss_mb"] is None  # not measured by this scenario
    assert result["measurements"] == 3
    assert (tmp_path / "work" / "insert-1k" / "bench.db").is_file()  # --workdir keeps the scenario's files


def test_a_workdir_in_use_is_refused(tmp_path: Path) -> None:
    (tmp_path / "insert-1k").mkdir()
    (tmp_path / "insert-1k" / "bench.db").write_text("")
    done = bench("--scenario", "insert-1k", "--quick", "--workdir", str(tmp_path))
    assert done.returncode != 0 and "is not empty" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "insert-1k,no-such"], "unknown scenario or area: no-such"),
        (["--area", "nowhere"], "unknown scenario or area: nowhere"),
        (["--database", "mysql://127.0.0.1/x"], "use 'sqlite'"),
        (
            ["--scenario", "api-cached-read", "--database", "postgresql://127.0.0.1:5432"],
            "api-cached-read: cannot run on",
        ),
        (["--repeats", "0"], "--repeats must be at least 1"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(args: list[str], message: str) -> None:
    done = bench(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "median ms" not in done.stdout


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.95) == pytest.approx(95.05)
    assert percentile(values, 0.99) == pytest.approx(99.01)
    assert percentile([3.0, 1.0], 0.5) == 2.0
    for sample in ([5.0], [2.0, 9.0, 4.0], [1.0, 8.0, 3.0, 7.0]):
        assert percentile(sample, 0.5) == statistics.median(sample)
    assert latency([]) == {"median_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_goals_are_checked_against_the_result() -> None:
    goal = Goal.parse("p99_ms <= 50 and lost == 0")
    assert goal.met({"p99_ms": 50.0, "lost": 0})
    assert not goal.met({"p99_ms": 50.1, "lost": 0})
    assert not goal.met({"p99_ms": 1.0, "lost": 3})
    assert not goal.met({"p99_ms": None, "lost": 0})  # nothing measured is not a goal met
    with pytest.raises(KeyError, match="lost"):
        goal.met({"p99_ms": 1.0})
    for bad in ("p99 < fifty", "p99_ms =< 5", "p99_ms <= 5 or lost == 0"):
        with pytest.raises(ValueError):
            Goal.parse(bad)


def test_serve_starts_the_app_on_a_free_port_and_stops_exactly_it(tmp_path: Path) -> None:
    settings: dict[str, str | bool] = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "BACKGROUND_COLLECTION_ENABLED": False,
    }
    with serve(settings=settings) as server:
        answer = httpload.run(httpload.fetch(server.port, httpload.post_graphql("{ devices { deviceId } }")))
        assert json.loads(answer) == {"data": {"devices": []}}
        assert server.peak_rss_mb() > 0
        process = server.process
    assert process.poll() is not None
    assert (tmp_path / "serve.db").is_file()


def test_serve_workers_runs_that_many_processes_on_one_port_and_stops_them_all() -> None:
    with serve_workers(2, "floor", body='{"data": {"ok": true}}') as server:
        answer = httpload.run(httpload.fetch(server.port, httpload.post_graphql("{ ok }")))
        assert json.loads(answer) == {"data": {"ok": True}}
        workers = server.pids()
        assert len(workers) == 2 and server.peak_rss_mb() > 0
        process = server.process
    assert process.poll() == 0
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_serve_reports_a_server_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="ended"), serve(settings={"DATABASE_URL": "mysql://127.0.0.1/x"}):
        pass


def test_postgresql_databases_are_created_per_scenario_and_dropped(tmp_path: Path) -> None:
    require_service("127.0.0.1", 5432, "PostgreSQL")
    import asyncpg

    async def exists(name: str) -> bool:
        connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            return bool(await connection.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
        finally:
            await connection.close()

    with open_context("range-1k", tmp_path, database="postgresql://postgres@127.0.0.1:5432") as ctx:
        url = ctx.database_url("bench")
        name = url.rsplit("/", 1)[1]
        assert name.startswith("bench_") and name.endswith("_range_1k_bench")
        assert asyncio.run(exists(name))
    assert not asyncio.run(exists(name))


def test_a_storage_scenario_runs_on_postgresql_beside_its_asyncpg_floor(postgres_server: PostgresServer) -> None:
    """The PostgreSQL floor and goal are the scenario's own there (range-100k: ratio <= 2)."""
    done = bench("--scenario", "range-1k,range-100k", "--quick", "--database", postgres_server.url)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^range-1k .*median_ms <= 5: (met|MISSED)$", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^range-100k .*ratio <= 2: (met|MISSED)$", done.stdout, re.MULTILINE), done.stdout
    listed = bench("--list").stdout
    assert "on postgresql: goal: rate_per_s >= 150000" in listed  # insert-100k's
    assert "floor: asyncpg on its own database" in listed

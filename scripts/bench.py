#!/usr/bin/env python3
"""Benchmark scenarios of t3000gql, each beside its floor (the same work done without t3000gql) in the same run.

    python scripts/bench.py --list                       # every scenario with its area, goal and floor
    python scripts/bench.py                              # every scenario
    python scripts/bench.py --scenario insert-1k,range-1k --json bench.json
    python scripts/bench.py --area live --broadcast-url redis://127.0.0.1:6379
    python scripts/bench.py --quick                      # a smoke run: 3 repeats, shorter loads
    python scripts/bench.py --scenario soak --minutes 60 # the soak (only when named), a release's hour

Prints one table: median, p95 and p99, the floor, the ratio, a rate, what was lost, the peak RSS and the goal
met or MISSED; below each row the scenario's other figures. `--json FILE` writes {"run": {...}, "scenarios":
{NAME: {"area", "goal", "goal_met", "median_ms", "p95_ms", "p99_ms", "floor_ms", "ratio", "rate_per_s", "lost",
"peak_rss_mb", ...}}}, rewritten after each scenario. The scenarios live in scripts/benchlib/scenarios/ (one module per area);
scripts/benchlib/__init__.py says how to add one. Timings belong here, never in a test's assertion.

Environment: BENCH_LIVE_DEFLATE=0 turns WebSocket compression off in the live scenarios' server process;
BENCH_LIVE_PROFILE=FILE writes a cProfile dump of that process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
for path in (SCRIPTS, SCRIPTS.parent):  # benchlib and station_sim; t3000gql without an installed package
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from benchlib.context import SQLITE, backend_of, open_context  # noqa: E402
from benchlib.registry import Scenario, load  # noqa: E402
from benchlib.report import complete, header, row, write_json  # noqa: E402

QUICK_REPEATS = 3
REPEATS = 7


def parse_args(argv: list[str] | None, scenarios: dict[str, Scenario]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the scenarios with their goals and floors")
    parser.add_argument(
        "--scenario", action="append", default=[], help="comma-separated names, repeatable (default: all)"
    )
    parser.add_argument("--area", action="append", default=[], help="comma-separated areas, repeatable")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer repeats and shorter loads")
    parser.add_argument(
        "--repeats",
        type=int,
        help=f"repeats per scenario that repeats (default {REPEATS}, {QUICK_REPEATS} with --quick)",
    )
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument(
        "--workdir", type=Path, help="keep each scenario's files in WORKDIR/NAME (default: a temporary directory)"
    )
    parser.add_argument(
        "--database",
        default=SQLITE,
        help="'sqlite' (default: a file per database in the workdir) or a postgresql:// server URL, on which each "
        "database is created and dropped; only scenarios that support the backend run",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=10.0,
        help="how long the soak runs (default 10; 60 for a release; a fraction for a smoke run)",
    )
    parser.add_argument(
        "--broadcast-url",
        default="memory://",
        help="BROADCAST_URL of the live scenarios' server (default memory://)",
    )
    args = parser.parse_args(argv)
    try:
        args.backend = backend_of(args.database)
    except ValueError as exc:
        parser.error(str(exc))
    if args.repeats is None:
        args.repeats = QUICK_REPEATS if args.quick else REPEATS
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.minutes <= 0:
        parser.error("--minutes must be more than 0")
    args.selected = select(parser, scenarios, args)
    return args


def _split(values: list[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def select(
    parser: argparse.ArgumentParser, scenarios: dict[str, Scenario], args: argparse.Namespace
) -> list[Scenario]:
    """The scenarios asked for, in registry order. Named ones that cannot run on --database are an error; those
    picked by area or by default are left out, with a note."""
    names, areas = _split(args.scenario), _split(args.area)
    known_areas = sorted({s.area for s in scenarios.values()})
    unknown = [n for n in names if n not in scenarios] + [a for a in areas if a not in known_areas]
    if unknown:
        parser.error(
            f"unknown scenario or area: {', '.join(unknown)} (scenarios: {', '.join(scenarios)}; areas: "
            f"{', '.join(known_areas)}; --list describes them)"
        )
    chosen = [
        s
        for s in scenarios.values()
        if (not names and not areas and not s.only_when_named) or s.name in names or s.area in areas
    ]
    named_elsewhere = [s.name for s in chosen if s.name in names and args.backend not in s.backends]
    if named_elsewhere:
        parser.error(
            f"{', '.join(named_elsewhere)}: cannot run on {args.backend} (see --list for each one's backends)"
        )
    runnable = [s for s in chosen if args.backend in s.backends]
    if not runnable:
        parser.error(f"no scenario asked for runs on {args.backend} yet (a scenario declares backends=...)")
    left_out = [s.name for s in chosen if s not in runnable]
    if left_out:
        print(f"left out (not on {args.backend}): {', '.join(left_out)}", file=sys.stderr)
    return runnable


def print_list(scenarios: dict[str, Scenario]) -> None:
    area = None
    width = max(24, *(len(name) + 2 for name in scenarios))
    for s in scenarios.values():
        if s.area != area:
            area = s.area
            print(f"{area}:")
        print(f"  {s.name:<{width}}{s.summary}")
        print(f"  {'':<{width}}goal: {s.goal.text if s.goal else '- (measured only)'}")
        print(f"  {'':<{width}}floor: {s.floor or '- (none exists)'}")
        if s.backends != (SQLITE,):
            print(f"  {'':<{width}}backends: {', '.join(s.backends)}")
            for backend in s.backends:
                if backend in s.goals_on or backend in s.floors_on:
                    goal = s.goal_for(backend)
                    print(f"  {'':<{width}}on {backend}: goal: {goal.text if goal else '- (measured only)'}")
                    print(
                        f"  {'':<{width}}{'':<{len(backend) + 4}}floor: {s.floor_for(backend) or '- (none exists)'}"
                    )


def main(argv: list[str] | None = None) -> int:
    scenarios = load()
    args = parse_args(argv, scenarios)
    if args.list:
        print_list(scenarios)
        return 0
    run = {
        "command": " ".join(["scripts/bench.py", *(sys.argv[1:] if argv is None else argv)]),
        "quick": args.quick,
        "repeats": args.repeats,
        "database": args.backend,
        "broadcast_url": args.broadcast_url.split(":")[0],
        "minutes": args.minutes,
    }
    results = {}
    print(header(), flush=True)
    for scenario in args.selected:
        with open_context(
            scenario.name,
            args.workdir,
            quick=args.quick,
            repeats=args.repeats,
            database=args.database,
            broadcast_url=args.broadcast_url,
            minutes=args.minutes,
        ) as ctx:
            results[scenario.name] = complete(scenario, scenario.run(ctx), args.backend)
        print(row(scenario.name, results[scenario.name]), flush=True)
        if args.json:
            write_json(args.json, run, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

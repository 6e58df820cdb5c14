"""The benchmark harness behind `scripts/bench.py`: one registry, one statistics formula, one JSON shape, one way
to start a server process.

    registry.py      `@scenario(name, goal=..., floor=...)` registers a function; `load()` finds them all
    context.py       what a scenario is given: its own work directory, --quick, --repeats, databases, broadcast URL
    stats.py         median, p95, p99 (one formula for every scenario)
    report.py        a scenario's result (`measured()`), the table and the JSON file
    serve.py         the t3000gql app (or a bare floor app) in a process of its own on a free 127.0.0.1 port
    httpload.py      a keep-alive HTTP/1.1 load generator (sequential timings and N concurrent clients)
    wsclient.py      graphql-transport-ws subscribers that record each change's latency
    stations_child.py  the processes the station scenarios run apart (simulator, log import)
    scenarios/       one module per area (storage, api, live, collect, stations); every decorated function in
                     them is a scenario, found without being listed anywhere

Adding a scenario is one function in the module of its area:

    @scenario("range-10k", goal="median_ms <= 20", floor="stdlib sqlite3 reading the same rows")
    def range_10k(ctx: Context) -> Result:
        '''10,000 samples of one point (the first docstring line is what --list shows).'''
        ...
        return measured(times_ms, floor_times_ms, rate_per_s=...)

A scenario declares `backends=("sqlite", "postgresql")` to run under `--database postgresql://…` too (it gets
each database from `ctx.database_url(name)` and picks its floor by `ctx.backend`); a server it measures comes
from `serve.serve(settings={"DATABASE_URL": …})`; its goal may name any key of its result, extras included.

Children (server, simulators) are started with `module_command()`, which puts this package and the repository on
their import path, so they import `benchlib` and `t3000gql` as the parent does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent
ROOT = SCRIPTS.parent


def module_command(module: str, *args: str) -> list[str]:
    """`python -m module args…` with this interpreter (the virtualenv's, as the parent's)."""
    return [sys.executable, "-m", module, *args]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment with scripts/ and the repository first on PYTHONPATH, plus `extra`."""
    paths = [str(SCRIPTS), str(ROOT)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **(extra or {})}

"""The scenario registry: `@scenario(...)` on a function in `benchlib/scenarios/<area>.py` makes it runnable as
`scripts/bench.py --scenario NAME`, listed by `--list` with its goal and floor.

A scenario is a function of a `Context` returning a result dict (`report.measured()` builds one), plain or async.
Its area is the module it lives in, so a scenario cannot be filed under one area and live in another. Its goal
is a small expression over its result's keys ("p99_ms <= 50 and lost == 0"): the text is what the table shows,
and the same text decides met or missed, so the two cannot disagree.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import operator
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from benchlib.context import Context

Result = dict[str, Any]
ScenarioFunction = Callable[[Context], Result] | Callable[[Context], Awaitable[Result]]

AREAS = ("storage", "api", "live", "collect", "stations", "soak")
"""The order areas run in (and are listed in); a module of another name runs after these."""

BACKENDS = ("sqlite", "postgresql")

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Goal:
    """Bounds on result keys, all of which must hold: `Goal.parse("rate_per_s >= 20000 and lost == 0")`."""

    text: str
    clauses: tuple[tuple[str, str, float], ...]

    @classmethod
    def parse(cls, text: str) -> Goal:
        clauses = []
        for clause in text.split(" and "):
            parts = clause.split()
            if len(parts) != 3 or parts[1] not in _OPERATORS:
                raise ValueError(
                    f"goal {text!r}: clause {clause!r} is not 'KEY OP NUMBER' (OP one of {_OPERATORS})"
                )
            key, op, bound = parts
            try:
                clauses.append((key, op, float(bound)))
            except ValueError:
                raise ValueError(f"goal {text!r}: {bound!r} is not a number") from None
        return cls(text, tuple(clauses))

    def met(self, result: Result) -> bool:
        """True when every bound holds; a measured None (nothing measured) misses. A key the result lacks is a
        mistake in the scenario and raises."""
        for key, op, bound in self.clauses:
            if key not in result:
                raise KeyError(f"goal {self.text!r} names {key!r}, which the result does not have")
            value = result[key]
            if value is None or not _OPERATORS[op](value, bound):
                return False
        return True


@dataclass(frozen=True)
class Scenario:
    name: str
    area: str
    summary: str
    goal: Goal | None
    floor: str | None
    backends: tuple[str, ...]
    function: ScenarioFunction
    goals_on: dict[str, Goal | None] = field(default_factory=dict)
    """Goals that differ by backend (PostgreSQL's own); a backend not named here has `goal`."""
    floors_on: dict[str, str] = field(default_factory=dict)
    """Floors that differ by backend (on PostgreSQL: asyncpg)."""
    only_when_named: bool = False
    """Left out of a run that names neither it nor its area (the soak takes minutes)."""

    def goal_for(self, backend: str) -> Goal | None:
        return self.goals_on.get(backend, self.goal)

    def floor_for(self, backend: str) -> str | None:
        return self.floors_on.get(backend, self.floor)

    def run(self, ctx: Context) -> Result:
        outcome = self.function(ctx)
        if inspect.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
        if not isinstance(outcome, dict):
            raise TypeError(f"scenario {self.name!r} returned {type(outcome).__name__}, not a result dict")
        return outcome


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str,
    *,
    goal: str | None = None,
    floor: str | None = None,
    backends: tuple[str, ...] = ("sqlite",),
    goal_on: dict[str, str | None] | None = None,
    floor_on: dict[str, str] | None = None,
    only_when_named: bool = False,
) -> Callable[[ScenarioFunction], ScenarioFunction]:
    """Registers the decorated function as scenario `name`.

    goal: "KEY OP NUMBER [and …]" over the result's keys, or None when the scenario only measures.
    floor: what the same work costs without t3000gql, measured in the same run (None: no floor exists).
    backends: the database kinds the scenario can run on (`--database`); SQLite only unless it says so.
    goal_on, floor_on: a backend's own goal (None: measured only there) and floor, where they differ.
    only_when_named: run only when the scenario or its area is asked for by name (not in a run of everything)."""
    parsed = Goal.parse(goal) if goal else None
    goals_on = {backend: Goal.parse(text) if text else None for backend, text in (goal_on or {}).items()}
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise ValueError(f"scenario {name!r}: unknown backends {sorted(unknown)} (known: {BACKENDS})")

    def register(function: ScenarioFunction) -> ScenarioFunction:
        if name in SCENARIOS and SCENARIOS[name].function.__qualname__ != function.__qualname__:
            raise ValueError(f"scenario {name!r} is registered twice")
        doc = inspect.getdoc(function) or ""
        SCENARIOS[name] = Scenario(
            name=name,
            area=function.__module__.rpartition(".")[2],
            summary=" ".join(doc.split("\n\n")[0].split()),
            goal=parsed,
            floor=floor,
            backends=backends,
            function=function,
            goals_on=goals_on,
            floors_on=dict(floor_on or {}),
            only_when_named=only_when_named,
        )
        return function

    return register


def load() -> dict[str, Scenario]:
    """Imports every module of `benchlib.scenarios` and returns the scenarios, area by area (AREAS first), each
    area in the order its module defines them."""
    import benchlib.scenarios as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    rank = {area: i for i, area in enumerate(AREAS)}
    ordered = sorted(SCENARIOS.values(), key=lambda s: (rank.get(s.area, len(AREAS)), s.area))
    return {s.name: s for s in ordered}

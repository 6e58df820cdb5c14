"""Dependencies: each declared with an upper bound, each locked at a version inside its range, the two locks in
agreement, and this environment holding exactly the locked versions (scripts/bootstrap.sh installs the lock)."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(text) for text in PROJECT["dependencies"]]
DEV = [Requirement(text) for text in PROJECT["optional-dependencies"]["dev"]]


def read_lock(name: str) -> dict[str, tuple[str, Marker | None]]:
    """package -> (version, marker) of a lock file written by `uv pip compile`."""
    pins: dict[str, tuple[str, Marker | None]] = {}
    for line in (ROOT / name).read_text().splitlines():
        if not line or line[0] in "# ":
            continue
        requirement, _, marker = line.partition(" ; ")
        package, _, pinned = requirement.partition("==")
        pins[canonicalize_name(package)] = (pinned.strip(), Marker(marker) if marker else None)
    return pins


RUNTIME_LOCK = read_lock("requirements.lock")
DEV_LOCK = read_lock("requirements-dev.lock")


@pytest.mark.parametrize("requirement", RUNTIME + DEV, ids=str)
def test_each_dependency_has_an_upper_bound_and_is_locked_inside_its_range(requirement: Requirement) -> None:
    assert any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier), requirement
    locks = [DEV_LOCK] + ([RUNTIME_LOCK] if requirement in RUNTIME else [])
    for lock in locks:
        pinned, _ = lock[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pinned, prereleases=True), (requirement, pinned)


def test_libraries_imported_directly_are_declared() -> None:
    declared = {canonicalize_name(r.name) for r in RUNTIME}
    assert {"cross-web", "graphql-core", "starlette", "strawberry-graphql"} <= declared


def test_the_serving_lock_agrees_with_the_development_lock() -> None:
    assert set(RUNTIME_LOCK) <= set(DEV_LOCK)
    assert {name: RUNTIME_LOCK[name][0] for name in RUNTIME_LOCK} == {
        name: DEV_LOCK[name][0] for name in RUNTIME_LOCK
    }


def test_this_environment_holds_the_locked_versions() -> None:
    different = {}
    for name, (pinned, marker) in DEV_LOCK.items():
        if marker is not None and not marker.evaluate():
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "(missing)"
        if installed != pinned:
            different[name] = (pinned, installed)
    assert different == {}, "run scripts/bootstrap.sh dev (locked, installed): " + repr(different)

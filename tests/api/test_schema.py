"""The exported schema is the contract: schema/schema.graphql must be what the code exports, and every ready
operation in schema/examples must run against a seeded site without errors."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from t3000gql import __version__
from t3000gql.api.schema import MUTATIONS, QUERIES, SUBSCRIPTIONS, sdl
from tests.api.conftest import GraphQLClient

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
EXAMPLES = sorted((SCHEMA_DIR / "examples").glob("*.graphql"))


def test_schema_file_is_what_the_code_exports() -> None:
    exported = subprocess.run(
        [sys.executable, "-m", "t3000gql", "export-schema"], capture_output=True, text=True, check=True
    ).stdout
    assert exported == sdl()
    assert exported == (SCHEMA_DIR / "schema.graphql").read_text(), (
        "schema/schema.graphql is out of date: run `t3000gql export-schema > schema/schema.graphql`"
    )


def test_schema_is_composed_from_the_area_lists() -> None:
    text = sdl()
    assert QUERIES and MUTATIONS
    assert ("type Subscription" in text) == bool(SUBSCRIPTIONS)
    for name in (
        "devices",
        "device",
        "point",
        "monitoringPoints",
        "trendLogs",
        "trendLog",
        "timeseries",
        "series",
    ):
        assert f"  {name}(" in text or f"  {name}:" in text


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs_against_a_seeded_site(client: GraphQLClient, example: Path) -> None:
    body = client.post(example.read_text())
    assert "errors" not in body, body["errors"]
    assert all(value is not None for value in body["data"].values())


def test_the_changelog_names_the_version_being_built() -> None:
    """A schema change is noted in CHANGELOG.md under the version the package says it is."""
    root = SCHEMA_DIR.parent
    newest = re.search(r"^## (\S+)", (root / "CHANGELOG.md").read_text(), re.MULTILINE)
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert newest is not None and newest.group(1) == __version__ == project["version"]

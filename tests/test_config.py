from __future__ import annotations

import inspect
import re
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from t3000gql.cli import COMMANDS
from t3000gql.config import DEFAULTS, VARIABLES, Settings
from t3000gql.errors import ConfigError
from t3000gql.ingest.logformat import LineParser
from t3000gql.ingest.monitor import MonitorConfig
from t3000gql.live import LiveBus
from t3000gql.storage.database import Database, SqliteDatabase
from t3000gql.storage.postgres import PostgresDatabase

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_the_seeds() -> None:
    settings = Settings.defaults()
    assert settings.cache_duration_seconds == 60
    assert settings.data_retention_days == 1095
    assert settings.t3000_interface_timeout_ms == 5000
    assert settings.api_max_concurrent_requests == 100
    assert (settings.host, settings.port, settings.timezone, settings.broadcast_url) == (
        "127.0.0.1",
        8000,
        "UTC",
        "memory://",
    )


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("CACHE_DURATION_SECONDS", "soon", "an integer >= 1"),
        ("PARTITION_CLEANUP_ENABLED", "maybe", "true/false"),
        ("TIMEZONE", "Mars/Olympus", "IANA time zone"),
        ("DATABASE_URL", "mysql://x", "sqlite://"),
        ("PORT", "70000", "<= 65535"),
    ],
)
def test_an_invalid_value_names_variable_value_and_what_is_accepted(name: str, value: str, accepted: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value}, env_file=Path("/nonexistent"))
    assert name in str(caught.value) and repr(value) in str(caught.value) and accepted in str(caught.value)


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CACHE_DURATION_SECONDS=15\nT3000_MAX_RETRIES=7\n")
    settings = Settings.from_env({"T3000_MAX_RETRIES": "1"}, env_file=env_file)
    assert (settings.cache_duration_seconds, settings.t3000_max_retries) == (15, 1)


def test_invalid_configuration_stops_start_up_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "t3000gql", "migrate"],
        env={"CACHE_DURATION_SECONDS": "-3", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "t3000gql: configuration error: CACHE_DURATION_SECONDS='-3' is not valid: expected an integer >= 1"
    ]


def test_readme_documents_every_variable_and_command() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    assert documented == {v.name for v in VARIABLES}
    for name in COMMANDS:
        assert f"t3000gql {name}" in readme, name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name: str) -> None:
    done = subprocess.run([sys.executable, "-m", "t3000gql", name, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "usage: t3000gql" in done.stdout


def test_each_variable_is_declared_once_on_its_field_with_a_matching_type() -> None:
    declared = {f.name: f for f in fields(Settings)}
    assert [v.field for v in VARIABLES] == list(declared)  # every field is a variable, nothing else
    assert len({v.name for v in VARIABLES}) == len(VARIABLES)
    for variable in VARIABLES:
        assert declared[variable.field].type == variable.values.type.__name__, variable.name
        assert variable.doc and variable.values.accepted, variable.name
        assert getattr(DEFAULTS, variable.field) == variable.parse(variable.default), variable.name


def test_modules_take_their_defaults_from_the_settings() -> None:
    # The defaults of these constructors are DEFAULTS' values: changing a default in config.py changes them.
    expected = {
        (LiveBus, "prefix"): DEFAULTS.broadcast_channel_prefix,
        (LiveBus, "queue_size"): DEFAULTS.live_queue_size,
        (Database.for_url, "pool_size"): DEFAULTS.database_pool_size,
        (Database.for_url, "busy_timeout_ms"): DEFAULTS.database_busy_timeout_ms,
        (SqliteDatabase, "pool_size"): DEFAULTS.database_pool_size,
        (SqliteDatabase, "busy_timeout_ms"): DEFAULTS.database_busy_timeout_ms,
        (PostgresDatabase, "pool_size"): DEFAULTS.database_pool_size,
        (PostgresDatabase, "busy_timeout_ms"): DEFAULTS.database_busy_timeout_ms,
        (LineParser, "timezone"): DEFAULTS.timezone,
    }
    for (cls, parameter), value in expected.items():
        assert inspect.signature(cls).parameters[parameter].default == value, (cls.__name__, parameter)
    # The station monitor has no defaults of its own: it is configured from Settings only.
    assert all(f.default is MISSING for f in fields(MonitorConfig))

"""`t3000gql token create | list | revoke` and `t3000gql serve`'s refusal to run open, as an operator types them:
real processes on a real database (SQLite, and PostgreSQL when the tests have it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from starlette.testclient import TestClient

from t3000gql.app import create_app
from t3000gql.config import Settings
from t3000gql.domain.timeutil import system_clock
from t3000gql.errors import ConfigError
from tests.api.conftest import bearer, open_client
from tests.conftest import FakeClock


def t3000gql(db: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "t3000gql", *args],
        env={**os.environ, "DATABASE_URL": db, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def db(database_url: str) -> str:
    return database_url


def test_create_prints_the_token_once_as_the_last_line_and_it_works(db: str) -> None:
    made = t3000gql(db, "token", "create", "--name", "scada", "--role", "operator", "--expires", "30")
    assert made.returncode == 0, made.stderr
    *told, token = made.stdout.splitlines()
    assert token.startswith("t3k_") and len(token) == 47
    assert told[0].startswith("created token 'scada' (operator), expires 20")
    assert "shown only now" in told[1]
    listed = t3000gql(db, "token", "list")
    assert listed.returncode == 0 and token not in listed.stdout and token[4:20] not in listed.stdout
    header, row = listed.stdout.splitlines()
    assert header.split() == ["name", "role", "created", "last", "used", "expires"]
    name, role, _created, last_used, expires = row.split()
    assert (name, role, last_used) == ("scada", "operator", "never") and expires.startswith("20")
    settings = Settings.defaults(database_url=db, auth_required="true")
    with open_client(settings) as client:
        me = client.post("{ me { name role } }", headers=bearer(token))
        assert me["data"]["me"] == {"name": "scada", "role": "OPERATOR"}
        [entry] = client.post("{ auditLog { entries { user client operation detail } } }", headers=bearer(token))[
            "errors"
        ]
        assert entry["extensions"]["code"] == "FORBIDDEN"  # the audit log is an admin's


def test_revoke_and_list_all(db: str) -> None:
    for name, role in (("a", "viewer"), ("b", "admin")):
        assert t3000gql(db, "token", "create", "--name", name, "--role", role).returncode == 0
    revoked = t3000gql(db, "token", "revoke", "a")
    assert revoked.returncode == 0 and "revoked token 'a' (viewer)" in revoked.stdout
    assert [line.split()[0] for line in t3000gql(db, "token", "list").stdout.splitlines()[1:]] == ["b"]
    everything = t3000gql(db, "token", "list", "--all").stdout.splitlines()
    assert everything[0].split()[-1] == "revoked"
    rows = {line.split()[0]: line.split() for line in everything[1:]}
    assert rows["a"][-1].startswith("20") and rows["b"][-1] == "-"
    again = t3000gql(db, "token", "create", "--name", "a", "--role", "viewer")
    assert again.returncode == 0  # the name is free again once its token is revoked
    missing = t3000gql(db, "token", "revoke", "nobody")
    assert missing.returncode == 1 and "there is no token named 'nobody'" in missing.stderr
    settings = Settings.defaults(database_url=db)
    with open_client(settings) as client:
        entries = client.data("{ auditLog { entries { user client operation detail } } }")["auditLog"]["entries"]
    assert [(e["user"], e["operation"], e["detail"]["name"]) for e in entries] == [
        ("cli", "create_token", "a"),
        ("cli", "revoke_token", "a"),
        ("cli", "create_token", "b"),
        ("cli", "create_token", "a"),
    ]
    assert all(e["client"] and "@" in e["client"] for e in entries)  # from where: the user and host of the CLI


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--name", "x", "--role", "root"), "field 'role': must be one of viewer, ingest, operator, admin"),
        (("--name", "has space", "--role", "viewer"), "field 'name': must be 1 to 64 letters"),
        (("--name", "anonymous", "--role", "viewer"), "what the audit trail calls other callers"),
        (("--name", "x", "--role", "viewer", "--expires", "0"), "field 'expires': must be a whole number of days"),
    ],
)
def test_bad_input_is_one_clear_line_and_creates_nothing(db: str, args: tuple[str, ...], message: str) -> None:
    done = t3000gql(db, "token", "create", *args)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert t3000gql(db, "token", "list").stdout.splitlines()[1:] == []


def test_every_token_action_has_help(db: str) -> None:
    for action in ("create", "list", "revoke"):
        done = t3000gql(db, "token", action, "--help")
        assert done.returncode == 0 and f"usage: t3000gql token {action}" in done.stdout


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        ((), {"AUTH_REQUIRED": "true"}, "AUTH_REQUIRED='true'"),
        (("--host", "0.0.0.0"), {}, "HOST=0.0.0.0 is not a loopback address"),
    ],
)
def test_serve_refuses_to_run_open_and_names_the_command_that_makes_a_token(
    db: str, args: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    done = t3000gql(db, "serve", "--port", "1", *args, **env)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("t3000gql: configuration error: ") and named in line
    assert "`t3000gql token create --name admin --role admin`" in line


def test_a_token_that_expired_does_not_let_a_server_start_that_needs_one(db: str) -> None:
    assert t3000gql(db, "token", "create", "--name", "old", "--role", "admin", "--expires", "1").returncode == 0
    settings = Settings.defaults(database_url=db, auth_required="true")
    two_days_on = FakeClock(system_clock() + 2 * 86_400_000)
    with pytest.raises(ConfigError, match="none is, or all expired"):
        with TestClient(create_app(settings, clock=two_days_on)):
            pass

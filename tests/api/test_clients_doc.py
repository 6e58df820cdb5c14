"""docs/clients.md runs: each Python snippet, as written, against a real server on 127.0.0.1 (only the server's
address is changed to the test's), and the Apollo Client snippet with Node and the @apollo/client 3 pinned in
tests/clients/apollo/package-lock.json.

A snippet is a fenced block right after `<!-- snippet: NAME -->`; every Python block must be one, with a check
here, so no documented Python goes untested.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from t3000gql.api.schema import schema
from t3000gql.auth import Role
from t3000gql.config import Settings
from tests.api.conftest import NOW, LiveServer, bearer, issue_token

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "clients.md"
APOLLO = ROOT / "tests" / "clients" / "apollo"
SNIPPET = re.compile(r"<!-- snippet: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)\n```", re.DOTALL)
DOC_URL = "127.0.0.1:8000"
TIMEOUT = 60


def snippets(lang: str) -> dict[str, str]:
    return {m["name"]: m["code"] for m in SNIPPET.finditer(DOC.read_text()) if m["lang"] == lang}


DOC_TOKEN = '"TOKEN"'


@pytest.fixture
def token(seeded: Settings) -> str:
    """An operator's token in the database the server opens (the snippets run against AUTH_REQUIRED=true)."""
    return issue_token(seeded, "clients-doc", Role.OPERATOR)


def pointed_at(code: str, server: LiveServer, token: str) -> str:
    assert DOC_URL in code, "a snippet talks to the documented address"
    assert DOC_TOKEN in code, "a snippet sends the token"
    return code.replace(DOC_URL, f"{server.host}:{server.port}").replace(DOC_TOKEN, f'"{token}"')


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def check_gql_http(server: LiveServer, token: str) -> None:
    out = run_python(pointed_at(snippets("python")["gql-http"], server, token)).splitlines()
    assert out[0] == "AHU-1 NONE RGV2aWNlOjEwMDE="  # base64 of Device:1001
    assert "INPUT 1 Supply air 23.5 COLLECTOR" in out and "OUTPUT 1 Fan 1.0 API" in out
    assert out[-1] == "device 7: NOT_FOUND - device 7 does not exist"


def check_gql_ws(server: LiveServer, token: str) -> None:
    """The snippet stops after five values: the four current ones, then a change this test writes (again and
    again until the snippet has seen one: a write made before it subscribed only updates a current value)."""
    code = pointed_at(snippets("python")["gql-ws"], server, token)
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    mutation = (
        "mutation ($v: Float!, $t: DateTime!) { updateDeviceData(deviceId: 1001, "
        "values: [{pointType: VARIABLE, pointNumber: 1, value: $v, timestamp: $t}]) { inserted } }"
    )
    deadline = time.monotonic() + TIMEOUT
    with httpx.Client(base_url=server.url, headers=bearer(token)) as http:
        written = 0
        while process.poll() is None and time.monotonic() < deadline:
            written += 1
            # Each write a second later than the last: a change the snapshot cannot have shown.
            variables = {"v": 100.0 + written, "t": NOW // 1000 + written}
            answer = http.post("/graphql", json={"query": mutation, "variables": variables}).json()
            assert "errors" not in answer, answer
            try:
                process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
    if process.poll() is None:
        process.kill()
    out, err = process.communicate()
    assert process.returncode == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert len(lines) == 5, out
    assert {(line[0], line[1]) for line in lines[:4]} == {
        ("OUTPUT", "1"),
        ("INPUT", "1"),
        ("INPUT", "2"),
        ("VARIABLE", "1"),
    }
    assert lines[4][:2] == ["VARIABLE", "1"] and lines[4][3] == "API" and float(lines[4][2]) > 100.0


def check_python_apq(server: LiveServer, token: str) -> None:
    out = run_python(pointed_at(snippets("python")["python-apq"], server, token)).splitlines()
    assert out.count("sent the text once") == 1 and out[0] == "sent the text once", out
    assert out[1] == out[2] and "Supply air" in out[1], out


def check_python_node(server: LiveServer, token: str) -> None:
    out = run_python(pointed_at(snippets("python")["python-node"], server, token)).splitlines()
    assert out == ["Device 1001 AHU-1 True", "Device 1002 Boiler True", "Device 2001 Main meter True"]


CHECKS: dict[str, Callable[[LiveServer, str], None]] = {
    "gql-http": check_gql_http,
    "gql-ws": check_gql_ws,
    "python-apq": check_python_apq,
    "python-node": check_python_node,
}


def test_every_python_block_is_a_checked_snippet() -> None:
    text = DOC.read_text()
    assert text.count("```python") == len(snippets("python"))
    assert set(snippets("python")) == set(CHECKS)


@pytest.mark.settings(auth_required="true")
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_python_snippet_runs_against_the_server(token: str, live_server: LiveServer, name: str) -> None:
    CHECKS[name](live_server, token)


def _require_node() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
        if int(version.strip().lstrip("v").split(".")[0]) >= 20:
            return
        message = f"Node {version.strip()} is too old (20 or newer runs the Apollo check)"
    else:
        message = "Node and npm are not installed"
    if os.environ.get("T3000GQL_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and T3000GQL_REQUIRE_SERVICES=1")
    pytest.skip(message)


def _installed_apollo() -> Path:
    """tests/clients/apollo/node_modules as its lock file says (npm ci, again only when the lock changed)."""
    modules = APOLLO / "node_modules"
    lock, installed = APOLLO / "package-lock.json", modules / ".package-lock.json"
    if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=APOLLO, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
    return modules


def _for_node(code: str) -> str:
    """@apollo/client 3 has no `exports` map: bundlers find `@apollo/client`, Node's ES modules need the file."""

    def file_of(match: re.Match[str]) -> str:
        module = match["module"]
        return f'from "{module}/core/index.js"' if module == "@apollo/client" else f'from "{module}/index.js"'

    return re.sub(r'from "(?P<module>@apollo/client[^"]*)"', file_of, code)


@pytest.mark.settings(auth_required="true")
def test_apollo_client_snippet_runs_against_the_server(
    token: str, live_server: LiveServer, tmp_path: Path
) -> None:
    _require_node()
    (tmp_path / "node_modules").symlink_to(_installed_apollo())
    snippet = tmp_path / "snippet.mjs"
    snippet.write_text(_for_node(pointed_at(snippets("js")["apollo"], live_server, token)))
    shutil.copy(APOLLO / "check.mjs", tmp_path / "check.mjs")
    done = subprocess.run(
        ["node", "check.mjs", str(snippet)], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    assert '"cacheKey":"MonitoringPoint:TW9uaXRvcmluZ1BvaW50OjEwMDE6SU5QVVQ6MQ=="' in done.stdout, done.stdout


def test_the_urql_snippet_names_every_object_type_without_an_id() -> None:
    """Graphcache must be told which types are values (no id); the list in the doc follows the schema."""
    urql = next(
        m["code"]
        for m in re.finditer(r"```js\n(?P<code>.*?)\n```", DOC.read_text(), re.DOTALL)
        if "@urql" in m["code"]
    )
    listed = re.search(r"const VALUES = \[(?P<names>.*?)\];", urql, re.DOTALL)
    assert listed is not None
    introspected = schema.execute_sync("{ __schema { types { name kind fields { name } } } }")
    assert introspected.data is not None
    without_id = {
        kind["name"]
        for kind in introspected.data["__schema"]["types"]
        if kind["kind"] == "OBJECT"
        and not kind["name"].startswith("__")
        and kind["name"] not in ("Query", "Mutation", "Subscription")
        and all(field["name"] != "id" for field in kind["fields"])
    }
    assert set(re.findall(r'"(\w+)"', listed["names"])) == without_id

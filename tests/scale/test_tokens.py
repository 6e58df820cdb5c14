"""API tokens across processes: a token created or revoked through one server, or by `t3000gql token` beside
them, is accepted or refused by the other at once, over the live bus. The servers' own look at the tokens'
change counter is set to once an hour here, so only the bus can make the test pass."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.scale.conftest import Site
from tests.scale.servers import Server, running, wait_for

ME = "{ devices { deviceId } }"


async def status_with(server: Server, token: str) -> int:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post("/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def token_command(site: Site, env: dict[str, str], *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "t3000gql", "token", *arguments],
        env=env,
        cwd=site.workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_token_made_or_revoked_through_one_server_or_the_cli_is_honoured_by_the_other_at_once(
    site: Site,
) -> None:
    env = site.environment(auth_required=False, auth_token_refresh_seconds=3600)
    with running(site.workdir / "a", env, name="a") as a, running(site.workdir / "b", env, name="b") as b:
        made = await a.data('mutation { createApiToken(name: "dash", role: VIEWER) { token } }')
        token = made["createApiToken"]["token"]
        await wait_for(lambda: _is(status_with(b, token), 200), "b to accept the new token")
        await a.data('mutation { revokeApiToken(name: "dash") { name } }')
        await wait_for(lambda: _is(status_with(b, token), 401), "b to refuse the revoked token")

        cli_token = token_command(site, env, "create", "--name", "ops", "--role", "viewer").splitlines()[-1]
        await wait_for(lambda: _is(status_with(a, cli_token), 200), "a to accept the command's token")
        await wait_for(lambda: _is(status_with(b, cli_token), 200), "b to accept the command's token")
        token_command(site, env, "revoke", "ops")
        await wait_for(lambda: _is(status_with(a, cli_token), 401), "a to refuse the revoked token")
        await wait_for(lambda: _is(status_with(b, cli_token), 401), "b to refuse the revoked token")


async def _is(status: object, expected: int) -> bool:
    return bool(await status == expected)  # type: ignore[misc]

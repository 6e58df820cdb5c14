"""A server in a process of its own, for tests that need two servers: `python -m tests.api.serve_process
DATABASE_URL BROADCAST_URL PREFIX` prints {"port": N} once listening on 127.0.0.1 (port 0) and serves until its
stdin closes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from t3000gql.config import Settings
from tests.api.liveserver import serve_in_loop

ROOT = Path(__file__).resolve().parents[2]


async def main(database_url: str, broadcast_url: str, prefix: str) -> None:
    settings = Settings.defaults(
        database_url=database_url,
        broadcast_url=broadcast_url,
        broadcast_channel_prefix=prefix,
        partition_cleanup_enabled=False,
    )
    async with serve_in_loop(settings) as server:
        print(json.dumps({"port": server.port}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@contextlib.contextmanager
def server_process(database_url: str, broadcast_url: str, prefix: str) -> Iterator[int]:
    """Starts one; yields its port; stops it by closing its stdin (and kills it if it does not stop)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.api.serve_process", database_url, broadcast_url, prefix],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the server process ended with status {process.wait(timeout=10)}")
        yield int(json.loads(line)["port"])
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

"""What every scenario is given: one `Context` (the single scenario signature), opened and cleaned up around it.

A scenario writes its files under `ctx.workdir` (a fresh directory of its own) and asks `ctx.database_url(name)`
for each database it needs, so that `--database postgresql://…` can hand the scenarios that support it a
database of their own on that server (created here, dropped afterwards) where SQLite gets a file in the workdir.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SQLITE = "sqlite"


def backend_of(database: str) -> str:
    """ "sqlite" or "postgresql" for a --database value; anything else is refused."""
    if database == SQLITE:
        return SQLITE
    if urlsplit(database).scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise ValueError(f"--database {database!r}: use 'sqlite' (a file per database) or a postgresql:// server URL")


@dataclass
class Context:
    scenario: str
    workdir: Path
    quick: bool = False
    repeats: int = 7
    database: str = SQLITE
    """"sqlite", or a PostgreSQL server URL on which each database of the scenario is created and dropped."""
    broadcast_url: str = "memory://"
    """BROADCAST_URL of the servers the live scenarios start (redis://127.0.0.1:6379 to go through Redis)."""
    minutes: float = 10.0
    """How long the soak runs (--minutes)."""
    _created: list[str] = field(default_factory=list)

    @property
    def backend(self) -> str:
        return backend_of(self.database)

    def database_url(self, name: str) -> str:
        """A DATABASE_URL for a new, empty database called `name` within this scenario."""
        if self.backend == SQLITE:
            return f"sqlite:///{self.workdir / name}.db"
        database = re.sub(r"[^a-z0-9_]", "_", f"bench_{os.getpid()}_{self.scenario}_{name}".lower())
        _in_thread(partial(_postgres, self.database, f'CREATE DATABASE "{database}"'))
        self._created.append(database)
        return urlunsplit(urlsplit(self.database)._replace(path=f"/{database}"))

    def close(self) -> None:
        while self._created:
            database = self._created.pop()
            _in_thread(partial(_postgres, self.database, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@contextlib.contextmanager
def open_context(scenario: str, base: Path | None, **options: Any) -> Iterator[Context]:
    """A Context whose workdir is `base/scenario` (which must be new or empty, and is kept) or, without `base`, a
    temporary directory removed afterwards."""
    with contextlib.ExitStack() as stack:
        if base is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"t3000gql-bench-{scenario}-")))
        else:
            workdir = base / scenario
            if workdir.exists() and any(workdir.iterdir()):
                raise SystemExit(f"bench: {workdir} is not empty; give --workdir a new directory")
            workdir.mkdir(parents=True, exist_ok=True)
        ctx = Context(scenario, workdir, **options)
        stack.callback(ctx.close)
        yield ctx


async def _postgres(server_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(urlunsplit(urlsplit(server_url)._replace(path="/postgres")))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _in_thread(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Runs a coroutine to completion on a loop of its own in another thread: database_url() is called from plain
    and from async scenarios alike, and a running loop cannot run another."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(make())
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=target, name="bench-postgres")
    thread.start()
    thread.join()
    if failures:
        raise failures[0]

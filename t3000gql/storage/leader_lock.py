"""The lock behind leadership (t3000gql/leadership.py): which one of the processes sharing a database leads.

Two bodies, chosen by DATABASE_URL's scheme (`leader_lock`):

- SQLite: an exclusive `flock` on a file beside the database (`<database>.leader`). The kernel drops it the
  moment its holder dies, however it dies (kill -9 included). `flock`, not `fcntl`'s record locks: a record lock
  belongs to the process, so two holders in one process (two servers in one test) would both get it; a `flock`
  belongs to the open file, so they exclude each other as two processes do. The holder writes who it is into the
  file, so the others can say who leads. SQLite is one host's database, and so is this lock.
- PostgreSQL: a session advisory lock held on a connection of its own. The server drops it when that connection
  ends; TCP keep-alives, set per session, make a vanished host's connection end within the leader timeout. The
  holder names itself in the connection's `application_name`, which the others read from `pg_stat_activity`.

Every method returns quickly: the caller (the leadership watch) polls, never blocks on the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import asyncpg

from t3000gql.errors import StorageError
from t3000gql.storage.database import sqlite_path

log = logging.getLogger(__name__)

ADVISORY_KEYS = (7_433_000, 1)
"""The two int4 keys of the advisory lock (t3000 on a phone pad, then "leadership"): other advisory locks of
this database must use other keys."""
APPLICATION_NAME = "t3000gql leader"
"""How the holder's connection names itself; PostgreSQL keeps at most 63 bytes (the host is shortened)."""


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    """A process that leads (or wants to): its pid, its host and since when (epoch ms) it leads."""

    pid: int
    host: str
    since_ms: int

    @classmethod
    def of_this_process(cls, since_ms: int) -> LeaderInfo:
        return cls(os.getpid(), socket.gethostname(), since_ms)


class LeaderLock(Protocol):
    async def open(self) -> None:
        """Prepares (the PostgreSQL body connects); raises StorageError when the database cannot be reached."""

    async def try_acquire(self, me: LeaderInfo) -> bool:
        """Takes the lock if it is free (never waits); True when this process holds it now."""

    async def still_held(self) -> bool:
        """Whether the lock taken is still this process's (False once the connection holding it broke)."""

    async def holder(self) -> LeaderInfo | None:
        """Who holds the lock, as far as can be told; None when nobody (known) does."""

    async def release(self) -> None:
        """Gives the lock up (nothing happens when it is not held)."""

    async def close(self) -> None:
        """Releases and closes whatever `open` opened."""


def leader_lock(database_url: str, timeout_seconds: float) -> LeaderLock:
    """The lock that fits the database: a file beside a SQLite database, an advisory lock on PostgreSQL."""
    if urlsplit(database_url).scheme in ("postgresql", "postgres"):
        return AdvisoryLeaderLock(database_url, timeout_seconds)
    return FileLeaderLock(Path(sqlite_path(database_url) + ".leader"))


# --- SQLite: a file lock --------------------------------------------------------------------------------------


class FileLeaderLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    async def try_acquire(self, me: LeaderInfo) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        text = json.dumps({"pid": me.pid, "host": me.host, "since_ms": me.since_ms}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        """Held while the file at the path is the one locked: a file deleted and made anew by someone else is
        not this lock any more (its new holder would lead beside this process)."""
        if self._fd is None:
            return False
        try:
            held, now = os.fstat(self._fd), os.stat(self.path)
        except FileNotFoundError:
            return False
        return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)

    async def holder(self) -> LeaderInfo | None:
        try:
            data: dict[str, Any] = json.loads(self.path.read_bytes() or b"null") or {}
            info = LeaderInfo(int(data["pid"]), str(data["host"]), int(data["since_ms"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no file yet, or caught half-written
        if info.host == socket.gethostname() and not _alive(info.pid):
            return None  # it died; the next attempt of any process takes over
        return info

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the only descriptor of the open file drops its flock

    async def close(self) -> None:
        await self.release()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- PostgreSQL: an advisory lock -----------------------------------------------------------------------------

_HOLDER = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class AdvisoryLeaderLock:
    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.url = url
        self._timeout = timeout_seconds
        self._connection: Any = None
        self._held = False
        self._use = asyncio.Lock()  # one statement at a time on the one connection

    async def open(self) -> None:
        await self._connect()

    async def _connect(self) -> Any:
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        self._connection = None
        # Keep-alives per session: a leader whose host vanished loses its connection, and so the lock, within
        # about two thirds of the timeout; the others poll every third.
        idle = max(1, int(self._timeout / 3))
        settings = {
            "application_name": "t3000gql",
            "tcp_keepalives_idle": str(idle),
            "tcp_keepalives_interval": str(max(1, idle // 2)),
            "tcp_keepalives_count": "2",
        }
        try:
            self._connection = await asyncpg.connect(
                self.url, timeout=max(1.0, self._timeout / 3), server_settings=settings
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise StorageError(f"the leadership lock cannot reach PostgreSQL: {exc}") from exc
        return self._connection

    async def _fetchval(self, sql: str, *args: Any, reconnect: bool = True) -> Any:
        """One statement on the lock's connection (opened again if it closed, unless `reconnect` is False: a
        new connection does not hold the lock the old one held)."""
        async with self._use:
            if not reconnect and (self._connection is None or self._connection.is_closed()):
                await self._drop()
                raise StorageError("the connection holding the leadership lock is gone")
            connection = await self._connect()
            try:
                async with asyncio.timeout(max(1.0, self._timeout / 3)):
                    return await connection.fetchval(sql, *args)
            except BaseException:
                await self._drop()
                raise

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._held = False
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 1)
            if not connection.is_closed():
                connection.terminate()

    async def try_acquire(self, me: LeaderInfo) -> bool:
        if self._held:
            return True
        if not await self._fetchval("SELECT pg_try_advisory_lock($1, $2)", *ADVISORY_KEYS):
            return False
        self._held = True
        name = f"{APPLICATION_NAME} {me.pid} {me.since_ms} {me.host}"[:63]
        await self._fetchval("SELECT set_config('application_name', $1, false)", name)
        return True

    async def still_held(self) -> bool:
        if not self._held:
            return False
        try:
            await self._fetchval("SELECT 1", reconnect=False)
        except Exception as exc:
            log.warning("the connection holding leadership failed: %s", exc)
            return False
        return self._held

    async def holder(self) -> LeaderInfo | None:
        name = await self._fetchval(_HOLDER, *ADVISORY_KEYS)
        if not isinstance(name, str) or not name.startswith(APPLICATION_NAME + " "):
            return None
        try:
            pid, since_ms, host = name.removeprefix(APPLICATION_NAME + " ").split(" ", 2)
            return LeaderInfo(int(pid), host, int(since_ms))
        except ValueError:
            return None

    async def release(self) -> None:
        if not self._held:
            return
        self._held = False
        try:
            await self._fetchval("SELECT pg_advisory_unlock($1, $2)", *ADVISORY_KEYS, reconnect=False)
            await self._fetchval("SELECT set_config('application_name', 't3000gql', false)")
        except Exception:
            await self._drop()  # a connection that ends drops its locks all the same

    async def close(self) -> None:
        await self.release()
        async with self._use:
            await self._drop()

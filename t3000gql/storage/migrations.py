"""Numbered SQL files applied in order, each in its own transaction, recorded in `schema_version`.

Files live at the top of the repository in `migrations/<dialect>/NNNN_name.sql` (`sqlite/`, `postgres/`: the
same numbers and names, each in its database's own SQL); the wheel carries them as
`t3000gql/migrations/` (pyproject.toml's hatch `force-include`), so `migrations_dir()` looks inside the installed
package first and beside it (a source checkout or an editable install) second. A database that records a
version newer than the newest file was written by newer code: we refuse to touch it rather than guess.

Several processes may start at once on one database: each migration's transaction takes the database's write
lock first (SQLite's BEGIN IMMEDIATE; an advisory lock on PostgreSQL) and reads the version again inside it, so
a migration another process applied meanwhile is skipped, not applied twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from t3000gql.domain.timeutil import system_clock
from t3000gql.errors import MigrationError, StorageError
from t3000gql.storage.connection import Connection
from t3000gql.storage.database import DRIVER_ERRORS, Database

log = logging.getLogger(__name__)

_PACKAGE = Path(__file__).resolve().parent.parent
_PLACES = (_PACKAGE / "migrations", _PACKAGE.parent / "migrations")
"""Inside the installed package (from a wheel), then the top of the source tree (checkout, editable install)."""
FOLDERS = {"sqlite": "sqlite", "postgresql": "postgres"}
"""The migrations folder of each database kind."""
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    applied_at  BIGINT  NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def migrations_dir(dialect: str = "sqlite") -> Path:
    """The folder of one dialect's migration files, wherever t3000gql runs from."""
    for place in _PLACES:
        if (place / dialect).is_dir():
            return place / dialect
    raise MigrationError(f"no {dialect} migrations found (looked in {', '.join(str(p) for p in _PLACES)})")


def available_migrations(dialect: str = "sqlite") -> list[Migration]:
    folder = migrations_dir(dialect)
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number in {folder}")
    return found


async def _version_in(conn: Connection) -> int:
    for statement in conn.dialect.lock_migrations:
        await conn.execute(statement)
    await conn.execute(_CREATE_VERSION_TABLE)
    row = await conn.fetch_one("SELECT coalesce(max(version), 0) FROM schema_version")
    return int(row[0]) if row else 0


async def current_version(db: Database) -> int:
    async with db.writer() as conn:
        return await _version_in(conn)


BeforeChange = Callable[[int, int], Awaitable[object]]
"""Called with (the database's version, the newest) before the first migration changes an existing database."""


async def migrate(db: Database, *, before_change: BeforeChange | None = None) -> list[Migration]:
    """Brings the database to the newest version; returns the migrations it applied (none when up to date).

    `before_change` runs first when an existing database (version > 0) is about to change: the backup that
    seed 004 asks for (storage/backup.py); when it raises, nothing is migrated."""
    migrations = available_migrations(FOLDERS[db.backend])
    newest = migrations[-1].version if migrations else 0
    version = await current_version(db)
    if version > newest:
        raise MigrationError(
            f"the database {db.label} is at schema version {version}, newer than this t3000gql knows "
            f"({newest}): upgrade t3000gql, or restore a backup made by this version"
        )
    if before_change is not None and 0 < version < newest:
        await before_change(version, newest)
    applied = []
    for migration in migrations:
        if migration.version <= version:
            continue
        try:
            async with db.writer() as conn:
                if await _version_in(conn) >= migration.version:
                    continue  # another process applied it meanwhile
                await conn.execute_script(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, system_clock()),
                )
        except Exception as exc:
            if isinstance(exc, MigrationError) or not isinstance(exc, (StorageError, *DRIVER_ERRORS)):
                raise
            raise MigrationError(f"migration {migration.path.name} failed: {exc}") from exc
        log.info("applied migration %04d_%s", migration.version, migration.name)
        applied.append(migration)
    return applied

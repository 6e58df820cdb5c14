"""Backups of the whole database, taken while servers run and write, verified before they count; and restores
that refuse while a server uses the database.

- SQLite: SQLite's online backup API (`sqlite3.Connection.backup`), run inside one read transaction on the
  source: the row counts of every table are read in that transaction too, so they describe exactly the pages
  copied (WAL: writers go on meanwhile, the copy is of one instant). The copy is written beside its final name,
  checked (`PRAGMA integrity_check`, then every table's row count against the source's), and only then renamed
  into place.
- PostgreSQL: `pg_dump -Fc` on a snapshot exported by a REPEATABLE READ transaction that also counted every
  table's rows, so the counts and the dump are of one instant. The dump is checked with `pg_restore --list`
  (readable, one TABLE DATA entry per counted table).

Beside each backup goes a manifest `<backup>.json`: the database kind, its schema version, when, and the rows
of every table. `restore` loads a backup into DATABASE_URL and compares every table's rows with it afterwards.

A restore replaces the database, so it refuses while a server uses it: it takes the leadership lock
(`storage/leader_lock.py`; every set of servers on a database has a leader holding it) for the whole restore,
and on PostgreSQL also refuses while any other t3000gql session is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from t3000gql.config import Settings
from t3000gql.errors import MigrationError, StorageError
from t3000gql.storage.database import backend_of, sqlite_path
from t3000gql.storage.leader_lock import APPLICATION_NAME, LeaderInfo, leader_lock
from t3000gql.storage.migrations import FOLDERS, BeforeChange, available_migrations
from t3000gql.storage.postgres import dsn_of, redacted

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".json"
FORMAT = "t3000gql-backup/1"
EXTENSIONS = {"sqlite": ".sqlite3", "postgresql": ".pgdump"}
"""What a backup file of each database kind is called."""


class BackupError(StorageError):
    """A backup or restore that could not be made or did not verify; the message says what differed."""


class RestoreRefused(BackupError):
    """A restore refused before touching anything (a server uses the database)."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    manifest: Path
    backend: str
    size_bytes: int
    schema_version: int
    rows: dict[str, int]
    """Rows of every table at the instant of the backup, as verified in the copy."""
    checks: list[str] = field(default_factory=list)
    """What was verified, in words (printed by the CLI)."""


@dataclass(frozen=True, slots=True)
class RestoreReport:
    source: Path
    database: str
    rows: dict[str, int]
    checks: list[str]


# --- the manifest ------------------------------------------------------------------------------------------


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def _write_manifest(
    path: Path, backend: str, database: str, rows: dict[str, int], version: int, size: int
) -> Path:
    manifest = manifest_path(path)
    body = {
        "format": FORMAT,
        "backend": backend,
        "database": database,
        "file": path.name,
        "bytes": size,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "schema_version": version,
        "rows": rows,
    }
    partial = manifest.with_name(f"{manifest.name}.partial-{os.getpid()}")
    partial.write_text(json.dumps(body, indent=1, sort_keys=True), encoding="utf-8")
    _durable_replace(partial, manifest)
    return manifest


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest beside a backup, or None when there is none (a backup copied without it)."""
    manifest = manifest_path(path)
    if not manifest.is_file():
        return None
    try:
        body: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BackupError(f"{manifest} is not a backup manifest: {exc}") from exc
    if body.get("format") != FORMAT or not isinstance(body.get("rows"), dict):
        raise BackupError(f"{manifest} is not a t3000gql backup manifest ({FORMAT})")
    return body


def _durable_replace(partial: Path, final: Path) -> None:
    """Renames a finished file into place so that a crash leaves either the old name or the whole new file."""
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _compare(what: str, expected: dict[str, int], found: dict[str, int]) -> None:
    differs = [
        f"{table}: {expected.get(table, 'missing')} expected, {found.get(table, 'missing')} found"
        for table in sorted(set(expected) | set(found))
        if expected.get(table) != found.get(table)
    ]
    if differs:
        raise BackupError(f"{what} differs: " + "; ".join(differs))


# --- taking a backup ---------------------------------------------------------------------------------------


async def backup_database(database_url: str, path: Path) -> BackupReport:
    """Writes a verified backup of DATABASE_URL to `path` (and its manifest beside it); an existing file there
    is refused, never overwritten."""
    try:
        path = _new_backup_path(path)
    except OSError as exc:
        raise BackupError(f"cannot write a backup at {path}: {exc}") from exc
    backend = backend_of(database_url)
    if backend == "sqlite":
        rows, version = await asyncio.to_thread(_sqlite_backup, sqlite_path(database_url), path)
        checks = ["integrity_check ok", f"rows of {len(rows)} tables equal to the source's at the snapshot"]
    else:
        rows, version = await _pg_backup(database_url, path)
        checks = ["pg_restore --list reads it", f"TABLE DATA present for all {len(rows)} tables counted"]
    size = path.stat().st_size
    label = redacted(database_url) if backend == "postgresql" else sqlite_path(database_url)
    manifest = _write_manifest(path, backend, label, rows, version, size)
    log.info("backup of %s written to %s (%d bytes, %d rows)", label, path, size, sum(rows.values()))
    return BackupReport(path, manifest, backend, size, version, rows, checks)


def _new_backup_path(path: Path) -> Path:
    path = path.resolve()
    if path.exists():
        raise BackupError(f"{path} exists already; give a new file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _existing_backup(path: Path) -> Path:
    path = path.resolve()
    if not path.is_file():
        raise BackupError(f"no backup at {path}")
    return path


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in _sqlite_tables(conn)}


def _sqlite_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0])


def _sqlite_integrity(conn: sqlite3.Connection, what: str) -> None:
    result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise BackupError(f"{what} fails SQLite's integrity check: {'; '.join(map(str, result[:5]))}")


def _sqlite_backup(source: str, path: Path) -> tuple[dict[str, int], int]:
    if not Path(source).is_file():
        raise BackupError(f"no database at {source}")
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, isolation_level=None, timeout=30)
    try:
        # One read transaction: the counts and the pages copied are of the same instant.
        src.execute("BEGIN")
        counts = _sqlite_counts(src)
        version = _sqlite_version(src)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            # One self-contained file: no -wal/-shm beside the backup (a restore into WAL keeps WAL).
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
        src.execute("COMMIT")
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the backup of {source} failed: {exc}") from exc
    finally:
        src.close()
    try:
        _verify_sqlite_file(partial, counts, f"the backup {path}")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _durable_replace(partial, path)
    return counts, version


def _verify_sqlite_file(path: Path, expected: dict[str, int], what: str) -> None:
    check = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        _sqlite_integrity(check, what)
        _compare(f"{what}'s rows", expected, _sqlite_counts(check))
    finally:
        check.close()


_PG_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY c.relname
"""


async def _pg_counts(conn: Any) -> dict[str, int]:
    tables = [row[0] for row in await conn.fetch(_PG_TABLES)]
    return {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}


async def _pg_version(conn: Any) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")) if exists else 0


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed (PostgreSQL's client tools: apt-get install postgresql-client)"
        )
    return found


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump/psql without its password, and an environment carrying it as PGPASSWORD instead (a
    command line is visible to every local user in `ps`)."""
    parts = urlsplit(dsn_of(database_url))
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username}@{host}" if parts.username else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts), env


async def _run(*argv: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    if process.returncode != 0:
        raise BackupError(
            f"{Path(argv[0]).name} failed ({process.returncode}): {err.decode(errors='replace').strip()}"
        )
    return out


async def _pg_backup(database_url: str, path: Path) -> tuple[dict[str, int], int]:
    pg_dump = _tool("pg_dump")
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    conn = await _pg_connect(database_url, "t3000gql backup")
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            counts = await _pg_counts(conn)
            version = await _pg_version(conn)
            try:
                dsn, env = _libpq(database_url)
                await _run(pg_dump, "-Fc", f"--snapshot={snapshot}", "-f", str(partial), dsn, env=env)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
    finally:
        await conn.close()
    try:
        await _verify_pg_dump(partial, counts)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _durable_replace(partial, path)
    return counts, version


async def _verify_pg_dump(path: Path, counts: dict[str, int]) -> None:
    listing = (await _run(_tool("pg_restore"), "--list", str(path))).decode()
    with_data = {line.split()[-2] for line in listing.splitlines() if " TABLE DATA " in line}
    missing = sorted(set(counts) - with_data)
    if missing:
        raise BackupError(f"the dump {path} has no data for tables {missing}")


async def _pg_connect(database_url: str, name: str) -> Any:
    try:
        return await asyncpg.connect(dsn_of(database_url), server_settings={"application_name": name}, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise BackupError(f"cannot reach {redacted(database_url)}: {exc}") from exc


# --- restoring ---------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _nobody_serving(database_url: str, timeout_seconds: float) -> AsyncIterator[None]:
    """Holds the leadership lock for the block, or refuses when a server holds it (a server is running)."""
    lock = leader_lock(database_url, timeout_seconds)
    await lock.open()
    try:
        me = LeaderInfo.of_this_process(int(datetime.now(UTC).timestamp() * 1000))
        if not await lock.try_acquire(me):
            holder = await lock.holder()
            who = f"process {holder.pid} on {holder.host}" if holder else "another process"
            raise RestoreRefused(
                f"a server uses this database ({who} leads it): stop every server on it, then restore"
            )
        yield
    finally:
        await lock.close()


async def restore_database(
    database_url: str, path: Path, *, leader_timeout_seconds: float = 15.0
) -> RestoreReport:
    """Replaces DATABASE_URL's content with the backup at `path` and verifies every table's rows afterwards."""
    path = _existing_backup(path)
    manifest = read_manifest(path)
    backend = backend_of(database_url)
    if manifest is not None and manifest.get("backend") != backend:
        raise BackupError(f"{path} is a backup of a {manifest.get('backend')} database, DATABASE_URL is {backend}")
    newest = max((m.version for m in available_migrations(FOLDERS[backend])), default=0)
    if manifest is not None and int(manifest.get("schema_version", 0)) > newest:
        raise BackupError(
            f"{path} holds schema version {manifest['schema_version']}, newer than this t3000gql knows ({newest}): "
            "restore it with the t3000gql that wrote it"
        )
    expected = None if manifest is None else {str(k): int(v) for k, v in manifest["rows"].items()}
    async with _nobody_serving(database_url, leader_timeout_seconds):
        if backend == "sqlite":
            rows = await asyncio.to_thread(_sqlite_restore, path, Path(sqlite_path(database_url)), expected)
            checks = ["integrity_check ok", f"rows of {len(rows)} tables equal to the backup's"]
            label = sqlite_path(database_url)
        else:
            rows = await _pg_restore(database_url, path, expected)
            checks = [
                f"rows of {len(rows)} tables equal to the manifest's" if expected else "restored (no manifest)"
            ]
            label = redacted(database_url)
    log.info("restored %s from %s (%d rows)", label, path, sum(rows.values()))
    return RestoreReport(path, label, rows, checks)


def _sqlite_restore(path: Path, target: Path, expected: dict[str, int] | None) -> dict[str, int]:
    backup = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        _sqlite_integrity(backup, f"the backup {path}")  # refused before the database is touched
        counts = _sqlite_counts(backup)
        if expected is not None:
            _compare(f"the backup {path}'s rows against its manifest", expected, counts)
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            backup.backup(dst)  # page by page under SQLite's own locks: the WAL of the old content goes too
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"the restore of {target} from {path} failed: {exc}") from exc
    finally:
        backup.close()
    check = sqlite3.connect(target)
    try:
        _sqlite_integrity(check, f"the restored {target}")
        restored = _sqlite_counts(check)
    finally:
        check.close()
    _compare(f"the restored {target}'s rows", counts, restored)
    return restored


_OTHERS = """
SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND application_name LIKE 't3000gql%' AND application_name NOT LIKE $1
"""


async def _pg_restore(database_url: str, path: Path, expected: dict[str, int] | None) -> dict[str, int]:
    pg_restore, psql = _tool("pg_restore"), _tool("psql")
    await _run(pg_restore, "--list", str(path))  # a file pg_restore cannot read is refused before anything
    conn = await _pg_connect(database_url, "restore")
    try:
        mine = f"{APPLICATION_NAME} {os.getpid()} %"  # the leadership lock this restore holds
        others = int(await conn.fetchval(_OTHERS, mine))
        if others:
            raise RestoreRefused(
                f"{others} other t3000gql connection(s) use this database: stop every server first"
            )
        script = await _run(pg_restore, "--no-owner", "--no-privileges", "-f", "-", str(path))
        # One transaction: the old content goes and the backup's comes, or nothing changes.
        prelude = b"DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
        dsn, env = _libpq(database_url)
        await _run(
            psql,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
            "-d",
            dsn,
            "-f",
            "-",
            stdin=prelude + script,
            env=env,
        )
        restored = await _pg_counts(conn)
    finally:
        await conn.close()
    if expected is not None:
        _compare(f"the restored {redacted(database_url)}'s rows", expected, restored)
    return restored


# --- backups in a folder: scheduled, before a migration ---------------------------------------------------


def default_backup_dir(local_path: str) -> Path:
    """Beside the database: `<database file>.backups/` (PostgreSQL: `t3000gql-<database>.backups/` here)."""
    return Path(f"{local_path}.backups")


def backup_dir_of(setting: str, local_path: str) -> Path:
    """BACKUP_DIR, or beside the database when it is empty."""
    return Path(setting) if setting else default_backup_dir(local_path)


def backup_before_migration(settings: Settings, local_path: str) -> BeforeChange | None:
    """The hook `migrate` runs before it changes an existing database (None with BACKUP_BEFORE_MIGRATION off)."""
    if not settings.backup_before_migration:
        return None

    async def take(version: int, newest: int) -> None:
        folder = backup_dir_of(settings.backup_dir, local_path)
        try:
            report = await backup_into(settings.database_url, folder, "pre-migration", keep=settings.backup_keep)
        except StorageError as exc:
            raise MigrationError(
                f"no migration from schema version {version} to {newest}: the backup before it failed ({exc}); "
                "fix that, or set BACKUP_BEFORE_MIGRATION=false to migrate without one"
            ) from exc
        log.info("backup before migrating from version %d to %d: %s", version, newest, report.path)

    return take


def backup_name(kind: str, backend: str, now: datetime) -> str:
    return f"t3000gql-{kind}-{now.strftime('%Y%m%dT%H%M%S%fZ')}{EXTENSIONS[backend]}"


async def backup_into(database_url: str, folder: Path, kind: str, *, keep: int | None) -> BackupReport:
    """A backup named by its kind and time into `folder`; then, when `keep` is given, only the newest `keep`
    backups of that kind stay (with their manifests)."""
    backend = backend_of(database_url)
    report = await backup_database(database_url, folder / backup_name(kind, backend, datetime.now(UTC)))
    if keep is not None:
        for old in prune(folder, kind, backend, keep):
            log.info("removed the old backup %s (BACKUP_KEEP=%d)", old, keep)
    return report


def prune(folder: Path, kind: str, backend: str, keep: int) -> list[Path]:
    """Removes all but the newest `keep` backups of one kind (names sort by time); returns what it removed."""
    found = sorted(folder.glob(f"t3000gql-{kind}-*{EXTENSIONS[backend]}"))
    removed = found[: max(0, len(found) - keep)]
    for old in removed:
        old.unlink(missing_ok=True)
        manifest_path(old).unlink(missing_ok=True)
    return removed

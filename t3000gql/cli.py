"""`t3000gql serve | migrate | retention | export-schema | …`: thin commands that call the library and turn its
errors into one clear line on stderr (exit status 2 for bad configuration, 1 for other failures)."""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from t3000gql import __version__
from t3000gql.config import Settings
from t3000gql.errors import ConfigError, StorageError, T3000Error

Command = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, tuple[str, Command, Callable[[argparse.ArgumentParser], None]]] = {}


def command(name: str, help_text: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    def register(func: Command) -> Command:
        COMMANDS[name] = (help_text, func, arguments)
        return func

    return register


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (default: HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: PORT, 8000)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start a simulated T3 site (Modbus simulator on 127.0.0.1) and collect from it",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes sharing the one port (default 1); more than one needs a shared live bus "
        "(BROADCAST_URL=redis://…); one of them leads collection (docs/scaling.md)",
    )
    parser.add_argument("--no-access-log", dest="access_log", action="store_false", help="no log line per request")


@command("serve", "run the GraphQL server (GraphiQL at /graphql)", _serve_arguments)
def serve(args: argparse.Namespace, settings: Settings) -> int:
    """One process runs the app in itself. Several are uvicorn's supervisor over N workers on one socket: each
    worker builds the app from the environment (`app_from_environment`), a worker that dies is started again,
    SIGINT or SIGTERM stops them all gracefully, and a worker that cannot start at all stops the whole."""
    import os
    from dataclasses import replace

    import uvicorn

    from t3000gql.app import create_app
    from t3000gql.auth.authenticator import check_can_start
    from t3000gql.storage.store import Store

    settings = replace(  # the address served decides AUTH_REQUIRED's and ALLOWED_HOSTS' defaults
        settings, host=args.host or settings.host, port=args.port if args.port is not None else settings.port
    )
    if args.workers < 1:
        raise ConfigError("--workers", str(args.workers), "a number of processes >= 1")
    if args.workers > 1 and args.demo:
        raise ConfigError(
            "--demo", "with --workers", "one process (leave --workers at 1): the demo site is in-process"
        )
    if args.workers > 1 and settings.broadcast_url.startswith("memory:"):
        raise ConfigError(
            "BROADCAST_URL",
            settings.broadcast_url,
            "a bus the workers share (redis://…) with --workers > 1: memory:// keeps live values, registry changes "
            "and subscriptions inside each process",
        )

    async def check() -> None:  # refused here with one clear line, before uvicorn starts
        store = await Store.open(settings)
        try:
            now = store.clock()
            check_can_start(settings, [t for t in await store.tokens.list() if t.valid_at(now)])
        finally:
            await store.close()

    asyncio.run(check())
    if args.workers == 1:
        uvicorn.run(
            create_app(settings, demo=args.demo),
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=args.access_log,
            ws_ping_interval=None,  # graphql-transport-ws has its own keep-alive
        )
        return 0
    # The workers read their settings from the environment: the address given here must reach them too.
    os.environ.update(HOST=settings.host, PORT=str(settings.port))
    uvicorn.run(
        "t3000gql.app:app_from_environment",
        factory=True,
        workers=args.workers,
        host=settings.host,
        port=settings.port,
        log_config=_worker_logging(args.verbose),
        access_log=args.access_log,
        ws_ping_interval=None,
    )
    return 0


def _worker_logging(verbose: bool) -> dict[str, Any]:
    """uvicorn's logging configuration, plus our own loggers (the root) in the same form: a worker is a fresh
    process, so what `main` set up for this one does not reach it."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["t3000gql"] = {"format": "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"}
    config["handlers"]["t3000gql"] = {
        "class": "logging.StreamHandler",
        "formatter": "t3000gql",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"handlers": ["t3000gql"], "level": "DEBUG" if verbose else "INFO"}
    config["loggers"]["databases"] = {"level": "WARNING"}
    return config


def _token_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="create a token; it is printed once, as the last line",
        description="Create an API token. Only its hash is stored: the token is printed once, as the last line.",
    )
    create.add_argument("--name", required=True, help="what the token is for (1-64 letters, digits, _ . @ -)")
    create.add_argument(
        "--role", required=True, help="viewer, ingest, operator or admin (each includes the ones before)"
    )
    create.add_argument("--expires", type=int, metavar="DAYS", help="days until it expires (default: never)")
    listing = actions.add_parser(
        "list", help="list tokens (never their secrets)", description="List API tokens (never their secrets)."
    )
    listing.add_argument("--all", action="store_true", help="revoked tokens too")
    revoke = actions.add_parser(
        "revoke",
        help="revoke a token; servers refuse it at once (a shared live bus), else within AUTH_TOKEN_REFRESH_SECONDS",
        description="Revoke a token: running servers refuse it (and close its WebSockets) at once when they share "
        "a live bus (BROADCAST_URL=redis://…), else within AUTH_TOKEN_REFRESH_SECONDS.",
    )
    revoke.add_argument("name", metavar="NAME")


@command("token", "create, list and revoke API tokens (create | list | revoke)", _token_arguments)
def token_command(args: argparse.Namespace, settings: Settings) -> int:
    import getpass
    import socket

    from t3000gql.auth import Role
    from t3000gql.auth.tokens import create_token, revoke_token
    from t3000gql.domain.audit import Actor
    from t3000gql.domain.timeutil import to_datetime
    from t3000gql.peers import announce_token_change
    from t3000gql.storage.store import Store

    def when(ts_ms: int | None, none: str) -> str:
        return none if ts_ms is None else to_datetime(ts_ms).isoformat(timespec="seconds")

    try:
        where = f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        where = "cli"
    actor = Actor("cli", where)

    async def run() -> int:
        store = await Store.open(settings)
        try:
            if args.action == "create":
                role = Role.parse(args.role)
                created = await create_token(
                    store, store.clock, name=args.name, role=role, expires_days=args.expires, actor=actor
                )
                await announce_token_change(settings)
                print(
                    f"created token {args.name!r} ({role.label}), expires {when(created.record.expires_at, 'never')}"
                )
                print("send it as `Authorization: Bearer TOKEN`; it is shown only now (only its hash is stored):")
                print(created.secret)
            elif args.action == "revoke":
                record = await revoke_token(store, store.clock, name=args.name, actor=actor)
                await announce_token_change(settings)
                print(
                    f"revoked token {record.name!r} ({record.role}); servers refuse it at once over the live bus "
                    f"(BROADCAST_URL), else within {settings.auth_token_refresh_seconds:g} s"
                )
            else:
                records = await store.tokens.list(include_revoked=args.all)
                columns = ("name", "role", "created", "last used", "expires") + (("revoked",) if args.all else ())
                rows = [
                    (
                        r.name,
                        r.role,
                        when(r.created_at, "-"),
                        when(r.last_used_at, "never"),
                        when(r.expires_at, "never"),
                        *((when(r.revoked_at, "-"),) if args.all else ()),
                    )
                    for r in records
                ]
                widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows, strict=True)]
                for row in (columns, *rows):
                    print(
                        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                    )
        finally:
            await store.close()
        return 0

    return asyncio.run(run())


@command("migrate", "create or upgrade the database schema and exit")
def migrate_command(args: argparse.Namespace, settings: Settings) -> int:
    from t3000gql.storage.backup import backup_before_migration
    from t3000gql.storage.database import Database
    from t3000gql.storage.migrations import migrate

    async def run() -> int:
        db = Database.for_url(settings.database_url, pool_size=1)
        await db.connect()
        try:
            applied = await migrate(db, before_change=backup_before_migration(settings, db.local_path))
        finally:
            await db.disconnect()
        if applied:
            for migration in applied:
                print(f"applied {migration.version:04d}_{migration.name}")
        else:
            print(f"{db.label} is up to date")
        return 0

    return asyncio.run(run())


def _cli_actor() -> Any:
    """Who runs a command, for the audit log: `cli` from user@host."""
    import getpass
    import socket

    from t3000gql.domain.audit import Actor

    try:
        where = f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        where = "cli"
    return Actor("cli", where)


def _retention_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, help="keep this many days (default: DATA_RETENTION_DAYS)")
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be archived and removed; change nothing"
    )


@command(
    "retention",
    "archive (ARCHIVE_DIR, Parquet), verify, then remove history older than DATA_RETENTION_DAYS now",
    _retention_arguments,
)
def retention_command(args: argparse.Namespace, settings: Settings) -> int:
    from t3000gql.peers import announce_dropped_years
    from t3000gql.storage.store import Store

    if args.days is not None and args.days < 1:
        raise ConfigError("--days", str(args.days), "a whole number of days >= 1")

    async def run() -> int:
        store = await Store.open(settings)
        try:
            report = await store.apply_retention(actor=_cli_actor(), dry_run=args.dry_run, days=args.days)
        finally:
            await store.close()
        if report.dropped_years:
            await announce_dropped_years(settings, report.dropped_years)  # servers on the bus forget those years
        print(report.summary())
        if report.skipped:
            print("t3000gql: some parts changed while they were archived; run retention again", file=sys.stderr)
            return 1
        return 0

    return asyncio.run(run())


def _archive_restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="FILE", help="a Parquet archive retention wrote (ARCHIVE_DIR)")


@command(
    "archive-restore",
    "load a retention archive (Parquet) back into the database; loading it twice stores nothing twice",
    _archive_restore_arguments,
)
def archive_restore_command(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from t3000gql.storage.store import Store

    async def run() -> int:
        store = await Store.open(settings)
        try:
            report = await store.restore_archive(Path(args.path), actor=_cli_actor())
        finally:
            await store.close()
        print(
            f"{report.path}: {report.rows} rows of {report.table} read; {report.inserted} added, "
            f"{report.updated} updated, {report.unchanged} already stored"
        )
        return 0

    return asyncio.run(run())


def _backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="the backup file to write (must not exist)")


@command(
    "backup",
    "write a verified backup of the database to PATH while servers run (SQLite backup API; PostgreSQL pg_dump -Fc)",
    _backup_arguments,
)
def backup_command(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from t3000gql.storage.backup import backup_database

    report = asyncio.run(backup_database(settings.database_url, Path(args.path)))
    print(
        f"wrote {report.path} ({report.size_bytes:,} bytes, {report.backend}, schema version {report.schema_version})"
    )
    print(f"manifest {report.manifest}")
    print(f"verified: {'; '.join(report.checks)}")
    for table, rows in sorted(report.rows.items()):
        print(f"  {table:<32} {rows:>12,}")
    return 0


def _restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a backup written by `t3000gql backup` (its .json beside it)")


@command(
    "restore",
    "replace the database with a backup, then verify it; refused while a server uses the database",
    _restore_arguments,
)
def restore_command(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from t3000gql.storage.backup import restore_database

    report = asyncio.run(
        restore_database(
            settings.database_url, Path(args.path), leader_timeout_seconds=settings.leader_timeout_seconds
        )
    )
    print(f"restored {report.database} from {report.source}")
    print(f"verified: {'; '.join(report.checks)}")
    for table, rows in sorted(report.rows.items()):
        print(f"  {table:<32} {rows:>12,}")
    return 0


def _rebuild_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--point",
        action="append",
        metavar="DEVICE/TYPE/NUMBER",
        help="only this point (e.g. 1001/INPUT/3); repeat for several (default: every point)",
    )
    parser.add_argument("--since", metavar="DATE", help="from this UTC date or time on (ISO 8601; default: all)")


@command(
    "rebuild-rollups",
    "recompute the 5-minute, hourly and daily rollups from the raw history (after an import into an old database)",
    _rebuild_arguments,
)
def rebuild_rollups_command(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from t3000gql.domain.points import PointRef, PointType
    from t3000gql.domain.timeutil import from_datetime
    from t3000gql.storage import rollups
    from t3000gql.storage.store import Store

    refs = []
    for text in args.point or []:
        parts = text.split("/")
        try:
            refs.append(PointRef(int(parts[0]), PointType[parts[1].upper()], int(parts[2])))
        except (IndexError, KeyError, ValueError):
            raise ConfigError("--point", text, "DEVICE/TYPE/NUMBER, e.g. 1001/INPUT/3") from None
    since_ms = None
    if args.since is not None:
        try:
            moment = datetime.fromisoformat(args.since)
        except ValueError:
            raise ConfigError("--since", args.since, "an ISO 8601 date or time, e.g. 2024-01-01") from None
        since_ms = from_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))

    async def run() -> int:
        store = await Store.open(settings)
        try:
            point_ids = None
            if refs:
                found = await store.points.resolve(refs)
                missing = [str(ref) for ref in refs if ref not in found]
                if missing:
                    raise ConfigError("--point", ", ".join(missing), "existing points")
                point_ids = [found[ref] for ref in refs]
            await store.partitions.refresh(store.db)
            with Progress(
                TextColumn("[bold]rollups"), BarColumn(), MofNCompleteColumn(), TextColumn("point-years"),
                TimeRemainingColumn(), console=Console(stderr=True), disable=not sys.stderr.isatty(),
            ) as progress:  # fmt: skip
                task = progress.add_task("rollups", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                done = await rollups.rebuild_all(store.db, store.partitions.years, point_ids, since_ms, advance)
        finally:
            await store.close()
        print(f"rebuilt the rollups of {done} point-years")
        return 0

    return asyncio.run(run())


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="log files (text or JSON lines, see docs)")
    parser.add_argument(
        "--create-stations",
        action="store_true",
        help="create stations the logs name that do not exist yet (else their lines are reported invalid)",
    )
    parser.add_argument(
        "--rescan",
        action="store_true",
        help="read files from the start even if a checkpoint says they were imported (stores nothing twice)",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="where invalid and flagged lines are listed (default: ./import-report-*.txt)",
    )
    parser.add_argument("--batch", type=int, help="readings per transaction (default: IMPORT_BATCH_READINGS)")


@command("import-logs", "import the old station monitor's log files (resumable, idempotent)", _import_arguments)
def import_logs_command(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from t3000gql.ingest.importer import LogImporter, default_report_path, open_import_store
    from t3000gql.ingest.progress import RichImportProgress
    from t3000gql.ingest.stations import StationService, reading_limits

    if args.batch is not None and args.batch < 1:
        raise ConfigError("--batch", str(args.batch), "a number of readings >= 1")
    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise T3000Error(f"not a file: {', '.join(missing)}")

    async def run() -> int:
        store = await open_import_store(settings)
        report_path = Path(args.report) if args.report else default_report_path(store.clock())
        try:
            with report_path.open("w", encoding="utf-8") as report_file, RichImportProgress() as progress:
                importer = LogImporter(
                    StationService(store, reading_limits(settings)),
                    batch_readings=args.batch or settings.import_batch_readings,
                    timezone=settings.timezone,
                    create_stations=args.create_stations,
                    rescan=args.rescan,
                    report_file=report_file,
                    progress=progress,
                )
                report = await importer.run(paths)
        finally:
            await store.close()
        for result in report.files:
            state = (
                "already imported"
                if result.already_done
                else (f"resumed after line {result.resumed_at_line}" if result.resumed_at_line else "read")
            )
            print(
                f"{result.path}: {state}; {result.lines_read} lines, {result.imported} imported, "
                f"{result.duplicates} duplicates, {result.invalid} invalid, {result.flagged} flagged"
            )
        print(report.summary())
        print(f"report: {report_path}")
        return 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        print(
            "t3000gql: import interrupted; run the same command again to continue where it stopped",
            file=sys.stderr,
        )
        return 130
    except StorageError as exc:
        raise StorageError(f"{exc}; run the same command again to continue where it stopped") from exc


def _copy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, metavar="URL", help="the PostgreSQL database, postgresql://…")
    parser.add_argument("--from", dest="source", metavar="URL", help="the SQLite database (default: DATABASE_URL)")
    parser.add_argument("--batch", type=int, default=50_000, help="rows per transaction (default: 50000)")


@command(
    "copy-db",
    "copy a whole SQLite database into PostgreSQL (resumable; compares both sides at the end)",
    _copy_arguments,
)
def copy_db_command(args: argparse.Namespace, settings: Settings) -> int:
    from t3000gql.storage.copy_db import copy_database
    from t3000gql.storage.copy_progress import RichCopyProgress
    from t3000gql.storage.database import Database

    async def run() -> int:
        source = Database.for_url(args.source or settings.database_url, pool_size=1)
        target = Database.for_url(args.to, pool_size=1, busy_timeout_ms=settings.database_busy_timeout_ms)
        await source.connect()
        try:
            await target.connect()
            try:
                with RichCopyProgress() as progress:
                    report = await copy_database(
                        source, target, batch_rows=args.batch, progress=progress, log=print
                    )
            finally:
                await target.disconnect()
        finally:
            await source.disconnect()
        print(f"copied {source.label} -> {target.label}: {sum(report.copied.values())} rows written in this run")
        width = max(len(c.what) for c in report.comparisons) if report.comparisons else 10
        print(f"{'check':<{width}}  {'source':>24}  {'target':>24}")
        for c in report.comparisons:
            mark = "" if c.same else "  DIFFERS"
            print(f"{c.what:<{width}}  {c.source:>24,.15g}  {c.target:>24,.15g}{mark}")
        if not report.matches:
            print("t3000gql: the copy differs from its source (see DIFFERS above)", file=sys.stderr)
            return 1
        print("every table and partition matches")
        return 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        print("t3000gql: copy interrupted; run the same command again to continue", file=sys.stderr)
        return 130


@command("export-schema", "print the GraphQL schema (SDL); schema/schema.graphql is this output")
def export_schema_command(args: argparse.Namespace, settings: Settings) -> int:
    from t3000gql.api.schema import sdl

    sys.stdout.write(sdl())
    return 0


@command("export-openapi", "print the REST API's OpenAPI 3.1 document; schema/openapi.json is this output")
def export_openapi_command(args: argparse.Namespace, settings: Settings) -> int:
    from t3000gql.rest import rest_app
    from t3000gql.rest.openapi import document_json

    sys.stdout.write(document_json(rest_app()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="t3000gql",
        description="GraphQL server for building-automation data. Configuration comes from environment "
        "variables and ./.env (see README).",
    )
    parser.add_argument("--version", action="version", version=f"t3000gql {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, _func, arguments) in COMMANDS.items():
        arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env()
        return COMMANDS[args.command][1](args, settings)
    except ConfigError as exc:
        print(f"t3000gql: configuration error: {exc}", file=sys.stderr)
        return 2
    except T3000Error as exc:
        print(f"t3000gql: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

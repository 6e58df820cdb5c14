"""Settings from environment variables (names and defaults of seed 000), with a `.env` file read too.

Every variable is declared once, as a field of `Settings`: its name, its type (the annotation), the values it
accepts, its default and a line of documentation. `VARIABLES` (README's configuration table is checked against
it by a test) and `DEFAULTS` (the parsed defaults, which other modules use for their own default arguments) are
derived from those fields, so no default is written twice. The kinds of values are in setting_values.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from t3000gql.errors import ConfigError
from t3000gql.setting_values import (
    ANY_TEXT,
    AUTO_BOOLEAN,
    BOOLEAN,
    CHANNEL_PREFIX,
    CRON,
    FINITE_NUMBER,
    HOST_NAMES,
    LOOPBACK_NAMES,
    NON_EMPTY_TEXT,
    ORIGINS,
    TIME_ZONE,
    Values,
    integer,
    is_loopback,
    names,
    number_at_least,
    url,
)


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: what `variable()` declares on a field of `Settings`."""

    name: str
    field: str
    values: Values
    default: str
    doc: str

    def parse(self, raw: str) -> Any:
        return self.values.parse(self.name, raw)


def variable(name: str, values: Values, default: str, doc: str) -> Any:
    """Declares the environment variable behind a field of `Settings` (the field's name fills in later)."""
    return field(metadata={"variable": Variable(name, "", values, default, doc)})


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = variable(
        "DATABASE_URL",
        url("sqlite", "postgresql", "postgres"),
        "sqlite:///t3000gql.db",
        "Where everything is stored. `sqlite:///relative.db`, `sqlite:////absolute/path.db`, or `postgresql://user:password@host:5432/database` (see README, PostgreSQL).",
    )
    database_pool_size: int = variable(
        "DATABASE_POOL_SIZE",
        integer(1, 64),
        "10",
        "Reader connections (one writer besides), on SQLite and PostgreSQL alike.",
    )
    database_busy_timeout_ms: int = variable(
        "DATABASE_BUSY_TIMEOUT_MS",
        integer(0, 600_000),
        "5000",
        "How long a write waits for a lock held by another process before the database counts as unavailable.",
    )
    cache_duration_seconds: int = variable(
        "CACHE_DURATION_SECONDS",
        integer(1),
        "60",
        "How long a cached realtime value counts as fresh.",
    )
    cache_cleanup_interval_minutes: int = variable(
        "CACHE_CLEANUP_INTERVAL_MINUTES",
        integer(1),
        "5",
        "How often stale counters are refreshed and cache entries of deleted points dropped.",
    )
    data_retention_days: int = variable(
        "DATA_RETENTION_DAYS",
        integer(1),
        "1095",
        "History older than this is removed by retention (3 years by default).",
    )
    partition_cleanup_enabled: bool = variable(
        "PARTITION_CLEANUP_ENABLED",
        BOOLEAN,
        "true",
        "Run retention at start-up and then daily while the server runs (on the leader only).",
    )
    archive_dir: str = variable(
        "ARCHIVE_DIR",
        ANY_TEXT,
        "",
        "Where retention writes a Parquet archive of each partition (or part of one) before removing it; empty: beside the database, `<SQLite file>.archive/` (PostgreSQL: `t3000gql-<database>.archive/` in the working directory).",
    )
    backup_schedule: str = variable(
        "BACKUP_SCHEDULE",
        CRON,
        "",
        "When the leader takes a backup into BACKUP_DIR, as a cron expression in TIMEZONE (e.g. `0 3 * * *`: daily at 03:00); empty: no scheduled backups.",
    )
    backup_keep: int = variable(
        "BACKUP_KEEP",
        integer(1),
        "7",
        "How many scheduled backups (and, separately, backups taken before migrations) BACKUP_DIR keeps; older ones are removed.",
    )
    backup_dir: str = variable(
        "BACKUP_DIR",
        ANY_TEXT,
        "",
        "Where scheduled backups and backups before migrations go; empty: beside the database, `<SQLite file>.backups/` (PostgreSQL: `t3000gql-<database>.backups/` in the working directory).",
    )
    backup_before_migration: bool = variable(
        "BACKUP_BEFORE_MIGRATION",
        BOOLEAN,
        "true",
        "Take a verified backup into BACKUP_DIR before a migration changes an existing database (PostgreSQL: needs pg_dump).",
    )
    t3000_interface_timeout_ms: int = variable(
        "T3000_INTERFACE_TIMEOUT",
        integer(1),
        "5000",
        "Milliseconds a controller may take to answer one request.",
    )
    t3000_max_retries: int = variable(
        "T3000_MAX_RETRIES",
        integer(0, 20),
        "3",
        "Retries of a failed controller request.",
    )
    t3000_bulk_request_size: int = variable(
        "T3000_BULK_REQUEST_SIZE",
        integer(1, 1000),
        "100",
        "Most points read from a controller in one request.",
    )
    background_collection_enabled: bool = variable(
        "BACKGROUND_COLLECTION_ENABLED",
        BOOLEAN,
        "true",
        "Sample active trend logs on their schedules.",
    )
    default_trend_interval_seconds: int = variable(
        "DEFAULT_TREND_INTERVAL_SECONDS",
        integer(1, 86400),
        "900",
        "Interval of a trend log created without one.",
    )
    collector_error_retry_seconds: int = variable(
        "COLLECTOR_ERROR_RETRY_SECONDS",
        integer(1),
        "300",
        "How long a failing device is skipped before collection tries it again.",
    )
    collector_max_concurrent_devices: int = variable(
        "COLLECTOR_MAX_CONCURRENT_DEVICES",
        integer(1, 1000),
        "16",
        "Devices the collector reads at once; one slow device holds one of these, never the others.",
    )
    collector_backlog_memory_samples: int = variable(
        "COLLECTOR_BACKLOG_MEMORY_SAMPLES",
        integer(0, 10_000_000),
        "100000",
        "Samples the collector keeps in memory while the database refuses writes; more go to its spool file "
        "(COLLECTOR_SPOOL_PATH). All are written, in order, when the database takes writes again.",
    )
    collector_spool_path: str = variable(
        "COLLECTOR_SPOOL_PATH",
        ANY_TEXT,
        "",
        "Where the collector spools samples beyond COLLECTOR_BACKLOG_MEMORY_SAMPLES (and those in memory at "
        "shutdown); empty: the SQLite file's path plus `.collector-spool` (PostgreSQL: "
        "`t3000gql-<database>.collector-spool` in the working directory). Entries that cannot be written for "
        "another reason than an outage go to the same path plus `.dead`, with the reason.",
    )
    collector_retry_interval_ms: int = variable(
        "COLLECTOR_RETRY_INTERVAL_MS",
        integer(1, 3_600_000),
        "1000",
        "While the collector holds samples the database refused, how often it tries the database again.",
    )
    api_request_timeout_seconds: float = variable(
        "API_REQUEST_TIMEOUT_SECONDS",
        number_at_least(0.001),
        "30",
        "A GraphQL or REST request running longer is answered with a timeout error; a write that cannot get "
        "the database within it is answered with DATABASE_UNAVAILABLE before it.",
    )
    api_max_concurrent_requests: int = variable(
        "API_MAX_CONCURRENT_REQUESTS",
        integer(1),
        "100",
        "Requests served at once; the excess is refused at once with RATE_LIMITED.",
    )
    api_max_history_samples: int = variable(
        "API_MAX_HISTORY_SAMPLES",
        integer(1),
        "1000000",
        "Largest number of samples one request may read, all its history fields together (nested or not).",
    )
    api_persisted_query_cache_size: int = variable(
        "API_PERSISTED_QUERY_CACHE_SIZE",
        integer(0, 1_000_000),
        "1000",
        "Query texts remembered for automatic persisted queries (a client sends the hash only); 0 turns them off.",
    )
    api_list_plans: bool = variable(
        "API_LIST_PLANS",
        BOOLEAN,
        "true",
        "Lists of objects complete their plain fields in one loop (same answers, faster); false: graphql-core's "
        "field-by-field completion, to rule the fast path out when chasing a problem.",
    )
    api_gc_threshold: int = variable(
        "API_GC_THRESHOLD",
        integer(0, 10_000_000),
        "50000",
        "Allocations between two young-generation garbage collections of the server process (Python's default: "
        "700); objects alive after startup are frozen out of collection. A large answer (100,000 points) made "
        "that many collections, each walking what the answer had built so far: over half of its time. "
        "0 leaves Python's defaults.",
    )
    api_max_body_bytes: int = variable(
        "API_MAX_BODY_BYTES",
        integer(1024),
        "8388608",
        "Largest request body (bytes); a bigger one is refused with 413 before it is read.",
    )
    api_rate_limit_per_minute: int = variable(
        "API_RATE_LIMIT_PER_MINUTE",
        integer(0),
        "600",
        "Requests and WebSocket operations one API token may start per minute (bursts of as many); more get "
        "RATE_LIMITED (HTTP 429). 0: no limit. Requests without a token are not limited.",
    )
    auth_required: str = variable(
        "AUTH_REQUIRED",
        AUTO_BOOLEAN,
        "",
        "Every request needs an API token (`Authorization: Bearer …`). Empty: true unless HOST is a loopback "
        "address. The server refuses to start while it is true and no token exists.",
    )
    auth_token_refresh_seconds: float = variable(
        "AUTH_TOKEN_REFRESH_SECONDS",
        number_at_least(0.05),
        "2",
        "How often the server looks for tokens created or revoked by another process (`t3000gql token`), and "
        "closes the WebSockets of revoked or expired tokens.",
    )
    allowed_hosts: str = variable(
        "ALLOWED_HOSTS",
        HOST_NAMES,
        "",
        "Host names requests may be addressed to (the Host header; against DNS rebinding), comma-separated; "
        "`*.example.com` allows subdomains, `*` any. Empty: localhost, 127.0.0.1, ::1 and HOST.",
    )
    allowed_origins: str = variable(
        "ALLOWED_ORIGINS",
        ORIGINS,
        "",
        "Web origins (`https://scada.example.com`) whose pages may call the API from a browser (CORS and "
        "WebSockets), comma-separated; `*` any. Empty: same origin only.",
    )
    ws_max_connections: int = variable(
        "WS_MAX_CONNECTIONS",
        integer(1),
        "1000",
        "WebSocket connections open at once; one more is closed with 1013 (try again later).",
    )
    ws_max_operations_per_connection: int = variable(
        "WS_MAX_OPERATIONS_PER_CONNECTION",
        integer(1),
        "100",
        "Operations (subscriptions, queries) running at once on one WebSocket; one more gets an error.",
    )
    ws_max_messages_per_second: int = variable(
        "WS_MAX_MESSAGES_PER_SECOND",
        integer(1),
        "50",
        "Messages one WebSocket client may send per second (bursts of as many); a faster client is closed "
        "with 1008 (policy violation).",
    )
    bacnet_write_priority: int = variable(
        "BACNET_WRITE_PRIORITY",
        integer(1, 16),
        "8",
        "BACnet priority of writePointValue (and releasePointValue) when the request gives none; 8 is manual "
        "operator.",
    )
    max_clock_skew_seconds: int = variable(
        "MAX_CLOCK_SKEW_SECONDS",
        integer(0),
        "300",
        "A sample more than this many seconds in the future (by the server's clock) is refused.",
    )
    host: str = variable(
        "HOST",
        NON_EMPTY_TEXT,
        "127.0.0.1",
        "Address the server listens on.",
    )
    port: int = variable(
        "PORT",
        integer(0, 65535),
        "8000",
        "Port the server listens on.",
    )
    timezone: str = variable(
        "TIMEZONE",
        TIME_ZONE,
        "UTC",
        "Site time zone: how date-times without an offset in requests are read.",
    )
    broadcast_url: str = variable(
        "BROADCAST_URL",
        url("memory", "redis", "postgres", "postgresql"),
        "memory://",
        "Live bus: `memory://` in one process, `redis://host:6379` to share across processes.",
    )
    broadcast_channel_prefix: str = variable(
        "BROADCAST_CHANNEL_PREFIX",
        CHANNEL_PREFIX,
        "t3000gql",
        "Live bus channels are `<prefix>.points`, `<prefix>.devices` and `<prefix>.registry`: give each deployment sharing one Redis its own prefix.",
    )
    leader_timeout_seconds: float = variable(
        "LEADER_TIMEOUT_SECONDS",
        number_at_least(1),
        "15",
        "When the process that collects and runs the periodic jobs dies, another takes over within this many seconds (docs/scaling.md).",
    )
    live_queue_size: int = variable(
        "LIVE_QUEUE_SIZE",
        integer(1, 1_000_000),
        "1000",
        "Changes a subscription holds for a slow client before it keeps only the latest value per point.",
    )
    live_shared_subscriptions: bool = variable(
        "LIVE_SHARED_SUBSCRIPTIONS",
        BOOLEAN,
        "true",
        "Subscribers of the same subscription (same query, variables and role) share one execution and one serialized message per change; false runs each one on its own.",
    )
    station_monitor_enabled: bool = variable(
        "STATION_MONITOR_ENABLED",
        BOOLEAN,
        "true",
        "Connect to every station that has a WebSocket URL and record its readings while the server runs.",
    )
    station_flush_readings: int = variable(
        "STATION_FLUSH_READINGS",
        integer(1, 100_000),
        "500",
        "The station monitor writes its buffer once this many readings are waiting…",
    )
    station_flush_interval_ms: int = variable(
        "STATION_FLUSH_INTERVAL_MS",
        integer(1, 60_000),
        "250",
        "…or this many milliseconds after the oldest waiting reading arrived, whichever comes first.",
    )
    station_reconnect_min_ms: int = variable(
        "STATION_RECONNECT_MIN_MS",
        integer(1, 3_600_000),
        "500",
        "First wait before reconnecting to a station; doubles after each failed attempt…",
    )
    station_reconnect_max_ms: int = variable(
        "STATION_RECONNECT_MAX_MS",
        integer(1, 3_600_000),
        "30000",
        "…up to this many milliseconds.",
    )
    station_spool_path: str = variable(
        "STATION_SPOOL_PATH",
        ANY_TEXT,
        "",
        "Append-only file for readings that arrive while the database cannot take writes; empty: the SQLite file's path plus `.station-spool` (PostgreSQL: `t3000gql-<database>.station-spool` in the working directory).",
    )
    station_retry_interval_ms: int = variable(
        "STATION_RETRY_INTERVAL_MS",
        integer(1, 3_600_000),
        "1000",
        "While readings are spooled, how often the monitor tries the database again.",
    )
    station_power_min_w: float = variable(
        "STATION_POWER_MIN_W",
        FINITE_NUMBER,
        "0",
        "Smallest accepted activePower value (W); smaller readings are rejected.",
    )
    station_power_max_w: float = variable(
        "STATION_POWER_MAX_W",
        FINITE_NUMBER,
        "10000000",
        "Largest accepted activePower value (W).",
    )
    station_energy_min_kwh: float = variable(
        "STATION_ENERGY_MIN_KWH",
        FINITE_NUMBER,
        "0",
        "Smallest accepted muxPower energy counter (kWh).",
    )
    station_energy_max_kwh: float = variable(
        "STATION_ENERGY_MAX_KWH",
        FINITE_NUMBER,
        "1000000000",
        "Largest accepted muxPower energy counter (kWh).",
    )
    import_batch_readings: int = variable(
        "IMPORT_BATCH_READINGS",
        integer(1, 1_000_000),
        "5000",
        "Readings written (and checkpointed) per transaction by `t3000gql import-logs`.",
    )
    quality_gap_factor: float = variable(
        "QUALITY_GAP_FACTOR",
        number_at_least(1),
        "1.5",
        "`gaps` and `dataQuality` without minGapSeconds: a gap is a stretch without samples longer than this many trend log intervals.",
    )
    quality_flatline_seconds: int = variable(
        "QUALITY_FLATLINE_SECONDS",
        integer(0),
        "21600",
        "A value unchanged for longer than this is a flatline (quality UNCERTAIN); 0: flatlines are not looked for.",
    )
    quality_spike_factor: float = variable(
        "QUALITY_SPIKE_FACTOR",
        number_at_least(1),
        "10",
        "A short excursion further than this many times the recent spread (the mean change between neighbours) that comes back is a spike.",
    )
    quality_spike_window: int = variable(
        "QUALITY_SPIKE_WINDOW",
        integer(5, 10_000),
        "30",
        "How many recent changes between neighbouring samples make the spread that spikes are measured against.",
    )

    health_check_interval_seconds: float = variable(
        "HEALTH_CHECK_INTERVAL_SECONDS",
        number_at_least(0.05),
        "10",
        "How often the health metrics are measured and judged (a change of state is logged and sent to `healthAlerts` then).",
    )
    health_window_seconds: float = variable(
        "HEALTH_WINDOW_SECONDS",
        number_at_least(0.1),
        "300",
        "The window of the rates and averages in health (cache hit rate, query and response times, requests per minute); collection metrics always cover the last hour.",
    )
    health_write_probe_seconds: float = variable(
        "HEALTH_WRITE_PROBE_SECONDS",
        number_at_least(0.05),
        "3",
        "`/health/ready` is 503 while the database cannot take a write within this many seconds.",
    )
    health_cache_hit_rate_warning_percent: float = variable(
        "HEALTH_CACHE_HIT_RATE_WARNING_PERCENT",
        number_at_least(0),
        "90",
        "Cache hit rate below this is a warning…",
    )
    health_cache_hit_rate_critical_percent: float = variable(
        "HEALTH_CACHE_HIT_RATE_CRITICAL_PERCENT",
        number_at_least(0),
        "80",
        "…and below this critical.",
    )
    health_db_query_warning_ms: float = variable(
        "HEALTH_DB_QUERY_WARNING_MS",
        number_at_least(0),
        "100",
        "Average database query time above this is a warning…",
    )
    health_db_query_critical_ms: float = variable(
        "HEALTH_DB_QUERY_CRITICAL_MS",
        number_at_least(0),
        "500",
        "…and above this critical.",
    )
    health_collection_success_warning_percent: float = variable(
        "HEALTH_COLLECTION_SUCCESS_WARNING_PERCENT",
        number_at_least(0),
        "95",
        "Collection success rate (last hour) below this is a warning…",
    )
    health_collection_success_critical_percent: float = variable(
        "HEALTH_COLLECTION_SUCCESS_CRITICAL_PERCENT",
        number_at_least(0),
        "85",
        "…and below this critical.",
    )
    health_api_response_warning_ms: float = variable(
        "HEALTH_API_RESPONSE_WARNING_MS",
        number_at_least(0),
        "50",
        "Average API response time above this is a warning…",
    )
    health_api_response_critical_ms: float = variable(
        "HEALTH_API_RESPONSE_CRITICAL_MS",
        number_at_least(0),
        "200",
        "…and above this critical.",
    )
    health_disk_usage_warning_percent: float = variable(
        "HEALTH_DISK_USAGE_WARNING_PERCENT",
        number_at_least(0),
        "80",
        "Use of the database's volume above this is a warning…",
    )
    health_disk_usage_critical_percent: float = variable(
        "HEALTH_DISK_USAGE_CRITICAL_PERCENT",
        number_at_least(0),
        "95",
        "…and above this critical (and `/health/ready` is 503).",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
        """Reads the process environment over a `.env` file (the environment wins, as with most tools)."""
        merged: dict[str, str] = {}
        dotenv_path = env_file if env_file is not None else Path.cwd() / ".env"
        if dotenv_path.is_file():
            merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        merged.update(os.environ if environ is None else environ)
        return cls._parse(merged)

    @classmethod
    def _parse(cls, environ: Mapping[str, str]) -> Settings:
        settings = cls(**{v.field: v.parse(environ.get(v.name, v.default)) for v in VARIABLES})
        settings.check_ranges()
        return settings

    def check_ranges(self) -> None:
        """Rules that tie two variables together (each variable alone was checked by its parser)."""
        for low, high in (
            ("STATION_POWER_MIN_W", "STATION_POWER_MAX_W"),
            ("STATION_ENERGY_MIN_KWH", "STATION_ENERGY_MAX_KWH"),
            ("STATION_RECONNECT_MIN_MS", "STATION_RECONNECT_MAX_MS"),
        ):
            low_value, high_value = getattr(self, low.lower()), getattr(self, high.lower())
            if low_value > high_value:
                raise ConfigError(high, str(high_value), f"a value >= {low}={low_value}")
        for low, high in (
            ("HEALTH_CACHE_HIT_RATE_CRITICAL_PERCENT", "HEALTH_CACHE_HIT_RATE_WARNING_PERCENT"),
            ("HEALTH_DB_QUERY_WARNING_MS", "HEALTH_DB_QUERY_CRITICAL_MS"),
            ("HEALTH_COLLECTION_SUCCESS_CRITICAL_PERCENT", "HEALTH_COLLECTION_SUCCESS_WARNING_PERCENT"),
            ("HEALTH_API_RESPONSE_WARNING_MS", "HEALTH_API_RESPONSE_CRITICAL_MS"),
            ("HEALTH_DISK_USAGE_WARNING_PERCENT", "HEALTH_DISK_USAGE_CRITICAL_PERCENT"),
        ):
            low_value, high_value = getattr(self, low.lower()), getattr(self, high.lower())
            if low_value > high_value:
                raise ConfigError(high, f"{high_value:g}", f"a value >= {low}={low_value:g}")
        for name in (v.name for v in VARIABLES if v.name.endswith("_PERCENT")):
            value = getattr(self, name.lower())
            if value > 100:
                raise ConfigError(name, f"{value:g}", "a percentage <= 100")

    @classmethod
    def defaults(cls, **overrides: Any) -> Settings:
        """Default settings with some fields replaced: what tests and the benchmark start from."""
        unknown = set(overrides) - {v.field for v in VARIABLES}
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(DEFAULTS, **overrides)

    @property
    def t3000_interface_timeout(self) -> float:
        return self.t3000_interface_timeout_ms / 1000

    @property
    def requires_auth(self) -> bool:
        """AUTH_REQUIRED, or (when it is empty) whether HOST reaches beyond this machine."""
        return self.auth_required == "true" if self.auth_required else not is_loopback(self.host)

    @property
    def host_names(self) -> tuple[str, ...]:
        """ALLOWED_HOSTS, or (when it is empty) the loopback names and HOST."""
        return names(self.allowed_hosts) or tuple(dict.fromkeys((*LOOPBACK_NAMES, self.host.lower())))

    @property
    def origins(self) -> tuple[str, ...]:
        """ALLOWED_ORIGINS as a list (empty: same origin only)."""
        return names(self.allowed_origins)


VARIABLES: tuple[Variable, ...] = tuple(replace(f.metadata["variable"], field=f.name) for f in fields(Settings))
"""Every variable, in the order of the fields of `Settings`."""

DEFAULTS: Settings = Settings._parse({})
"""The settings with nothing set: the one place other modules take a default from (`DEFAULTS.live_queue_size`)."""

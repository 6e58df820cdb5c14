"""Settings from environment variables (names and defaults of seed 000), with a `.env` file read too.

Every variable is declared once in `VARIABLES`: its name, its parser, its default and a line of documentation.
README's configuration table is checked against this list by a test, so the two cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import os
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from t3000gql.errors import ConfigError

Parser = Callable[[str, str], Any]


def _int(minimum: int, maximum: int | None = None) -> Parser:
    def parse(name: str, raw: str) -> int:
        accepted = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(name, raw, accepted) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise ConfigError(name, raw, accepted)
        return value

    return parse


def _float(minimum: float) -> Parser:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigError(name, raw, f"a number >= {minimum}") from None
        if not value >= minimum or value == float("inf"):
            raise ConfigError(name, raw, f"a number >= {minimum}")
        return value

    return parse


def _number(name: str, raw: str) -> float:
    """Any finite number, negative too (a station's power range may include export)."""
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(name, raw, "a finite number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(name, raw, "a finite number")
    return value


def _optional_text(name: str, raw: str) -> str:
    return raw.strip()


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(name, raw, "true/false (also 1/0, yes/no, on/off)")


def _url(*schemes: str) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        scheme = urlsplit(value).scheme
        if scheme not in schemes:
            raise ConfigError(name, raw, "a URL starting with " + ", ".join(f"{s}://" for s in schemes))
        return value

    return parse


def _timezone(name: str, raw: str) -> str:
    value = raw.strip()
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(name, raw, "an IANA time zone name such as UTC or Europe/Berlin") from None
    return value


def _text(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ConfigError(name, raw, "a non-empty value")
    return value


def _optional_bool(name: str, raw: str) -> bool | None:
    """Empty: decided by another setting (see the variable's doc)."""
    return None if not raw.strip() else _bool(name, raw)


def _names(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list; empty items are dropped (so an empty value is an empty list)."""
    items = tuple(item.strip() for item in raw.split(","))
    if any(" " in item for item in items):
        raise ConfigError(name, raw, "names separated by commas, without spaces inside a name")
    return tuple(item for item in items if item)


def _origins(name: str, raw: str) -> tuple[str, ...]:
    origins = _names(name, raw)
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc or parts.path):
            raise ConfigError(name, raw, "origins such as https://scada.example.com (scheme, host, port), or *")
    return tuple(origin.rstrip("/").lower() for origin in origins)


def _channel_prefix(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or len(value) > 100 or not all(ch.isascii() and (ch.isalnum() or ch in "_.:-") for ch in value):
        raise ConfigError(name, raw, "1 to 100 letters, digits or _ . : -")
    return value


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    field: str
    parse: Parser
    default: str
    doc: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "DATABASE_URL",
        "database_url",
        _url("sqlite"),
        "sqlite:///t3000gql.db",
        "Where history lives. `sqlite:///relative.db` or `sqlite:////absolute/path.db`.",
    ),
    Variable(
        "DATABASE_POOL_SIZE", "database_pool_size", _int(1, 64), "10", "Reader connections (one writer besides)."
    ),
    Variable(
        "DATABASE_BUSY_TIMEOUT_MS",
        "database_busy_timeout_ms",
        _int(0, 600_000),
        "5000",
        "How long a write waits for a lock held by another process before the database counts as unavailable.",
    ),
    Variable(
        "CACHE_DURATION_SECONDS",
        "cache_duration_seconds",
        _int(1),
        "60",
        "How long a cached realtime value counts as fresh.",
    ),
    Variable(
        "CACHE_CLEANUP_INTERVAL_MINUTES",
        "cache_cleanup_interval_minutes",
        _int(1),
        "5",
        "How often stale counters are refreshed and cache entries of deleted points dropped.",
    ),
    Variable(
        "DATA_RETENTION_DAYS",
        "data_retention_days",
        _int(1),
        "1095",
        "History older than this is removed by retention (3 years by default).",
    ),
    Variable(
        "PARTITION_CLEANUP_ENABLED",
        "partition_cleanup_enabled",
        _bool,
        "true",
        "Run retention periodically (daily) while the server runs.",
    ),
    Variable(
        "T3000_INTERFACE_TIMEOUT",
        "t3000_interface_timeout_ms",
        _int(1),
        "5000",
        "Milliseconds a controller may take to answer one request.",
    ),
    Variable(
        "T3000_MAX_RETRIES", "t3000_max_retries", _int(0, 20), "3", "Retries of a failed controller request."
    ),
    Variable(
        "T3000_BULK_REQUEST_SIZE",
        "t3000_bulk_request_size",
        _int(1, 1000),
        "100",
        "Most points read from a controller in one request.",
    ),
    Variable(
        "BACKGROUND_COLLECTION_ENABLED",
        "background_collection_enabled",
        _bool,
        "true",
        "Sample active trend logs on their schedules.",
    ),
    Variable(
        "DEFAULT_TREND_INTERVAL_SECONDS",
        "default_trend_interval_seconds",
        _int(1, 86400),
        "900",
        "Interval of a trend log created without one.",
    ),
    Variable(
        "COLLECTOR_ERROR_RETRY_SECONDS",
        "collector_error_retry_seconds",
        _int(1),
        "300",
        "How long a failing device is skipped before collection tries it again.",
    ),
    Variable(
        "COLLECTOR_MAX_CONCURRENT_DEVICES",
        "collector_max_concurrent_devices",
        _int(1, 1000),
        "16",
        "Devices the collector reads at once; one slow device holds one of these, never the others.",
    ),
    Variable(
        "API_REQUEST_TIMEOUT_SECONDS",
        "api_request_timeout_seconds",
        _float(0.001),
        "30",
        "A GraphQL request running longer is answered with a timeout error.",
    ),
    Variable(
        "API_MAX_CONCURRENT_REQUESTS",
        "api_max_concurrent_requests",
        _int(1),
        "100",
        "Requests served at once; the excess is refused at once with RATE_LIMITED.",
    ),
    Variable(
        "API_MAX_HISTORY_SAMPLES",
        "api_max_history_samples",
        _int(1),
        "1000000",
        "Largest number of samples one request may read, all its history fields together (nested or not).",
    ),
    Variable(
        "API_PERSISTED_QUERY_CACHE_SIZE",
        "api_persisted_query_cache_size",
        _int(0, 1_000_000),
        "1000",
        "Query texts remembered for automatic persisted queries (a client sends the hash only); 0 turns them off.",
    ),
    Variable(
        "API_MAX_BODY_BYTES",
        "api_max_body_bytes",
        _int(1024),
        "8388608",
        "Largest request body (bytes); a bigger one is refused with 413 before it is read.",
    ),
    Variable(
        "API_RATE_LIMIT_PER_MINUTE",
        "api_rate_limit_per_minute",
        _int(0),
        "600",
        "Requests and WebSocket operations one API token may start per minute (bursts of as many); more get "
        "RATE_LIMITED (HTTP 429). 0: no limit. Requests without a token are not limited.",
    ),
    Variable(
        "AUTH_REQUIRED",
        "auth_required",
        _optional_bool,
        "",
        "Every request needs an API token (`Authorization: Bearer …`). Empty: true unless HOST is a loopback "
        "address. The server refuses to start while it is true and no token exists.",
    ),
    Variable(
        "AUTH_TOKEN_REFRESH_SECONDS",
        "auth_token_refresh_seconds",
        _float(0.05),
        "2",
        "How often the server looks for tokens created or revoked by another process (`t3000gql token`), and "
        "closes the WebSockets of revoked or expired tokens.",
    ),
    Variable(
        "ALLOWED_HOSTS",
        "allowed_hosts",
        _names,
        "",
        "Host names requests may be addressed to (the Host header; against DNS rebinding), comma-separated; "
        "`*.example.com` allows subdomains, `*` any. Empty: localhost, 127.0.0.1, ::1 and HOST.",
    ),
    Variable(
        "ALLOWED_ORIGINS",
        "allowed_origins",
        _origins,
        "",
        "Web origins (`https://scada.example.com`) whose pages may call the API from a browser (CORS and "
        "WebSockets), comma-separated; `*` any. Empty: same origin only.",
    ),
    Variable(
        "WS_MAX_CONNECTIONS",
        "ws_max_connections",
        _int(1),
        "1000",
        "WebSocket connections open at once; one more is closed with 1013 (try again later).",
    ),
    Variable(
        "WS_MAX_OPERATIONS_PER_CONNECTION",
        "ws_max_operations_per_connection",
        _int(1),
        "100",
        "Operations (subscriptions, queries) running at once on one WebSocket; one more gets an error.",
    ),
    Variable(
        "WS_MAX_MESSAGES_PER_SECOND",
        "ws_max_messages_per_second",
        _int(1),
        "50",
        "Messages one WebSocket client may send per second (bursts of as many); a faster client is closed "
        "with 1008 (policy violation).",
    ),
    Variable(
        "BACNET_WRITE_PRIORITY",
        "bacnet_write_priority",
        _int(1, 16),
        "8",
        "BACnet priority of writePointValue (and releasePointValue) when the request gives none; 8 is manual "
        "operator.",
    ),
    Variable(
        "MAX_CLOCK_SKEW_SECONDS",
        "max_clock_skew_seconds",
        _int(0),
        "300",
        "A sample more than this many seconds in the future (by the server's clock) is refused.",
    ),
    Variable("HOST", "host", _text, "127.0.0.1", "Address the server listens on."),
    Variable("PORT", "port", _int(0, 65535), "8000", "Port the server listens on."),
    Variable(
        "TIMEZONE",
        "timezone",
        _timezone,
        "UTC",
        "Site time zone: how date-times without an offset in requests are read.",
    ),
    Variable(
        "BROADCAST_URL",
        "broadcast_url",
        _url("memory", "redis", "postgres", "postgresql"),
        "memory://",
        "Live bus: `memory://` in one process, `redis://host:6379` to share across processes.",
    ),
    Variable(
        "BROADCAST_CHANNEL_PREFIX",
        "broadcast_channel_prefix",
        _channel_prefix,
        "t3000gql",
        "Live bus channels are `<prefix>.points` and `<prefix>.devices`: give each deployment sharing one "
        "Redis its own prefix.",
    ),
    Variable(
        "LIVE_QUEUE_SIZE",
        "live_queue_size",
        _int(1, 1_000_000),
        "1000",
        "Changes a subscription holds for a slow client before it keeps only the latest value per point.",
    ),
    Variable(
        "STATION_MONITOR_ENABLED",
        "station_monitor_enabled",
        _bool,
        "true",
        "Connect to every station that has a WebSocket URL and record its readings while the server runs.",
    ),
    Variable(
        "STATION_FLUSH_READINGS",
        "station_flush_readings",
        _int(1, 100_000),
        "500",
        "The station monitor writes its buffer once this many readings are waiting…",
    ),
    Variable(
        "STATION_FLUSH_INTERVAL_MS",
        "station_flush_interval_ms",
        _int(1, 60_000),
        "250",
        "…or this many milliseconds after the oldest waiting reading arrived, whichever comes first.",
    ),
    Variable(
        "STATION_RECONNECT_MIN_MS",
        "station_reconnect_min_ms",
        _int(1, 3_600_000),
        "500",
        "First wait before reconnecting to a station; doubles after each failed attempt…",
    ),
    Variable(
        "STATION_RECONNECT_MAX_MS",
        "station_reconnect_max_ms",
        _int(1, 3_600_000),
        "30000",
        "…up to this many milliseconds.",
    ),
    Variable(
        "STATION_SPOOL_PATH",
        "station_spool_path",
        _optional_text,
        "",
        "Append-only file for readings that arrive while the database cannot take writes; empty: the database "
        "file's path plus `.station-spool`.",
    ),
    Variable(
        "STATION_RETRY_INTERVAL_MS",
        "station_retry_interval_ms",
        _int(1, 3_600_000),
        "1000",
        "While readings are spooled, how often the monitor tries the database again.",
    ),
    Variable(
        "STATION_POWER_MIN_W",
        "station_power_min_w",
        _number,
        "0",
        "Smallest accepted activePower value (W); smaller readings are rejected.",
    ),
    Variable(
        "STATION_POWER_MAX_W",
        "station_power_max_w",
        _number,
        "10000000",
        "Largest accepted activePower value (W).",
    ),
    Variable(
        "STATION_ENERGY_MIN_KWH",
        "station_energy_min_kwh",
        _number,
        "0",
        "Smallest accepted muxPower energy counter (kWh).",
    ),
    Variable(
        "STATION_ENERGY_MAX_KWH",
        "station_energy_max_kwh",
        _number,
        "1000000000",
        "Largest accepted muxPower energy counter (kWh).",
    ),
    Variable(
        "IMPORT_BATCH_READINGS",
        "import_batch_readings",
        _int(1, 1_000_000),
        "5000",
        "Readings written (and checkpointed) per transaction by `t3000gql import-logs`.",
    ),
)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    database_pool_size: int
    cache_duration_seconds: int
    cache_cleanup_interval_minutes: int
    data_retention_days: int
    partition_cleanup_enabled: bool
    t3000_interface_timeout_ms: int
    t3000_max_retries: int
    t3000_bulk_request_size: int
    background_collection_enabled: bool
    default_trend_interval_seconds: int
    collector_error_retry_seconds: int
    collector_max_concurrent_devices: int
    api_request_timeout_seconds: float
    api_max_concurrent_requests: int
    api_max_history_samples: int
    api_persisted_query_cache_size: int
    api_max_body_bytes: int
    api_rate_limit_per_minute: int
    auth_required: bool | None
    auth_token_refresh_seconds: float
    allowed_hosts: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    ws_max_connections: int
    ws_max_operations_per_connection: int
    ws_max_messages_per_second: int
    bacnet_write_priority: int
    max_clock_skew_seconds: int
    host: str
    port: int
    timezone: str
    broadcast_url: str
    broadcast_channel_prefix: str
    live_queue_size: int
    database_busy_timeout_ms: int
    station_monitor_enabled: bool
    station_flush_readings: int
    station_flush_interval_ms: int
    station_reconnect_min_ms: int
    station_reconnect_max_ms: int
    station_spool_path: str
    station_retry_interval_ms: int
    station_power_min_w: float
    station_power_max_w: float
    station_energy_min_kwh: float
    station_energy_max_kwh: float
    import_batch_readings: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
        """Reads the process environment over a `.env` file (the environment wins, as with most tools)."""
        merged: dict[str, str] = {}
        dotenv_path = env_file if env_file is not None else Path.cwd() / ".env"
        if dotenv_path.is_file():
            merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        merged.update(os.environ if environ is None else environ)
        values = {}
        for variable in VARIABLES:
            raw = merged.get(variable.name, variable.default)
            values[variable.field] = variable.parse(variable.name, raw)
        settings = cls(**values)
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

    @classmethod
    def defaults(cls, **overrides: Any) -> Settings:
        """Default settings with some fields replaced: what tests and the benchmark start from."""
        base = cls.from_env(environ={}, env_file=Path("/nonexistent"))
        names = {f.name for f in fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return cls(**{**{n: getattr(base, n) for n in names}, **overrides})

    @property
    def t3000_interface_timeout(self) -> float:
        return self.t3000_interface_timeout_ms / 1000

    @property
    def requires_auth(self) -> bool:
        """AUTH_REQUIRED, or (when it is empty) whether HOST reaches beyond this machine."""
        return self.auth_required if self.auth_required is not None else not is_loopback(self.host)

    @property
    def host_names(self) -> tuple[str, ...]:
        """ALLOWED_HOSTS, or (when it is empty) the loopback names and HOST."""
        if self.allowed_hosts:
            return tuple(name.lower() for name in self.allowed_hosts)
        return tuple(dict.fromkeys((*LOOPBACK_NAMES, self.host.lower())))


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """True for an address (or `localhost`) that only this machine can reach."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

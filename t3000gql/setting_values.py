"""The kinds of values a setting accepts (t3000gql/config.py declares which variable takes which).

Each kind is a `Values`: the Python type, the allowed values in words (what a configuration error says is
accepted) and the conversion from text.
"""

from __future__ import annotations

import ipaddress
import math
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cronsim import CronSim, CronSimError

from t3000gql.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Values:
    """What a variable accepts: its Python type, the allowed values in words (for errors and docs), and the
    conversion from (stripped) text, which raises ValueError for anything not allowed."""

    type: type
    accepted: str
    convert: Callable[[str], Any]

    def parse(self, name: str, raw: str) -> Any:
        try:
            return self.convert(raw.strip())
        except ValueError:
            raise ConfigError(name, raw, self.accepted) from None


def _check(ok: bool, text: str) -> None:
    if not ok:
        raise ValueError(text)


def integer(minimum: int, maximum: int | None = None) -> Values:
    def convert(text: str) -> int:
        value = int(text)
        _check(value >= minimum and (maximum is None or value <= maximum), text)
        return value

    return Values(int, f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else ""), convert)


def number_at_least(minimum: float) -> Values:
    def convert(text: str) -> float:
        value = float(text)
        _check(value >= minimum and math.isfinite(value), text)
        return value

    return Values(float, f"a number >= {minimum}", convert)


def _finite(text: str) -> float:
    value = float(text)
    _check(math.isfinite(value), text)
    return value


FINITE_NUMBER = Values(float, "a finite number", _finite)
"""Negative too: a station's power range may include export."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(text: str) -> bool:
    lowered = text.lower()
    _check(lowered in _TRUE | _FALSE, text)
    return lowered in _TRUE


BOOLEAN = Values(bool, "true/false (also 1/0, yes/no, on/off)", _bool)


def url(*schemes: str) -> Values:
    def convert(text: str) -> str:
        _check(urlsplit(text).scheme in schemes, text)
        return text

    return Values(str, "a URL starting with " + ", ".join(f"{s}://" for s in schemes), convert)


def _time_zone(text: str) -> str:
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(text) from None
    return text


TIME_ZONE = Values(str, "an IANA time zone name such as UTC or Europe/Berlin", _time_zone)


def _non_empty(text: str) -> str:
    _check(bool(text), text)
    return text


NON_EMPTY_TEXT = Values(str, "a non-empty value", _non_empty)
ANY_TEXT = Values(str, "any text (empty too)", str)


def _channel_prefix(text: str) -> str:
    _check(0 < len(text) <= 100 and all(ch.isascii() and (ch.isalnum() or ch in "_.:-") for ch in text), text)
    return text


CHANNEL_PREFIX = Values(str, "1 to 100 letters, digits or _ . : -", _channel_prefix)


def _auto_boolean(text: str) -> str:
    lowered = text.lower()
    _check(lowered in _TRUE | _FALSE | {""}, text)
    return "" if not lowered else "true" if lowered in _TRUE else "false"


AUTO_BOOLEAN = Values(
    str, "true/false (also 1/0, yes/no, on/off), or empty to let another setting decide", _auto_boolean
)
"""Kept as "true", "false" or "" (decided elsewhere): `Settings` reads it through a property."""


def _cron(text: str) -> str:
    """Empty (no schedule), or a cron expression cronsim (aiocron's parser) accepts."""
    text = text.strip()
    if text:
        try:
            CronSim(text, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise ValueError(text) from exc
    return text


CRON = Values(str, "empty, or a cron expression such as `0 3 * * *` (minute hour day month weekday)", _cron)


def names(text: str) -> tuple[str, ...]:
    """A comma-separated list; empty items are dropped (an empty text is an empty list)."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _host_names(text: str) -> str:
    _check(all(" " not in item and "/" not in item for item in names(text)), text)
    return ",".join(item.lower() for item in names(text))


HOST_NAMES = Values(
    str, "host names separated by commas (`*.example.com` for subdomains, `*` for any)", _host_names
)


def _origin(item: str) -> bool:
    parts = urlsplit(item)
    return item == "*" or (parts.scheme in ("http", "https") and bool(parts.netloc) and parts.path in ("", "/"))


def _origins(text: str) -> str:
    _check(all(_origin(item) for item in names(text)), text)
    return ",".join(item.rstrip("/").lower() for item in names(text))


ORIGINS = Values(
    str, "web origins such as https://scada.example.com (scheme, host, port), comma-separated, or *", _origins
)


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """True for an address (or `localhost`) that only this machine can reach."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

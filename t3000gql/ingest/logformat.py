"""The old station monitor's log lines (seed 004's LogEntry), parsed without I/O. Two formats, told apart by
the first character of the line; docs/stations.md is the reference:

Text (what the monitor wrote):
    [2024-01-15T10:30:00.000Z] TV-Station-1 activePower1=1523.4 activePower2=1498.2 muxPower1=10234.56

JSON lines:
    {"timestamp": "2024-01-15T10:30:00Z", "station": "TV-Station-1", "activePower1": 1523.4, "muxPower1": 10234.56}
    {"timestamp": 1705314600000, "station": "TV-Station-1", "readings": {"activePower1": 1523.4}}

Blank lines and lines starting with `#` are skipped. A timestamp without an offset is read in the site's time
zone (TIMEZONE). Range checks are not made here: they belong to the station service, so that a log line and an
API call obey the same rules.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

import orjson

from t3000gql.config import DEFAULTS
from t3000gql.domain.stations import CHANNEL_COUNT, CHANNEL_FIELDS, CHANNEL_INDEX, ChannelValues

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class LineError(ValueError):
    """Why a line is not a reading; the importer reports it with file and line number."""


class LogEntry(NamedTuple):
    """One parsed line (a NamedTuple: a million of them are made per million lines)."""

    ts_ms: int
    station: str
    values: ChannelValues


class LineParser:
    """Parses lines of either format. Returns None for lines to skip, raises LineError for bad lines."""

    def __init__(self, timezone: str = DEFAULTS.timezone) -> None:
        self._zone: tzinfo = UTC if timezone == "UTC" else zoneinfo.ZoneInfo(timezone)
        self._last: tuple[str, int] = ("", 0)
        """The last timestamp parsed: a monitor logs all its stations at the same instant, line after line."""

    def parse(self, line: str) -> LogEntry | None:
        text = line.strip()
        if not text or text[0] == "#":
            return None
        if text[0] == "{":
            return self._json(text)
        if text[0] == "[":
            return self._text(text)
        raise LineError("is neither a text log line (starting with '[') nor a JSON object")

    def timestamp(self, raw: str) -> int:
        if raw == self._last[0]:
            return self._last[1]
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise LineError(f"timestamp {raw!r} is not an ISO-8601 date and time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self._zone)
        ts_ms: int = (moment - _EPOCH) // _MS
        self._last = (raw, ts_ms)
        return ts_ms

    def _text(self, text: str) -> LogEntry:
        close = text.find("]")
        if close < 0:
            raise LineError("has no ']' after the timestamp")
        ts_ms = self.timestamp(text[1:close].strip())
        words = text[close + 1 :].split()
        if not words:
            raise LineError("has no station name after the timestamp")
        if len(words) == 1:
            raise LineError("has no readings (expected channel=value after the station name)")
        values: list[float | None] = [None] * CHANNEL_COUNT
        for word in words[1:]:
            key, sep, raw = word.partition("=")
            position = CHANNEL_INDEX.get(key)
            if not sep or position is None:
                raise LineError(f"{word!r} is not channel=value with a known channel")
            if values[position] is not None:
                raise LineError(f"names {key} twice")
            if raw == "null":
                continue
            try:
                values[position] = float(raw)
            except ValueError:
                raise LineError(f"{key}={raw!r} is not a number") from None
        return LogEntry(ts_ms, words[0], tuple(values))

    def _json(self, text: str) -> LogEntry:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise LineError(f"is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise LineError("is not a JSON object")
        return self.reading_object(data)

    def reading_object(self, data: dict[str, Any], station: str | None = None) -> LogEntry:
        """A reading as a JSON object (a JSON log line or a live monitor message). Keys at the top level that
        are not channels are metadata and ignored; inside "readings" every key must be a channel. `station`
        is the name to use when the object names none (a monitor connection knows its station)."""
        named = data.get("station", station)
        if not isinstance(named, str) or not named:
            raise LineError('has no "station" name')
        raw_ts = data.get("timestamp")
        if isinstance(raw_ts, str):
            ts_ms = self.timestamp(raw_ts)
        elif isinstance(raw_ts, int) and not isinstance(raw_ts, bool):
            ts_ms = raw_ts
        else:
            raise LineError('has no "timestamp" (an ISO-8601 text or epoch milliseconds)')
        nested = "readings" in data
        channels = data["readings"] if nested else data
        if not isinstance(channels, dict):
            raise LineError('"readings" is not an object')
        values: list[float | None] = [None] * CHANNEL_COUNT
        for key, value in channels.items():
            position = CHANNEL_INDEX.get(key)
            if position is None:
                if nested:
                    raise LineError(f"{key!r} is not a known channel")
                continue
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise LineError(f"{key}={value!r} is not a number")
            values[position] = float(value)
        return LogEntry(ts_ms, named, tuple(values))


def format_text_line(ts_ms: int, station: str, values: ChannelValues) -> str:
    """The text format, as the monitor wrote it (used by tests and the benchmark to make log files)."""
    moment = _EPOCH + ts_ms * _MS
    readings = " ".join(
        f"{name}={value!r}" for name, value in zip(CHANNEL_FIELDS, values, strict=True) if value is not None
    )
    return f"[{moment.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}] {station} {readings}\n"

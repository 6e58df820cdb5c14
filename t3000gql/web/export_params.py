"""The query parameters of `/export.csv`, each declared once in `PARAMETERS` with its parser.

A parameter the table does not name is refused (400) rather than ignored, so a client that asks for something
the server does not do learns it at once instead of getting other data than it asked for. `calendar` (HOUR, DAY,
WEEK, MONTH, YEAR) buckets by the site's clocks (TIMEZONE), DST-correct, as the GraphQL `buckets` query does. Every error names the parameter and the value; nothing is read before all
parameters are valid.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from t3000gql.domain.calendar import CalendarUnit
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Aggregate
from t3000gql.domain.timeutil import MAX_TS_MS, MIN_TS_MS, from_datetime
from t3000gql.errors import ValidationError

TimeFormat = Literal["iso", "ms"]
MAX_POINTS = 1000
MAX_INTERVAL_SECONDS = 366 * 86400


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """What to export: points, the half-open range [start, end), raw samples or buckets, how times read."""

    points: tuple[PointRef, ...]
    start_ms: int
    end_ms: int
    interval_seconds: int | None = None
    calendar: CalendarUnit | None = None
    aggregates: tuple[Aggregate, ...] = ()
    time_format: TimeFormat = "iso"


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    parse: Callable[[str, str], Any]
    """(raw value, site time zone) -> the value, or ValidationError(field=name)."""
    field: str
    """The ExportQuery field it fills."""
    required: bool = False
    repeatable: bool = False


def _point(item: str, index: int) -> PointRef:
    parts = item.strip().split(":")
    if len(parts) != 3:
        raise ValidationError(
            "is not DEVICE:TYPE:NUMBER (e.g. 9001:INPUT:1)", field="points", index=index, value=item
        )
    device, kind, number = (part.strip() for part in parts)
    try:
        point_type = PointType(int(kind)) if kind.isdigit() else PointType[kind.upper()]
    except (KeyError, ValueError):
        raise ValidationError(
            f"has an unknown point type {kind!r} (one of {', '.join(t.name for t in PointType)})",
            field="points",
            index=index,
            value=item,
        ) from None
    if not device.isdigit() or not number.isdigit():
        raise ValidationError(
            "needs a whole device id and point number, e.g. 9001:INPUT:1", field="points", index=index, value=item
        )
    return PointRef(int(device), point_type, int(number))


def _points(raw: str, _tz: str) -> tuple[PointRef, ...]:
    items = [item for item in raw.split(",") if item.strip()]
    if not items:
        raise ValidationError("names no point: give DEVICE:TYPE:NUMBER[,…]", field="points", value=raw)
    if len(items) > MAX_POINTS:
        raise ValidationError(f"names more than {MAX_POINTS} points", field="points", value=len(items))
    refs = tuple(dict.fromkeys(_point(item, index) for index, item in enumerate(items)))
    return refs


def _instant(name: str) -> Callable[[str, str], int]:
    def parse(raw: str, timezone: str) -> int:
        text = raw.strip()
        if text.lstrip("-").isdigit():
            value = int(text)
        else:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise ValidationError(
                    "is neither epoch milliseconds nor an ISO-8601 date-time (e.g. 2025-01-31T08:00:00+01:00, "
                    f"or 2025-01-31T08:00 read in the site's time zone {timezone})",
                    field=name,
                    value=raw,
                ) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
            value = from_datetime(moment)
        if not MIN_TS_MS <= value < MAX_TS_MS:
            raise ValidationError("lies outside 1970-01-01 .. 2100-01-01", field=name, value=raw)
        return value

    return parse


def _interval(raw: str, _tz: str) -> int:
    text = raw.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_INTERVAL_SECONDS:
        raise ValidationError(
            f"must be whole seconds from 1 to {MAX_INTERVAL_SECONDS}", field="interval", value=raw
        )
    return int(text)


def _aggregates(raw: str, _tz: str) -> tuple[Aggregate, ...]:
    names = [name.strip().upper() for name in raw.split(",") if name.strip()]
    if not names:
        raise ValidationError("names no aggregate", field="aggregate", value=raw)
    found = []
    for index, name in enumerate(names):
        if name not in Aggregate.__members__:
            raise ValidationError(
                f"has an unknown aggregate {name!r} (one of {', '.join(Aggregate.__members__)})",
                field="aggregate",
                index=index,
                value=raw,
            )
        found.append(Aggregate[name])
    return tuple(dict.fromkeys(found))


def _time_format(raw: str, _tz: str) -> TimeFormat:
    value = raw.strip().lower()
    if value == "iso":
        return "iso"
    if value == "ms":
        return "ms"
    raise ValidationError("must be iso (ISO-8601 in the site's time zone) or ms (epoch ms)", field="timeFormat")


def _calendar(raw: str, _tz: str) -> CalendarUnit:
    try:
        return CalendarUnit[raw.strip().upper()]
    except KeyError:
        names = ", ".join(unit.name for unit in CalendarUnit)
        raise ValidationError(f"must be one of {names}", field="calendar", value=raw) from None


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("points", _points, "points", required=True, repeatable=True),
    Parameter("start", _instant("start"), "start_ms", required=True),
    Parameter("end", _instant("end"), "end_ms", required=True),
    Parameter("interval", _interval, "interval_seconds"),
    Parameter("calendar", _calendar, "calendar"),
    Parameter("aggregate", _aggregates, "aggregates"),
    Parameter("timeFormat", _time_format, "time_format"),
)
_BY_NAME = {parameter.name: parameter for parameter in PARAMETERS}


def parse_export_query(params: Sequence[tuple[str, str]] | Mapping[str, str], timezone: str) -> ExportQuery:
    """An ExportQuery from the request's query parameters (as (name, value) pairs), or a ValidationError whose
    `field` names the parameter to fix."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    given: dict[str, list[str]] = {}
    for name, value in pairs:
        if name not in _BY_NAME:
            raise ValidationError(
                f"is not a parameter of /export.csv (known: {', '.join(_BY_NAME)})", field=name, value=value
            )
        given.setdefault(name, []).append(value)
    values: dict[str, Any] = {}
    for parameter in PARAMETERS:
        raws = given.get(parameter.name)
        if not raws:
            if parameter.required:
                raise ValidationError("is required", field=parameter.name)
            continue
        if len(raws) > 1 and not parameter.repeatable:
            raise ValidationError("is given more than once", field=parameter.name, value=raws)
        values[parameter.field] = parameter.parse(",".join(raws), timezone)
    query = ExportQuery(**values)
    if query.end_ms <= query.start_ms:
        raise ValidationError("must be later than start", field="end", value=query.end_ms)
    if query.interval_seconds is not None and query.calendar is not None:
        raise ValidationError(
            "and interval exclude each other: give one", field="calendar", value=query.calendar.name
        )
    bucketed = query.interval_seconds is not None or query.calendar is not None
    if query.aggregates and not bucketed:
        raise ValidationError(
            "needs interval (the width of the buckets in seconds) or calendar (HOUR, DAY, WEEK, MONTH, YEAR)",
            field="aggregate",
        )
    if bucketed and not query.aggregates:
        query = ExportQuery(**{**values, "aggregates": (Aggregate.AVG,)})
    return query

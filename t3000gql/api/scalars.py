"""Custom scalars: `DateTime`, and the column scalars that carry a whole list as one value.

`DateTime` replaces strawberry's own for Python `datetime`. On output it is ISO-8601 with offset (UTC, in
milliseconds). On input it takes an ISO-8601 string or epoch seconds as a JSON number; a string without an
offset stays naive here and is read in the site's TIMEZONE by `Context.epoch_ms`, because a scalar cannot see
the settings.

`TimestampColumn` and `FloatColumn` hold a whole column of a time series. graphql-core handles a scalar once,
however long the list, and orjson encodes the list in C: 100,000 samples cost milliseconds instead of the
seconds a list of objects (or even `[Float!]!`, which graphql-core completes item by item) would take.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, NewType

import strawberry
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

TimestampColumn = NewType("TimestampColumn", list[int])
FloatColumn = NewType("FloatColumn", list[float])
QualityColumn = NewType("QualityColumn", list[str])


def serialize_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="milliseconds")


def parse_datetime(value: object) -> datetime:
    if isinstance(value, bool):
        raise ValueError("expected an ISO-8601 date-time or epoch seconds, not a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value < 4102444800:
            raise ValueError(f"epoch seconds {value} lie outside 1970-01-01 .. 2100-01-01")
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{value!r} is not an ISO-8601 date-time (e.g. 2025-01-31T08:00:00+01:00 or 2025-01-31T08:00:00, "
                "read in the site's TIMEZONE)"
            ) from None
    raise ValueError("expected an ISO-8601 date-time string or epoch seconds as a number")


def parse_datetime_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> datetime:
    if isinstance(node, StringValueNode):
        return parse_datetime(node.value)
    if isinstance(node, IntValueNode):
        return parse_datetime(int(node.value))
    if isinstance(node, FloatValueNode):
        return parse_datetime(float(node.value))
    raise ValueError("expected an ISO-8601 date-time string or epoch seconds as a number")


def _output_only(name: str) -> Any:
    def refuse(_value: object) -> Any:
        raise ValueError(f"{name} is an output type")

    return refuse


SCALARS: dict[object, ScalarDefinition] = {
    datetime: strawberry.scalar(
        name="DateTime",
        description="A point in time. Output: ISO-8601 with offset (UTC), e.g. 2025-01-31T07:00:00.000+00:00. "
        "Input: ISO-8601 (a value without offset is read in the site's TIMEZONE) or epoch seconds as a number.",
        serialize=serialize_datetime,
        parse_value=parse_datetime,
        parse_literal=parse_datetime_literal,
    ),
    TimestampColumn: strawberry.scalar(
        name="TimestampColumn",
        description="A list of epoch milliseconds (UTC) as JSON numbers, oldest first: one time series column.",
        serialize=lambda value: value,
        parse_value=_output_only("TimestampColumn"),
    ),
    FloatColumn: strawberry.scalar(
        name="FloatColumn",
        description="A list of numbers as JSON, parallel to a TimestampColumn: one time series column.",
        serialize=lambda value: value,
        parse_value=_output_only("FloatColumn"),
    ),
    QualityColumn: strawberry.scalar(
        name="QualityColumn",
        description="Sample qualities (GOOD, UNCERTAIN, BAD) as JSON strings, parallel to a TimestampColumn: one "
        "time series column.",
        serialize=lambda value: value,
        parse_value=_output_only("QualityColumn"),
    ),
}

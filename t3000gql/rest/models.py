"""Seed 000's Rust structs as pydantic models: what the OpenAPI document says each route takes and answers.

Field names, types and order are the seed's (`types.rs`, `api_handlers.rs`): snake_case, times as Unix seconds,
flags as 0/1 integers, `point_type` as T3000's number. Answers are built as plain dicts by `t3000gql.rest.wire`
(1,000 samples through pydantic would cost more than the read); the tests hold every answer to these models.

Inputs are strict, as serde is: a number must be a JSON number, a text a JSON string; unknown fields are
ignored, as serde ignores them. Fields a client of the seed sends but this server derives (a sample's
`data_type` and `unit_code` come from its point, `id` and `created_at` are the database's) are accepted and
ignored. Bounds are declared so that the document tells clients what a request may hold; the rules behind them
live in the domain (t3000gql.domain), which still checks every value.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from t3000gql.domain.points import PointType

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
MAX_UNIX_SECONDS = 4_102_444_800
"""2100-01-01T00:00:00Z: the storage keeps times from 1970 up to (not including) this."""

I32 = Annotated[int, Field(ge=I32_MIN, le=I32_MAX)]
UnixSeconds = Annotated[int, Field(ge=0, lt=MAX_UNIX_SECONDS, description="Unix time in seconds (UTC).")]
Flag = Literal[0, 1]
FlagIn = Annotated[int, Field(ge=0, le=1, description="1 (yes) or 0 (no), as seed 000's i32 flags.")]
"""A flag as a request gives it: 0 or 1, a JSON number (strict: `true` is not 1 here)."""

POINT_TYPE_NAMES = [member.name for member in PointType]
_POINT_TYPE_HELP = (
    "T3000's point type: its number (OUTPUT=0, INPUT=1, VARIABLE=2, CONTROLLER=3, ... AR_DATA=17) or its name "
    f"({', '.join(POINT_TYPE_NAMES)})."
)
_POINT_TYPE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": max(PointType)},
        {"type": "string", "enum": POINT_TYPE_NAMES},
    ],
    "description": _POINT_TYPE_HELP,
}


def _point_type_error(value: object) -> PydanticCustomError:
    return PydanticCustomError(
        "point_type",
        "must be a T3000 point type: a number from 0 to {maximum} or one of {names}",
        {"maximum": int(max(PointType)), "names": ", ".join(POINT_TYPE_NAMES)},
    )


def point_type_from_json(value: object) -> PointType:
    """A point type as a JSON body gives it: a number or a name (a number inside a string is not a number)."""
    if isinstance(value, int) and not isinstance(value, bool) and value in PointType._value2member_map_:
        return PointType(value)
    if isinstance(value, str) and value in PointType.__members__:
        return PointType[value]
    raise _point_type_error(value)


def point_type_from_path(value: object) -> PointType:
    """A point type as a URL gives it: the digits of its number, or its name."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return point_type_from_json(int(value))
    return point_type_from_json(value)


PointTypeIn = Annotated[PointType, PlainValidator(point_type_from_json), WithJsonSchema(_POINT_TYPE_SCHEMA)]
PointTypePath = Annotated[PointType, PlainValidator(point_type_from_path), WithJsonSchema(_POINT_TYPE_SCHEMA)]
AggregateName = Literal["avg", "min", "max", "sum", "count", "first", "last", "twa", "delta", "range"]


class _Input(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class _Answer(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


# --- what routes answer -----------------------------------------------------------------------------------------


class Device(_Answer):
    """A controller (or station). `id` is the row's key, which is the device id itself."""

    id: int | None
    device_name: str
    device_type: str
    ip_address: str | None
    port: int | None
    device_id: int
    is_active: Flag
    last_seen: int | None = Field(description="Unix seconds of the last successful contact.")
    created_at: int | None
    updated_at: int | None


class MonitoringPoint(_Answer):
    id: int | None
    device_id: int
    point_type: int = Field(description="T3000's point type number (OUTPUT=0, INPUT=1, VARIABLE=2, ...).")
    point_number: int
    point_name: str | None
    description: str | None
    unit_code: int | None = Field(description="T3000 range code (1 degC, 22 %, 101.. digital).")
    unit_symbol: str | None
    data_type: str = Field(description="REAL, INTEGER or BOOLEAN.")
    is_active: Flag
    created_at: int | None
    updated_at: int | None


class TrendLog(_Answer):
    id: int | None
    device_id: int
    trend_log_name: str
    interval_seconds: int
    max_points: int
    is_active: Flag
    last_collected: int | None
    created_at: int | None
    updated_at: int | None


class DataPoint(_Answer):
    """A point's current value with its metadata (seed 000's `DataPoint`), plus `is_fresh` and `source`."""

    device_id: int
    point_type: int
    point_number: int
    value: float
    timestamp: int = Field(description="Unix seconds of the value.")
    data_type: str
    unit_code: int | None
    unit_symbol: str | None
    description: str | None
    is_fresh: Flag = Field(description="1 while the value is younger than CACHE_DURATION_SECONDS.")
    source: str = Field(description="Who wrote the value: api, collector, on-demand (read from the device), ...")


class CacheStats(_Answer):
    total_points: int
    fresh_points: int
    stale_points: int
    cache_hit_rate: float = Field(description="Share of lookups answered fresh since the server started (0..1).")


class DeviceDataResponse(_Answer):
    device_id: int
    points: list[DataPoint]
    last_updated: int = Field(description="Unix seconds of the newest value; 0 when the device has none.")
    cache_stats: CacheStats


class TimeSeriesData(_Answer):
    """One sample (or one bucket, when `interval_seconds` was asked) of a point's history."""

    id: int | None = Field(description="Always null: history rows are keyed by point and time.")
    device_id: int
    point_type: int
    point_number: int
    value: float
    timestamp: int = Field(description="Unix seconds of the sample, or of the start of the bucket.")
    data_type: str
    unit_code: int | None
    trend_log_id: int | None = Field(description="The trend log asked for; null when not filtered by one.")
    created_at: int | None = Field(description="Always null.")


class TimeSeriesResponse(_Answer):
    total_points: int
    start_time: int
    end_time: int
    interval_seconds: int = Field(description="The bucket width asked for; 0 for raw samples.")
    device_info: Device | None
    point_info: MonitoringPoint | None
    data: list[TimeSeriesData]
    aggregate: AggregateName | None = Field(description="How buckets were computed; null for raw samples.")
    truncated: bool = Field(description="The range holds more than `limit`: ask again from `next_start`.")
    next_start: int | None = Field(description="Unix seconds to continue from when truncated.")


class BatchResult(_Answer):
    """What a batch write did (the seed's "confirmation with update count")."""

    count: int = Field(description="Values accepted (every one, or the request fails and stores none).")
    inserted: int = Field(description="Values new to history.")
    updated: int = Field(description="Values that replaced a different stored value at the same time.")
    unchanged: int = Field(description="Values already stored (or repeated within the batch).")
    message: str


class ErrorDetail(_Answer):
    """Where a request went wrong: the field (snake_case, as sent), the item's index in a list, the value."""

    field: str | None
    index: int | None
    value: Any
    message: str


T = TypeVar("T")


class ApiResponse(_Answer, Generic[T]):
    """Seed 000's envelope around every answer. `code` and `details` are added on errors: the same codes as
    GraphQL's `extensions.code`, and what to fix."""

    success: bool
    data: T | None
    error: str | None
    source: str = Field(description="cache, t3000 (read from the device now), database, or error.")
    timestamp: int = Field(description="Unix seconds of the answer.")
    code: str | None = Field(default=None, description="On errors: BAD_USER_INPUT, NOT_FOUND, DEVICE_TIMEOUT, ...")
    details: list[ErrorDetail] | None = Field(default=None, description="On bad input: one entry per problem.")


class ErrorResponse(ApiResponse[None]):
    """An answer that carries no data: why, in `error`, `code` and `details`."""


# --- what routes take -------------------------------------------------------------------------------------------


class DataPointIn(_Input):
    """A current value of one of the device's points (seed 000's `DataPoint`)."""

    device_id: I32 | None = Field(default=None, description="When given, must be the device of the URL.")
    point_type: PointTypeIn
    point_number: I32
    value: Annotated[float, Field(allow_inf_nan=False)]
    timestamp: UnixSeconds | None = Field(
        default=None, description="Unix seconds; the server's now when left out."
    )
    data_type: str | None = Field(default=None, description="Ignored: the point's definition says.")
    unit_code: I32 | None = Field(default=None, description="Ignored: the point's definition says.")
    unit_symbol: str | None = Field(default=None, description="Ignored.")
    description: str | None = Field(default=None, description="Ignored.")


class DeviceDataBatch(_Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "device_id": 1001,
                    "data_points": [
                        {"point_type": "INPUT", "point_number": 1, "value": 21.5, "timestamp": 1735776000},
                        {"point_type": 2, "point_number": 1, "value": 20.0},
                    ],
                }
            ]
        }
    )

    device_id: I32 = Field(description="Must be the device of the URL.")
    data_points: list[DataPointIn]


class TimeSeriesDataIn(_Input):
    """One history sample (seed 000's `TimeSeriesData`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "device_id": 1001,
                    "point_type": 1,
                    "point_number": 2,
                    "value": 18.5,
                    "timestamp": 1735776000,
                    "data_type": "REAL",
                    "trend_log_id": 1,
                }
            ]
        }
    )

    id: I32 | None = Field(default=None, description="Ignored.")
    device_id: I32
    point_type: PointTypeIn
    point_number: I32
    value: Annotated[float, Field(allow_inf_nan=False)]
    timestamp: UnixSeconds
    data_type: str | None = Field(default=None, description="Ignored: the point's definition says.")
    unit_code: I32 | None = Field(default=None, description="Ignored: the point's definition says.")
    trend_log_id: I32 | None = None
    created_at: int | None = Field(default=None, description="Ignored.")


class TrendLogIn(_Input):
    """A trend log to create (no `id`) or change (`id`); fields left out or null keep their stored value."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"device_id": 1001, "trend_log_name": "AHU temps", "interval_seconds": 900, "is_active": 1}
            ]
        }
    )

    id: I32 | None = None
    device_id: I32 | None = Field(default=None, description="When given, must be the device of the URL.")
    trend_log_name: str | None = Field(default=None, min_length=1, max_length=100)
    interval_seconds: Annotated[int, Field(ge=1, le=86400)] | None = Field(
        default=None, description="Sampling interval; DEFAULT_TREND_INTERVAL_SECONDS when a new log has none."
    )
    max_points: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    is_active: FlagIn | None = None
    last_collected: int | None = Field(default=None, description="Ignored: the collector keeps it.")
    created_at: int | None = Field(default=None, description="Ignored.")
    updated_at: int | None = Field(default=None, description="Ignored.")

"""What callers send to create or change devices, points and trend logs, and the rules those inputs obey.

`UNSET` marks a field the caller did not give: on update it keeps the stored value, on create the default
applies. It differs from None, which clears an optional field.

Errors name fields as these inputs do (`device_name`); the API renames them to its arguments' names.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias, TypeVar, Union

from t3000gql.domain.points import PointRef, PointType
from t3000gql.errors import ValidationError


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
T = TypeVar("T")
Maybe: TypeAlias = Union[T, _Unset]  # noqa: UP007  (a generic alias needs Union on 3.11)

PROTOCOLS = ("none", "modbus", "bacnet", "simulated", "websocket")
DATA_TYPES = ("REAL", "INTEGER", "BOOLEAN")
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class DeviceInput:
    device_id: int
    device_name: Maybe[str] = UNSET
    device_type: Maybe[str] = UNSET
    ip_address: Maybe[str | None] = UNSET
    port: Maybe[int | None] = UNSET
    protocol: Maybe[str] = UNSET
    modbus_unit_id: Maybe[int | None] = UNSET
    bacnet_instance: Maybe[int | None] = UNSET
    is_active: Maybe[bool] = UNSET
    options: Maybe[dict[str, Any]] = UNSET


@dataclass(frozen=True, slots=True)
class PointInput:
    point_type: PointType
    point_number: int
    point_name: Maybe[str | None] = UNSET
    description: Maybe[str | None] = UNSET
    unit_code: Maybe[int | None] = UNSET
    data_type: Maybe[str] = UNSET
    is_active: Maybe[bool] = UNSET
    options: Maybe[dict[str, Any]] = UNSET
    writable: Maybe[bool] = UNSET
    min_value: Maybe[float | None] = UNSET
    max_value: Maybe[float | None] = UNSET


@dataclass(frozen=True, slots=True)
class TrendLogInput:
    trend_log_name: Maybe[str] = UNSET
    interval_seconds: Maybe[int] = UNSET
    max_points: Maybe[int] = UNSET
    is_active: Maybe[bool] = UNSET
    points: Maybe[tuple[PointRef, ...]] = UNSET
    id: int | None = None
    device_id: int | None = field(default=None)


def check_device(data: DeviceInput) -> None:
    check_int_range(data.device_id, "device_id", 0, 4194303)
    if data.device_name is not UNSET:
        check_name(data.device_name, "device_name")
    if data.device_type is not UNSET:
        check_name(data.device_type, "device_type")
    if data.ip_address not in (UNSET, None):
        try:
            ipaddress.ip_address(str(data.ip_address))
        except ValueError:
            if not _is_hostname(str(data.ip_address)):
                raise ValidationError(
                    "must be an IPv4/IPv6 address or a host name", field="ip_address", value=data.ip_address
                ) from None
    if data.port not in (UNSET, None):
        check_int_range(data.port, "port", 1, 65535)
    if data.protocol is not UNSET and data.protocol not in PROTOCOLS:
        raise ValidationError(f"must be one of {', '.join(PROTOCOLS)}", field="protocol", value=data.protocol)
    if data.modbus_unit_id not in (UNSET, None):
        check_int_range(data.modbus_unit_id, "modbus_unit_id", 0, 255)
    if data.bacnet_instance not in (UNSET, None):
        check_int_range(data.bacnet_instance, "bacnet_instance", 0, 4194302)


def check_point(data: PointInput, *, index: int | None = None) -> None:
    check_int_range(data.point_number, "point_number", 1, 65535, index=index)
    if data.point_name not in (UNSET, None):
        check_name(data.point_name, "point_name", index=index)
    if data.description not in (UNSET, None) and len(str(data.description)) > 500:
        raise ValidationError("is longer than 500 characters", field="description", index=index)
    if data.unit_code not in (UNSET, None):
        check_int_range(data.unit_code, "unit_code", 0, 255, index=index)
    if data.data_type is not UNSET and data.data_type not in DATA_TYPES:
        raise ValidationError(
            f"must be one of {', '.join(DATA_TYPES)}", field="data_type", index=index, value=data.data_type
        )
    for name in ("min_value", "max_value"):
        limit = getattr(data, name)
        if limit not in (UNSET, None) and (
            isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit)
        ):
            raise ValidationError("must be a finite number or null", field=name, index=index, value=limit)
    check_limits(
        None if data.min_value is UNSET else data.min_value,
        None if data.max_value is UNSET else data.max_value,
        index=index,
    )


def check_limits(min_value: float | None, max_value: float | None, *, index: int | None = None) -> None:
    """A point's command limits: either may be absent, and when both are given the range is not empty."""
    if min_value is not None and max_value is not None and min_value > max_value:
        raise ValidationError(
            f"must not be below min_value ({min_value})",
            field="max_value",
            index=index,
            value=max_value,
            mentions=("min_value",),
        )


def check_trend_log(data: TrendLogInput) -> None:
    if data.trend_log_name is not UNSET:
        check_name(data.trend_log_name, "trend_log_name")
    if data.interval_seconds is not UNSET:
        check_int_range(data.interval_seconds, "interval_seconds", 1, 86400)
    if data.max_points is not UNSET:
        check_int_range(data.max_points, "max_points", 1, 10_000_000)
    if data.points is not UNSET:
        if len(data.points) > 14 * 16:
            raise ValidationError("has more than 224 points", field="points", value=len(data.points))
        seen: set[PointRef] = set()
        for index, ref in enumerate(data.points):
            if ref in seen:
                raise ValidationError("names a point twice", field="points", index=index, value=str(ref))
            seen.add(ref)


def check_name(value: object, field: str, *, index: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be a non-empty text", field=field, index=index, value=value)
    if len(value) > MAX_NAME:
        raise ValidationError(f"is longer than {MAX_NAME} characters", field=field, index=index, value=value)
    return value


def check_int_range(value: object, field: str, minimum: int, maximum: int, *, index: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationError(
            f"must be an integer from {minimum} to {maximum}", field=field, index=index, value=value
        )
    return value


def _is_hostname(text: str) -> bool:
    labels = text.rstrip(".").split(".")
    return 0 < len(text) <= 253 and all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and not label.startswith("-") for label in labels
    )

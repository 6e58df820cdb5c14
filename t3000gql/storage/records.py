"""What the repositories return: plain frozen records of stored rows (times in epoch ms)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from t3000gql.domain.points import PointRef, PointType


def column_value(name: str, value: Any) -> Any:
    """A field as its column stores it: options as JSON text, flags as 0/1, the rest as given."""
    if name == "options":
        return json.dumps(value or {}, sort_keys=True)
    if name in ("is_active", "writable"):
        return int(bool(value))
    return value


@dataclass(frozen=True, slots=True)
class Device:
    device_id: int
    device_name: str
    device_type: str
    ip_address: str | None
    port: int | None
    protocol: str
    modbus_unit_id: int | None
    bacnet_instance: int | None
    options: dict[str, Any]
    is_active: bool
    online: bool | None
    last_seen: int | None
    created_at: int
    updated_at: int

    COLUMNS = (
        "device_id, device_name, device_type, ip_address, port, protocol, modbus_unit_id, bacnet_instance, "
        "options, is_active, online, last_seen, created_at, updated_at"
    )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Device:
        return cls(
            device_id=row[0],
            device_name=row[1],
            device_type=row[2],
            ip_address=row[3],
            port=row[4],
            protocol=row[5],
            modbus_unit_id=row[6],
            bacnet_instance=row[7],
            options=json.loads(row[8]) if row[8] else {},
            is_active=bool(row[9]),
            online=None if row[10] is None else bool(row[10]),
            last_seen=row[11],
            created_at=row[12],
            updated_at=row[13],
        )


def _options(text: str | None) -> dict[str, Any]:
    """A point's options: nearly always none ("{}"), which needs no JSON parser (a tenth of listing 100,000
    points went into decoding "{}")."""
    if not text or text == "{}":
        return {}
    options: dict[str, Any] = json.loads(text)
    return options


@dataclass(frozen=True, slots=True)
class MonitoringPoint:
    id: int
    device_id: int
    point_type: PointType
    point_number: int
    point_name: str | None
    description: str | None
    unit_code: int | None
    unit_symbol: str | None
    data_type: str
    is_active: bool
    options: dict[str, Any]
    created_at: int
    updated_at: int
    writable: bool = False
    """Whether writePointValue may command it (outputs and variables by default)."""
    min_value: float | None = None
    max_value: float | None = None
    """The range a command must lie in; None: no limit on that side."""

    COLUMNS = (
        "id, device_id, point_type, point_number, point_name, description, unit_code, unit_symbol, "
        "data_type, is_active, options, created_at, updated_at, writable, min_value, max_value"
    )

    @property
    def ref(self) -> PointRef:
        return PointRef(self.device_id, self.point_type, self.point_number)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> MonitoringPoint:
        return cls(
            id=row[0],
            device_id=row[1],
            point_type=PointType(row[2]),
            point_number=row[3],
            point_name=row[4],
            description=row[5],
            unit_code=row[6],
            unit_symbol=row[7],
            data_type=row[8],
            is_active=bool(row[9]),
            options=_options(row[10]),
            created_at=row[11],
            updated_at=row[12],
            writable=bool(row[13]),
            min_value=row[14],
            max_value=row[15],
        )


@dataclass(frozen=True, slots=True)
class TrendLog:
    id: int
    device_id: int
    trend_log_name: str
    interval_seconds: int
    max_points: int
    is_active: bool
    last_collected: int | None
    created_at: int
    updated_at: int
    point_ids: tuple[int, ...] = field(default=())
    """The sampled points in slot order."""

    COLUMNS = (
        "id, device_id, trend_log_name, interval_seconds, max_points, is_active, last_collected, "
        "created_at, updated_at"
    )

    @classmethod
    def from_row(cls, row: Sequence[Any], point_ids: tuple[int, ...] = ()) -> TrendLog:
        return cls(
            id=row[0],
            device_id=row[1],
            trend_log_name=row[2],
            interval_seconds=row[3],
            max_points=row[4],
            is_active=bool(row[5]),
            last_collected=row[6],
            created_at=row[7],
            updated_at=row[8],
            point_ids=point_ids,
        )

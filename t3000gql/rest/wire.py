"""Stored records as seed 000's JSON objects (see `t3000gql.rest.models` for the shapes): plain dicts, so that a
1,000-sample answer costs a comprehension and one orjson call. Times go from the storage's epoch milliseconds
to the seed's Unix seconds (rounded down), flags to 0/1."""

from __future__ import annotations

from typing import Any

from t3000gql.domain.samples import CurrentValue
from t3000gql.storage.history import Series
from t3000gql.storage.records import Device, MonitoringPoint, TrendLog

Json = dict[str, Any]


def seconds(ts_ms: int | None) -> int | None:
    return None if ts_ms is None else ts_ms // 1000


def device(record: Device) -> Json:
    return {
        "id": record.device_id,
        "device_name": record.device_name,
        "device_type": record.device_type,
        "ip_address": record.ip_address,
        "port": record.port,
        "device_id": record.device_id,
        "is_active": int(record.is_active),
        "last_seen": seconds(record.last_seen),
        "created_at": seconds(record.created_at),
        "updated_at": seconds(record.updated_at),
    }


def monitoring_point(record: MonitoringPoint) -> Json:
    return {
        "id": record.id,
        "device_id": record.device_id,
        "point_type": int(record.point_type),
        "point_number": record.point_number,
        "point_name": record.point_name,
        "description": record.description,
        "unit_code": record.unit_code,
        "unit_symbol": record.unit_symbol,
        "data_type": record.data_type,
        "is_active": int(record.is_active),
        "created_at": seconds(record.created_at),
        "updated_at": seconds(record.updated_at),
    }


def trend_log(record: TrendLog) -> Json:
    return {
        "id": record.id,
        "device_id": record.device_id,
        "trend_log_name": record.trend_log_name,
        "interval_seconds": record.interval_seconds,
        "max_points": record.max_points,
        "is_active": int(record.is_active),
        "last_collected": seconds(record.last_collected),
        "created_at": seconds(record.created_at),
        "updated_at": seconds(record.updated_at),
    }


def data_point(point: MonitoringPoint, current: CurrentValue) -> Json:
    return {
        "device_id": point.device_id,
        "point_type": int(point.point_type),
        "point_number": point.point_number,
        "value": current.value,
        "timestamp": current.ts_ms // 1000,
        "data_type": point.data_type,
        "unit_code": point.unit_code,
        "unit_symbol": point.unit_symbol,
        "description": point.description,
        "is_fresh": 0 if current.stale else 1,
        "source": current.source,
    }


def time_series_data(point: MonitoringPoint, series: Series, trend_log_id: int | None) -> list[Json]:
    device_id, point_type, number = point.device_id, int(point.point_type), point.point_number
    data_type, unit_code = point.data_type, point.unit_code
    return [
        {
            "id": None,
            "device_id": device_id,
            "point_type": point_type,
            "point_number": number,
            "value": value,
            "timestamp": ts // 1000,
            "data_type": data_type,
            "unit_code": unit_code,
            "trend_log_id": trend_log_id,
            "created_at": None,
        }
        for ts, value in zip(series.timestamps, series.values, strict=True)
    ]

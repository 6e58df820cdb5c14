"""GraphQL input types and their conversion to the domain's inputs.

A field left out is strawberry's UNSET and becomes the domain's UNSET (keep the stored value); an explicit null
clears a field that may be empty and is refused, naming the field, where the database needs a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types.arguments import InputContext

from t3000gql.api.context import Context
from t3000gql.api.enums import DeviceProtocol, PointDataType, PointType
from t3000gql.domain import inputs as domain
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import Sample
from t3000gql.errors import ValidationError

_NOT_NULL = "must not be null (leave the field out to keep the stored value)"


InputType = TypeVar("InputType", bound=type)


def flat_input(cls: InputType) -> InputType:
    """Builds instances of a flat input type (scalar and enum fields only) straight from graphql-core's coerced
    values. Strawberry's generic conversion resolves every field's type and name again for every object: 30 ms
    for the 1,000 samples of one storeTimeSeries; this takes about 2 ms."""
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    names: list[tuple[str, str]] = []

    def from_input(target: type, value: Mapping[str, Any], context: InputContext) -> Any:
        if not names:
            names.extend((context.config.name_converter.from_field(f), f.python_name) for f in definition.fields)
        return target(**{python: value[graphql] for graphql, python in names if graphql in value})

    definition.from_input = from_input
    return cls


def _given(value: Any, field: str, *, nullable: bool, index: int | None = None) -> Any:
    if value is strawberry.UNSET:
        return domain.UNSET
    if value is None and not nullable:
        raise ValidationError(_NOT_NULL, field=field, index=index)
    return value


def _stored(value: Any) -> Any:
    """An enum member as the string storage keeps (see api/enums.py); UNSET and None as they are."""
    return value.value if isinstance(value, DeviceProtocol | PointDataType) else value


@strawberry.input(description="A device to create or change; fields left out keep their stored value.")
class DeviceInput:
    device_id: int
    device_name: str | None = strawberry.UNSET
    device_type: str | None = strawberry.UNSET
    ip_address: str | None = strawberry.UNSET
    port: int | None = strawberry.UNSET
    protocol: DeviceProtocol | None = strawberry.UNSET
    modbus_unit_id: int | None = strawberry.UNSET
    bacnet_instance: int | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    options: JSON | None = strawberry.UNSET

    def to_domain(self) -> domain.DeviceInput:
        return domain.DeviceInput(
            device_id=self.device_id,
            device_name=_given(self.device_name, "deviceName", nullable=False),
            device_type=_given(self.device_type, "deviceType", nullable=False),
            ip_address=_given(self.ip_address, "ipAddress", nullable=True),
            port=_given(self.port, "port", nullable=True),
            protocol=_stored(_given(self.protocol, "protocol", nullable=False)),
            modbus_unit_id=_given(self.modbus_unit_id, "modbusUnitId", nullable=True),
            bacnet_instance=_given(self.bacnet_instance, "bacnetInstance", nullable=True),
            is_active=_given(self.is_active, "isActive", nullable=False),
            options=_given(self.options, "options", nullable=True),
        )


@strawberry.input(description="A point to create or change; fields left out keep their stored value.")
class MonitoringPointInput:
    point_type: PointType
    point_number: int
    point_name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    unit_code: int | None = strawberry.UNSET
    data_type: PointDataType | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    options: JSON | None = strawberry.UNSET
    writable: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether commands may write it (new points: outputs and variables)."
    )
    min_value: float | None = strawberry.field(
        default=strawberry.UNSET, description="The lowest value a command may set; null: no limit."
    )
    max_value: float | None = strawberry.field(
        default=strawberry.UNSET, description="The highest value a command may set; null: no limit."
    )

    def to_domain(self, index: int) -> domain.PointInput:
        return domain.PointInput(
            point_type=self.point_type,
            point_number=self.point_number,
            point_name=_given(self.point_name, "pointName", nullable=True, index=index),
            description=_given(self.description, "description", nullable=True, index=index),
            unit_code=_given(self.unit_code, "unitCode", nullable=True, index=index),
            data_type=_stored(_given(self.data_type, "dataType", nullable=False, index=index)),
            is_active=_given(self.is_active, "isActive", nullable=False, index=index),
            options=_given(self.options, "options", nullable=True, index=index),
            writable=_given(self.writable, "writable", nullable=False, index=index),
            min_value=_given(self.min_value, "minValue", nullable=True, index=index),
            max_value=_given(self.max_value, "maxValue", nullable=True, index=index),
        )


@strawberry.input(description="A point of a device named elsewhere (a trend log's device).")
class PointKeyInput:
    point_type: PointType
    point_number: int


@flat_input
@strawberry.input(description="A point anywhere: device, type and number.")
class PointRefInput:
    device_id: int
    point_type: PointType
    point_number: int

    def to_ref(self) -> PointRef:
        return PointRef(self.device_id, self.point_type, self.point_number)


@strawberry.input(
    description="A trend log to create (no trendLogId) or change (trendLogId); `points` replaces its points."
)
class TrendLogInput:
    trend_log_id: int | None = None
    trend_log_name: str | None = strawberry.UNSET
    interval_seconds: int | None = strawberry.UNSET
    max_points: int | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    points: list[PointKeyInput] | None = strawberry.field(
        default=strawberry.UNSET, description="The device's points to sample, in slot order."
    )

    def to_domain(self, device_id: int) -> domain.TrendLogInput:
        points = _given(self.points, "points", nullable=False)
        return domain.TrendLogInput(
            id=self.trend_log_id,
            device_id=device_id,
            trend_log_name=_given(self.trend_log_name, "trendLogName", nullable=False),
            interval_seconds=_given(self.interval_seconds, "intervalSeconds", nullable=False),
            max_points=_given(self.max_points, "maxPoints", nullable=False),
            is_active=_given(self.is_active, "isActive", nullable=False),
            points=points
            if points is domain.UNSET
            else tuple(PointRef(device_id, key.point_type, key.point_number) for key in points),
        )


@flat_input
@strawberry.input(description="A current value of one of the device's points; timestamp defaults to now.")
class PointValueInput:
    point_type: PointType
    point_number: int
    value: float
    timestamp: datetime | None = None

    def to_sample(self, context: Context, device_id: int) -> Sample:
        ts_ms = context.now_ms() if self.timestamp is None else context.epoch_ms(self.timestamp)
        return Sample(PointRef(device_id, self.point_type, self.point_number), ts_ms, self.value)


@flat_input
@strawberry.input(description="One history sample (T3000's TimeSeriesData).")
class TimeSeriesSampleInput:
    device_id: int
    point_type: PointType
    point_number: int
    value: float
    timestamp: datetime
    trend_log_id: int | None = None

    def to_sample(self, context: Context) -> Sample:
        ref = PointRef(self.device_id, self.point_type, self.point_number)
        return Sample(ref, context.epoch_ms(self.timestamp), self.value, trend_log_id=self.trend_log_id)

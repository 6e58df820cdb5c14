"""GraphQL inputs of power stations: a station to create or change, readings to record, which readings to
list. Each converts itself to the domain's input; the rules themselves live in the domain and the service."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from t3000gql.api.context import Context
from t3000gql.api.enums import ChannelField
from t3000gql.domain import stations as domain
from t3000gql.domain.inputs import UNSET
from t3000gql.errors import ValidationError
from t3000gql.ingest import readings


@strawberry.input(description='A new display name for one channel, e.g. {field: muxPower1, name: "TV5 HD"}.')
class ChannelNameInput:
    field: ChannelField
    name: str


@strawberry.input(description="A station to create or change; fields left out keep their stored value.")
class StationInput:
    name: str
    device_id: int | None = strawberry.field(
        default=None,
        description="Choose the device id (4000000..4194303); else the next free one. On upsert: "
        "the station to change (so it can be renamed).",
    )
    uuid: str | None = strawberry.field(default=strawberry.UNSET, description="Default on create: a new UUID.")
    ip_address: str | None = strawberry.UNSET
    scene: str | None = strawberry.UNSET
    websocket_url: str | None = strawberry.UNSET
    channel_names: list[ChannelNameInput] | None = strawberry.UNSET

    def to_domain(self) -> domain.StationInput:
        for field, value in (("uuid", self.uuid), ("scene", self.scene), ("channelNames", self.channel_names)):
            if value is None:
                raise ValidationError(
                    "must not be null (leave the field out to keep the stored value)", field=field
                )
        return domain.StationInput(
            name=self.name,
            device_id=self.device_id,
            uuid=UNSET if self.uuid is strawberry.UNSET else self.uuid,  # type: ignore[arg-type]
            ip_address=UNSET if self.ip_address is strawberry.UNSET else self.ip_address,
            scene=UNSET if self.scene is strawberry.UNSET else self.scene,  # type: ignore[arg-type]
            websocket_url=UNSET if self.websocket_url is strawberry.UNSET else self.websocket_url,
            channel_names=UNSET
            if self.channel_names is strawberry.UNSET
            else {c.field.value: c.name for c in self.channel_names or ()},
        )


@strawberry.input(description="One reading: the station by name or id, a timestamp and at least one channel.")
class PowerReadingInput:
    timestamp: datetime
    station: str | None = None
    station_id: int | None = None
    active_power1: float | None = None
    active_power2: float | None = None
    active_power3: float | None = None
    active_power4: float | None = None
    active_power5: float | None = None
    active_power6: float | None = None
    mux_power1: float | None = None
    mux_power2: float | None = None
    mux_power3: float | None = None
    mux_power4: float | None = None

    def to_domain(self, context: Context) -> domain.ReadingInput:
        values = (
            self.active_power1,
            self.active_power2,
            self.active_power3,
            self.active_power4,
            self.active_power5,
            self.active_power6,
            self.mux_power1,
            self.mux_power2,
            self.mux_power3,
            self.mux_power4,
        )
        return domain.ReadingInput(context.epoch_ms(self.timestamp), values, self.station, self.station_id)


@strawberry.enum(description="What powerReadings are ordered by.")
class PowerReadingOrder(enum.Enum):
    TIMESTAMP = "timestamp"
    CREATED_AT = "created_at"


@strawberry.enum
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input(description="Which readings (seed 004's QueryFilters); a range is [startDate, endDate).")
class PowerReadingFilter:
    station_id: int | None = None
    station_name: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    limit: int = 100
    offset: int = 0
    order_by: PowerReadingOrder = PowerReadingOrder.TIMESTAMP
    order_direction: OrderDirection = OrderDirection.ASC

    def to_filter(self, context: Context) -> readings.ReadingFilter:
        return readings.ReadingFilter(
            station_id=self.station_id,
            station_name=self.station_name,
            start_ms=None if self.start_date is None else context.epoch_ms(self.start_date),
            end_ms=None if self.end_date is None else context.epoch_ms(self.end_date),
            limit=self.limit,
            offset=self.offset,
            order_by=self.order_by.value,
            descending=self.order_direction is OrderDirection.DESC,
        )

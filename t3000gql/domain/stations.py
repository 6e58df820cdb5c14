"""Power-monitoring stations (seed 004) as devices: their channels, readings and the rules readings obey.

A station is a device of type `power_station`. Its ten channels are ordinary points, so readings get history,
aggregation, retention and live updates from the shared machinery:

    activePower1..6  -> INPUT 1..6     (W,   T3000 range code 8)
    muxPower1..4     -> VARIABLE 1..4  (kWh, T3000 range code 10; default names TV5, MCOT, PRD, TPBS)

A `PowerReading` is those channels pivoted at one timestamp. Values travel as a tuple of ten optional floats in
channel order (None where a channel has no value): cheap to build a million times during a log import.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from t3000gql.domain.inputs import UNSET, Maybe, check_name
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import check_timestamp
from t3000gql.errors import ValidationError

STATION_DEVICE_TYPE: Final = "power_station"
STATION_ID_FIRST: Final = 4_000_000
"""Station device ids are allocated upwards from here when the caller does not choose one; T3000 controllers
use small ids, so the two never meet. The last usable id is the BACnet maximum the device check allows."""
STATION_ID_LAST: Final = 4_194_303

UNIT_WATT: Final = 8
UNIT_KWH: Final = 10


@dataclass(frozen=True, slots=True)
class Channel:
    field: str
    point_type: PointType
    point_number: int
    unit_code: int
    is_energy: bool
    default_name: str


ACTIVE_POWER_FIELDS: Final = tuple(f"activePower{n}" for n in range(1, 7))
MUX_POWER_FIELDS: Final = tuple(f"muxPower{n}" for n in range(1, 5))
DEFAULT_MUX_NAMES: Final = ("TV5", "MCOT", "PRD", "TPBS")

CHANNELS: Final[tuple[Channel, ...]] = (
    *(
        Channel(name, PointType.INPUT, n, UNIT_WATT, False, name)
        for n, name in enumerate(ACTIVE_POWER_FIELDS, start=1)
    ),
    *(
        Channel(name, PointType.VARIABLE, n, UNIT_KWH, True, DEFAULT_MUX_NAMES[n - 1])
        for n, name in enumerate(MUX_POWER_FIELDS, start=1)
    ),
)
CHANNEL_FIELDS: Final = tuple(channel.field for channel in CHANNELS)
CHANNEL_INDEX: Final = {field: index for index, field in enumerate(CHANNEL_FIELDS)}
ENERGY_INDEXES: Final = tuple(i for i, channel in enumerate(CHANNELS) if channel.is_energy)
CHANNEL_COUNT: Final = len(CHANNELS)

ChannelValues = tuple[float | None, ...]
"""Ten values in `CHANNELS` order; None where the channel has no value at that time."""


def channel_refs(device_id: int) -> tuple[PointRef, ...]:
    """The point of each channel of a station, in channel order."""
    return tuple(PointRef(device_id, channel.point_type, channel.point_number) for channel in CHANNELS)


@dataclass(frozen=True, slots=True)
class ReadingLimits:
    """Accepted ranges (settings STATION_POWER_MIN_W … STATION_ENERGY_MAX_KWH); bounds are inclusive."""

    power_min_w: float = 0.0
    power_max_w: float = 10_000_000.0
    energy_min_kwh: float = 0.0
    energy_max_kwh: float = 1_000_000_000.0


class ReadingInput(NamedTuple):
    """A reading as it arrives (API, WebSocket, log line): the station by name or device id. A NamedTuple:
    cheap to make by the million during a log import."""

    ts_ms: int
    values: ChannelValues
    station: str | None = None
    station_id: int | None = None


_last_bounds: tuple[ReadingLimits | None, tuple[tuple[float, float], ...]] = (None, ())


def _bounds(limits: ReadingLimits) -> tuple[tuple[float, float], ...]:
    """Each channel's (low, high), remembered for the limits last asked about: a caller keeps one ReadingLimits
    and asks once per reading, and an identity check costs far less than hashing the dataclass would."""
    global _last_bounds
    known, bounds = _last_bounds
    if limits is not known:
        bounds = tuple(
            (limits.energy_min_kwh, limits.energy_max_kwh)
            if c.is_energy
            else (limits.power_min_w, limits.power_max_w)
            for c in CHANNELS
        )
        _last_bounds = (limits, bounds)
    return bounds


def check_reading(
    ts_ms: object, values: Sequence[object], limits: ReadingLimits, *, index: int | None = None
) -> ChannelValues:
    """Checks time and every value of one reading; returns the values as floats. Raises ValidationError naming
    the index (in a batch), the field and the value, so a caller can fix exactly that item."""
    check_timestamp(ts_ms, index=index)
    if type(values) is tuple and len(values) == CHANNEL_COUNT:
        # The common case, checked cheaply: floats in range (NaN and infinities fail the comparison and take
        # the careful path below, which says what is wrong).
        present = False
        for value, (low, high) in zip(values, _bounds(limits), strict=True):
            if value is None:
                continue
            if type(value) is not float or not low <= value <= high:
                break
            present = True
        else:
            if present:
                return values
    if len(values) != CHANNEL_COUNT:
        raise ValidationError(f"must have {CHANNEL_COUNT} channel values", field="values", index=index)
    checked: list[float | None] = []
    present = False
    for position, value in enumerate(values):
        if value is None:
            checked.append(None)
            continue
        channel = CHANNELS[position]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("must be a number", field=channel.field, index=index, value=value)
        number = float(value)
        if not math.isfinite(number):
            raise ValidationError(
                "must be a finite number (no NaN or infinity)", field=channel.field, index=index, value=value
            )
        low, high, unit = (
            (limits.energy_min_kwh, limits.energy_max_kwh, "kWh")
            if channel.is_energy
            else (limits.power_min_w, limits.power_max_w, "W")
        )
        if not low <= number <= high:
            raise ValidationError(
                f"must lie between {low:.15g} and {high:.15g} {unit}",
                field=channel.field,
                index=index,
                value=value,
            )
        checked.append(number)
        present = True
    if not present:
        raise ValidationError("has no channel value (give at least one)", field="values", index=index)
    return tuple(checked)


_UUID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._:-]{0,63}$")


@dataclass(frozen=True, slots=True)
class StationInput:
    """What creates or changes a station. UNSET keeps the stored value on update, the default on create."""

    name: str
    uuid: Maybe[str] = UNSET
    ip_address: Maybe[str | None] = UNSET
    scene: Maybe[str] = UNSET
    websocket_url: Maybe[str | None] = UNSET
    device_id: int | None = None
    channel_names: Maybe[dict[str, str]] = UNSET
    """New display names by channel field, e.g. {"muxPower1": "TV5 HD"}."""


def check_station(data: StationInput) -> None:
    check_name(data.name, "name")
    if data.device_id is not None and (
        isinstance(data.device_id, bool)
        or not isinstance(data.device_id, int)
        or not STATION_ID_FIRST <= data.device_id <= STATION_ID_LAST
    ):
        raise ValidationError(
            f"must be an integer from {STATION_ID_FIRST} to {STATION_ID_LAST} (the station id range)",
            field="device_id",
            value=data.device_id,
        )
    if data.uuid is not UNSET and (not isinstance(data.uuid, str) or not _UUID.match(data.uuid)):
        raise ValidationError(
            "must be 1 to 64 letters, digits or . _ : - (a UUID fits)", field="uuid", value=data.uuid
        )
    if data.scene is not UNSET and (not isinstance(data.scene, str) or len(data.scene) > 100):
        raise ValidationError("must be a text of at most 100 characters", field="scene", value=data.scene)
    if data.websocket_url not in (UNSET, None):
        url = str(data.websocket_url)
        if not url.startswith(("ws://", "wss://")) or len(url) > 500:
            raise ValidationError(
                "must be a ws:// or wss:// URL of at most 500 characters", field="websocket_url", value=url
            )
    if data.channel_names is not UNSET:
        for field, name in data.channel_names.items():
            if field not in CHANNEL_INDEX:
                raise ValidationError(
                    f"names an unknown channel (channels: {', '.join(CHANNEL_FIELDS)})",
                    field="channel_names",
                    value=field,
                )
            check_name(name, f"channel_names.{field}")

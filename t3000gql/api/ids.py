"""Global ids: `id: ID!` of every object with an identity, as Relay's object identification spells them (base64 of
"Type:key") and as Apollo's and urql's normalized caches key on them.

    Device           Device:<deviceId>                                   Device:1001
    MonitoringPoint  MonitoringPoint:<deviceId>:<pointType>:<number>     MonitoringPoint:1001:INPUT:1
    TrendLog         TrendLog:<trendLogId>                               TrendLog:7
    Station          Station:<deviceId>                                  Station:4000000
    PowerReading     PowerReading:<station deviceId>:<epoch ms>          PowerReading:4000000:1735689600000

A key is what the API already names the object by, never an integer only this database or process knows (a
point's internal row id differs between two databases holding the same site). The type name keeps a station and
the device row behind it apart. Each key has one spelling (no leading zeros, no padding games), so one object has
one id and a cache never holds it twice.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from t3000gql.domain.points import PointRef, PointType
from t3000gql.errors import ValidationError

_INT = re.compile(r"0|-?[1-9][0-9]{0,18}")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
ID_FORMAT = 'base64 of "Type:key", e.g. "Device:1001"'


@dataclass(frozen=True, slots=True)
class GlobalId:
    type_name: str
    key: str
    given: str


def encode(type_name: str, key: str) -> str:
    """What strawberry's relay.GlobalID prints for the same type and key (so `id` and `node(id:)` agree)."""
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def decode(given: str) -> GlobalId:
    """The type and key of an id; BAD_USER_INPUT naming what is wrong when it is not one of ours."""
    try:
        text = base64.b64decode(given.encode("ascii"), validate=True).decode()
    except (UnicodeError, binascii.Error, ValueError):
        raise ValidationError(f"is not an id of this server ({ID_FORMAT})", field="id", value=given) from None
    type_name, colon, key = text.partition(":")
    if not colon or not type_name or encode(type_name, key) != given:
        raise ValidationError(
            f"decodes to {text!r}, which is not an id of this server ({ID_FORMAT})", field="id", value=given
        )
    return GlobalId(type_name, key, given)


def int_key(value: int) -> str:
    return str(value)


def point_key(device_id: int, point_type: PointType, point_number: int) -> str:
    return f"{device_id}:{point_type.name}:{point_number}"


def reading_key(device_id: int, ts_ms: int) -> str:
    return f"{device_id}:{ts_ms}"


def _bad_key(gid: GlobalId, expected: str) -> ValidationError:
    return ValidationError(
        f'decodes to "{gid.type_name}:{gid.key}"; expected "{gid.type_name}:{expected}"',
        field="id",
        value=gid.given,
    )


def _int(gid: GlobalId, part: str, expected: str) -> int:
    """An integer in its one spelling and within SQLite's range (a bigger one could match nothing anyway)."""
    if not _INT.fullmatch(part) or not _INT64_MIN <= int(part) <= _INT64_MAX:
        raise _bad_key(gid, expected)
    return int(part)


def _parts(gid: GlobalId, expected: str, count: int) -> list[str]:
    parts = gid.key.split(":")
    if len(parts) != count:
        raise _bad_key(gid, expected)
    return parts


def parse_int_key(gid: GlobalId, name: str) -> int:
    expected = f"<{name}>"
    return _int(gid, _parts(gid, expected, 1)[0], expected)


def parse_point_key(gid: GlobalId) -> PointRef:
    expected = "<deviceId>:<pointType>:<pointNumber>"
    device, point_type, number = _parts(gid, expected, 3)
    if point_type not in PointType.__members__:
        raise _bad_key(gid, expected)
    return PointRef(_int(gid, device, expected), PointType[point_type], _int(gid, number, expected))


def parse_reading_key(gid: GlobalId) -> tuple[int, int]:
    expected = "<station deviceId>:<epoch ms>"
    device, ts_ms = _parts(gid, expected, 2)
    return _int(gid, device, expected), _int(gid, ts_ms, expected)

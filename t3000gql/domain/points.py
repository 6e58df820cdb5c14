"""Point identity and T3000's point types and units (see docs/t3000.md)."""

from __future__ import annotations

import enum
from typing import NamedTuple


class PointType(enum.IntEnum):
    """T3000's Point_type_equate numbering; the integer is what the database stores."""

    OUTPUT = 0
    INPUT = 1
    VARIABLE = 2
    CONTROLLER = 3
    WEEKLY_SCHEDULE = 4
    ANNUAL_SCHEDULE = 5
    PROGRAM = 6
    TABLE = 7
    TIME_ZONE = 8
    MONITOR = 9
    GROUP = 10
    ARRAY = 11
    ALARM = 12
    UNIT = 13
    USER_NAME = 14
    ALARM_SET = 15
    WR_TIME = 16
    AR_DATA = 17


class PointRef(NamedTuple):
    """A point by its natural key: the controller's external id, the point type and its 1-based number.

    A NamedTuple rather than a dataclass: the write path hashes one per sample, and a tuple hashes in C
    (about 5x faster than a dataclass' generated __hash__)."""

    device_id: int
    point_type: PointType
    point_number: int

    def __str__(self) -> str:
        return f"{self.device_id}/{self.point_type.name}/{self.point_number}"


# Analog range codes of T3000 (index = code). Digital ranges start at 101.
ANALOG_UNITS: tuple[str, ...] = (
    "",
    "degC",
    "degF",
    "FPM",
    "Pa",
    "KPa",
    "psi",
    "in_w",
    "W",
    "KW",
    "KWH",
    "V",
    "KV",
    "A",
    "mA",
    "CFM",
    "s",
    "min",
    "h",
    "days",
    "time",
    "ohm",
    "%",
    "RH",
    "ppm",
    "counts",
    "Open",
    "CFH",
    "GPM",
    "GPH",
    "GAL",
    "CF",
    "BTU",
    "CMH",
    "custom1",
    "custom2",
    "custom3",
    "custom4",
    "custom5",
    "custom6",
    "custom7",
    "custom8",
)

DIGITAL_UNITS: tuple[str, ...] = (
    "OFF/ON",
    "CLOSED/OPEN",
    "STOP/START",
    "DISABLED/ENABLED",
    "NORMAL/ALARM",
    "NORMAL/HIGH",
    "NORMAL/LOW",
    "NO/YES",
    "COOL/HEAT",
    "UNOCCUPIED/OCCUPIED",
    "LOW/HIGH",
    "ON/OFF",
    "OPEN/CLOSED",
    "START/STOP",
    "ENABLED/DISABLED",
    "ALARM/NORMAL",
    "HIGH/NORMAL",
    "LOW/NORMAL",
    "YES/NO",
    "HEAT/COOL",
    "OCCUPIED/UNOCCUPIED",
    "HIGH/LOW",
)
DIGITAL_UNIT_BASE = 101

# How many points of each kind a T3 controller has (docs/t3000.md).
T3_POINT_COUNTS: dict[PointType, int] = {PointType.OUTPUT: 64, PointType.INPUT: 64, PointType.VARIABLE: 128}


def unit_symbol(unit_code: int | None) -> str | None:
    """The symbol of a T3000 range code; None when the code is unknown (a custom or future range)."""
    if unit_code is None:
        return None
    if 0 <= unit_code < len(ANALOG_UNITS):
        return ANALOG_UNITS[unit_code]
    digital = unit_code - DIGITAL_UNIT_BASE
    if 0 <= digital < len(DIGITAL_UNITS):
        return DIGITAL_UNITS[digital]
    return None


def writable_by_default(point_type: PointType) -> bool:
    """Outputs and variables are commanded; inputs are measured (writing one overrides a sensor)."""
    return point_type in (PointType.OUTPUT, PointType.VARIABLE)


def is_digital_unit(unit_code: int | None) -> bool:
    return unit_code is not None and unit_code >= DIGITAL_UNIT_BASE

"""The T3-BB family's Modbus map of point values (docs/t3000.md), as pure functions.

Values are 32-bit signed integers, high word first, holding the engineering value x 1000:
outputs n=1..64 at 7100 + 2(n-1), inputs n=1..64 at 7484 + 2(n-1), variables n=1..128 at 8092 + 2(n-1).
Each point's auto/manual switch is one register: outputs at 7356 + (n-1), inputs at 7868 + (n-1), variables at
8348 + (n-1).
Both the Modbus driver and the T3 simulator use these functions; the tests pin the addresses to the reference
numbers so a mistake here cannot hide behind the two agreeing with each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from t3000gql.collect.drivers.base import RegisterMap
from t3000gql.domain.points import T3_POINT_COUNTS, PointType
from t3000gql.errors import ValidationError

VALUE_BASE: dict[PointType, int] = {
    PointType.OUTPUT: 7100,
    PointType.INPUT: 7484,
    PointType.VARIABLE: 8092,
}
AUTO_MANUAL_BASE: dict[PointType, int] = {
    PointType.OUTPUT: 7356,
    PointType.INPUT: 7868,
    PointType.VARIABLE: 8348,
}
AUTO, MANUAL = 0, 1
REGISTERS_PER_VALUE = 2
SCALE = 0.001
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# The engineering range a T3 value can carry: ±2147483.647 (2147483.648 on the negative side).
VALUE_MIN = INT32_MIN / 1000
VALUE_MAX = INT32_MAX / 1000


def value_register(point_type: PointType, number: int) -> int:
    """Address of the high word of a point's value; ValidationError for points a T3 does not have."""
    base = VALUE_BASE.get(point_type)
    if base is None:
        raise ValidationError(
            f"a T3 controller serves values of OUTPUT, INPUT and VARIABLE points, not {point_type.name}",
            field="point_type",
            value=point_type.name,
        )
    count = T3_POINT_COUNTS[point_type]
    if not 1 <= number <= count:
        raise ValidationError(
            f"a T3 controller has {point_type.name} 1..{count}", field="point_number", value=number
        )
    return base + REGISTERS_PER_VALUE * (number - 1)


def auto_manual_register(point_type: PointType, number: int) -> int:
    """Address of a point's auto/manual switch (0 auto: the program sets the value; 1 manual: it holds)."""
    value_register(point_type, number)  # the same checks: a point the T3 has
    return AUTO_MANUAL_BASE[point_type] + (number - 1)


def register_map(point_type: PointType, number: int) -> RegisterMap:
    """The T3 value of a point expressed as a generic map, so the driver reads both kinds the same way."""
    return RegisterMap(
        register=value_register(point_type, number),
        function="holding",
        data_type="int32",
        word_order="big",
        scale=SCALE,
    )


def decode_value(registers: Sequence[int]) -> float:
    """Engineering value of two registers (high word first)."""
    if len(registers) != REGISTERS_PER_VALUE:
        raise ValueError(f"a T3 value is {REGISTERS_PER_VALUE} registers, got {len(registers)}")
    high, low = registers
    raw = (high << 16) | low
    if raw > INT32_MAX:
        raw -= 1 << 32
    return raw / 1000


def encode_value(value: float) -> list[int]:
    """Two registers (high word first) for an engineering value, rounded to the T3's 0.001 resolution."""
    if not math.isfinite(value):
        raise ValidationError("must be a finite number", field="value", value=value)
    raw = round(value * 1000)
    if not INT32_MIN <= raw <= INT32_MAX:
        raise ValidationError(
            f"{value} is outside what a T3 value can hold ({VALUE_MIN}..{VALUE_MAX})",
            field="value",
            value=value,
        )
    unsigned = raw & 0xFFFFFFFF
    return [unsigned >> 16, unsigned & 0xFFFF]

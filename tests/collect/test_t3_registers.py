"""The T3-BB value map: addresses pinned to docs/t3000.md, codec at the int32 boundaries."""

from __future__ import annotations

import pytest

from t3000gql.collect.drivers import t3_registers
from t3000gql.domain.points import PointType
from t3000gql.errors import ValidationError


@pytest.mark.parametrize(
    ("point_type", "number", "address"),
    [
        (PointType.OUTPUT, 1, 7100),
        (PointType.OUTPUT, 2, 7102),
        (PointType.OUTPUT, 64, 7226),
        (PointType.INPUT, 1, 7484),
        (PointType.INPUT, 64, 7610),
        (PointType.VARIABLE, 1, 8092),
        (PointType.VARIABLE, 128, 8346),
    ],
)
def test_value_registers_match_the_reference_map(point_type: PointType, number: int, address: int) -> None:
    assert t3_registers.value_register(point_type, number) == address


@pytest.mark.parametrize(
    ("point_type", "number"),
    [(PointType.OUTPUT, 0), (PointType.OUTPUT, 65), (PointType.INPUT, 65), (PointType.VARIABLE, 129)],
)
def test_numbers_a_t3_does_not_have_are_refused(point_type: PointType, number: int) -> None:
    with pytest.raises(ValidationError) as info:
        t3_registers.value_register(point_type, number)
    assert info.value.field == "point_number"


def test_point_types_without_a_value_register_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        t3_registers.value_register(PointType.MONITOR, 1)
    assert info.value.field == "point_type"


@pytest.mark.parametrize(
    ("registers", "value"),
    [
        ([0, 0], 0.0),
        ([0, 21500], 21.5),
        ([0x0001, 0x0000], 65.536),  # the high word counts 65536
        ([0xFFFF, 0xFFFF], -0.001),
        ([0xFFFF, 0xAC4C], -21.428),
        ([0x7FFF, 0xFFFF], 2147483.647),
        ([0x8000, 0x0000], -2147483.648),
    ],
)
def test_decode_and_encode_are_inverse(registers: list[int], value: float) -> None:
    assert t3_registers.decode_value(registers) == value
    assert t3_registers.encode_value(value) == registers


def test_encode_rounds_to_the_t3_resolution() -> None:
    assert t3_registers.encode_value(21.4996) == t3_registers.encode_value(21.5)
    assert t3_registers.decode_value(t3_registers.encode_value(-3.0004)) == -3.0


@pytest.mark.parametrize("value", [2147483.648, -2147483.649, float("nan"), float("inf")])
def test_values_outside_int32_are_refused(value: float) -> None:
    with pytest.raises(ValidationError):
        t3_registers.encode_value(value)


def test_register_map_is_the_generic_form_of_the_t3_map() -> None:
    rmap = t3_registers.register_map(PointType.INPUT, 3)
    assert (rmap.register, rmap.function, rmap.data_type, rmap.word_order) == (
        7488,
        "holding",
        "int32",
        "big",
    )
    for value in (-2147483.648, -1.5, 0.0, 21.5, 2147483.647):
        assert rmap.encode(value) == t3_registers.encode_value(value)
        assert rmap.decode(t3_registers.encode_value(value)) == value

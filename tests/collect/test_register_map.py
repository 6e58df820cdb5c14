"""Generic Modbus register maps: validation of stored options, and the codec checked against struct."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from t3000gql.collect.drivers import DeviceConnection, RegisterMap
from t3000gql.errors import ValidationError


def words(fmt: str, value: float) -> list[int]:
    """Big-endian 16-bit words of a packed value, computed independently of RegisterMap."""
    packed = struct.pack(f">{fmt}", value)
    return [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]


def test_from_options_reads_every_field() -> None:
    rmap = RegisterMap.from_options(
        {"register": 100, "function": "input", "data_type": "float32", "word_order": "little", "scale": 0.5}
    )
    assert rmap == RegisterMap(100, "input", "float32", "little", 0.5)
    assert rmap.count == 2


def test_from_options_defaults_to_a_scaled_int16_holding_register() -> None:
    assert RegisterMap.from_options({"register": 7}) == RegisterMap(7, "holding", "int16", "big", 1.0)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "register"),
        ({"register": "100"}, "register"),
        ({"register": True}, "register"),
        ({"register": -1}, "register"),
        ({"register": 65535, "data_type": "int32"}, "register"),
        ({"register": 1, "function": "coil"}, "function"),
        ({"register": 1, "data_type": "float64"}, "data_type"),
        ({"register": 1, "word_order": "middle"}, "word_order"),
        ({"register": 1, "scale": 0}, "scale"),
        ({"register": 1, "scale": "x"}, "scale"),
        ({"register": 1, "scael": 2}, "scael"),
    ],
)
def test_from_options_names_the_bad_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        RegisterMap.from_options(options)
    assert info.value.field == field
    assert repr(field) in str(info.value)


@pytest.mark.parametrize("word_order", ["big", "little"])
def test_float32_in_both_word_orders(word_order: str) -> None:
    big = words("f", -1234.5)
    registers = big if word_order == "big" else big[::-1]
    rmap = RegisterMap.from_options({"register": 0, "data_type": "float32", "word_order": word_order})
    assert rmap.decode(registers) == -1234.5
    assert rmap.encode(-1234.5) == registers


@pytest.mark.parametrize(
    ("data_type", "fmt", "raw", "scale", "value"),
    [
        ("int16", "h", -1234, 0.1, -123.4),
        ("uint16", "H", 65535, 1.0, 65535.0),
        ("int32", "i", -2147483648, 0.001, -2147483.648),
        ("uint32", "I", 4294967295, 1.0, 4294967295.0),
        ("int16", "h", 300, 2.0, 600.0),
    ],
)
def test_integers_with_scale(data_type: str, fmt: str, raw: int, scale: float, value: float) -> None:
    rmap = RegisterMap.from_options({"register": 10, "data_type": data_type, "scale": scale})
    assert rmap.decode(words(fmt, raw)) == value
    assert rmap.encode(value) == words(fmt, raw)


def test_int32_little_word_order_swaps_the_words_only() -> None:
    rmap = RegisterMap(0, data_type="int32", word_order="little")
    assert rmap.decode([0x5678, 0x1234]) == 0x12345678


@pytest.mark.parametrize(
    ("data_type", "value"),
    [("int16", 40000.0), ("uint16", -1.0), ("uint32", 2.0**32), ("int16", float("nan"))],
)
def test_values_the_type_cannot_hold_are_refused(data_type: str, value: float) -> None:
    with pytest.raises(ValidationError) as info:
        RegisterMap(0, data_type=data_type).encode(value)  # type: ignore[arg-type]
    assert info.value.field == "value"


def test_device_connection_validates_its_fields() -> None:
    assert DeviceConnection("modbus", "10.0.0.5", 502, unit_id=3).unit_id == 3
    cases: list[tuple[dict[str, Any], str]] = [
        ({"protocol": "snmp"}, "protocol"),
        ({"protocol": "modbus", "port": 0}, "port"),
        ({"protocol": "modbus", "unit_id": 256}, "unit_id"),
        ({"protocol": "bacnet", "bacnet_instance": 4194303}, "bacnet_instance"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as info:
            DeviceConnection(**kwargs)
        assert info.value.field == field

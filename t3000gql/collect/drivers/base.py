"""The one small interface every controller driver implements, and the value objects it speaks.

A driver is to the collector what a transport is to httpx: one object per device that can read many points
in one call and write one point. It knows nothing of storage, schedules or GraphQL; it converts protocol
failures into `DeviceError` / `DeviceTimeout` where they enter our code, so callers handle exactly two kinds
of failure: the device did not answer (`DeviceTimeout`: it is offline), or it answered with an error
(`DeviceError`: it is online, and the error belongs to the point or the write that caused it).

Nothing in this module imports pymodbus or BAC0: the register codec is plain `struct`, so a register map can
be validated (e.g. when a point is created through the API) without loading a protocol stack.
"""

from __future__ import annotations

import abc
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self, cast

from t3000gql.domain.commands import CommandState
from t3000gql.domain.points import PointRef
from t3000gql.errors import DeviceTimeout, T3000Error, ValidationError

RegisterFunction = Literal["holding", "input"]
RegisterDataType = Literal["int16", "uint16", "int32", "uint32", "float32"]
WordOrder = Literal["big", "little"]
ProtocolName = Literal["modbus", "bacnet", "simulated"]

REGISTER_FUNCTIONS: tuple[RegisterFunction, ...] = ("holding", "input")
# struct format (big-endian) and number of 16-bit registers of each data type
DATA_TYPES: dict[RegisterDataType, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "float32": ("f", 2),
}
WORD_ORDERS: tuple[WordOrder, ...] = ("big", "little")
PROTOCOLS: tuple[ProtocolName, ...] = ("modbus", "bacnet", "simulated")
MAX_REGISTER = 65535


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """Where and how a generic Modbus device holds one point: `value = raw * scale`.

    `word_order="big"` means the high word comes first (Modbus' usual order and T3000's); "little" is the
    swapped order that many meters use. Bytes inside a register are always big-endian, as Modbus defines.
    """

    register: int
    function: RegisterFunction = "holding"
    data_type: RegisterDataType = "int16"
    word_order: WordOrder = "big"
    scale: float = 1.0

    def __post_init__(self) -> None:
        # Checked here too (not only in from_options) so a map built in code cannot be silently wrong either.
        if self.function not in REGISTER_FUNCTIONS:
            raise ValidationError(f"must be one of {list(REGISTER_FUNCTIONS)}", field="function")
        if self.data_type not in DATA_TYPES:
            raise ValidationError(f"must be one of {list(DATA_TYPES)}", field="data_type")
        if self.word_order not in WORD_ORDERS:
            raise ValidationError(f"must be one of {list(WORD_ORDERS)}", field="word_order")
        if not 0 <= self.register <= MAX_REGISTER - self.count + 1:
            raise ValidationError(
                f"must be 0..{MAX_REGISTER - self.count + 1} for {self.data_type}", field="register"
            )
        if not math.isfinite(self.scale) or self.scale == 0:
            raise ValidationError("must be a finite non-zero number", field="scale")

    @property
    def count(self) -> int:
        """How many 16-bit registers the value occupies."""
        return DATA_TYPES[self.data_type][1]

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RegisterMap:
        """Builds a map from the JSON stored in a point's `options["register"]`; errors name the field.

        Example: `{"register": 100, "function": "input", "data_type": "float32", "word_order": "little"}`.
        """
        if not isinstance(options, Mapping):
            raise ValidationError("must be an object", field="register", value=options)
        unknown = sorted(set(options) - {"register", "function", "data_type", "word_order", "scale"})
        if unknown:
            raise ValidationError(f"unknown fields {unknown}", field=unknown[0])
        register = options.get("register")
        if isinstance(register, bool) or not isinstance(register, int):
            raise ValidationError("is required and must be an integer", field="register", value=register)
        scale = options.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise ValidationError("must be a number", field="scale", value=scale)
        text_fields = {
            "function": (options.get("function", "holding"), REGISTER_FUNCTIONS),
            "data_type": (options.get("data_type", "int16"), tuple(DATA_TYPES)),
            "word_order": (options.get("word_order", "big"), WORD_ORDERS),
        }
        for name, (given, accepted) in text_fields.items():
            if given not in accepted:
                raise ValidationError(f"must be one of {list(accepted)}", field=name, value=given)
        return cls(
            register=register,
            function=cast(RegisterFunction, text_fields["function"][0]),
            data_type=cast(RegisterDataType, text_fields["data_type"][0]),
            word_order=cast(WordOrder, text_fields["word_order"][0]),
            scale=float(scale),
        )

    def decode(self, registers: Sequence[int]) -> float:
        """Engineering value of the raw registers (exactly `count` of them, as read from the device)."""
        fmt, count = DATA_TYPES[self.data_type]
        words = list(registers[:count])
        if self.word_order == "little":
            words.reverse()
        raw = struct.unpack(f">{fmt}", struct.pack(f">{count}H", *words))[0]
        return _apply_scale(raw, self.scale)

    def encode(self, value: float) -> list[int]:
        """Registers to write for an engineering value; ValidationError when the type cannot hold it."""
        if not math.isfinite(value):
            raise ValidationError("must be a finite number", field="value", value=value)
        fmt, count = DATA_TYPES[self.data_type]
        raw: float | int = _remove_scale(value, self.scale)
        if self.data_type != "float32":
            raw = round(raw)
            low, high = _INT_RANGES[self.data_type]
            if not low <= raw <= high:
                raise ValidationError(
                    f"{value} does not fit {self.data_type} with scale {self.scale}",
                    field="value",
                    value=value,
                )
        try:
            words = list(struct.unpack(f">{count}H", struct.pack(f">{fmt}", raw)))
        except (struct.error, OverflowError) as exc:
            raise ValidationError(f"{value} does not fit {self.data_type}", field="value", value=value) from exc
        if self.word_order == "little":
            words.reverse()
        return words


_INT_RANGES: dict[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}


def _decimal_divisor(scale: float) -> int | None:
    """1000 for a scale of 0.001: 21500 / 1000 is 21.5, 21500 * 0.001 is 21.500000000000004."""
    if scale >= 1:
        return None
    inverse = 1 / scale
    rounded = round(inverse)
    return rounded if abs(inverse - rounded) < 1e-9 * inverse else None


def _apply_scale(raw: float, scale: float) -> float:
    divisor = _decimal_divisor(scale)
    return raw / divisor if divisor else float(raw * scale)


def _remove_scale(value: float, scale: float) -> float:
    divisor = _decimal_divisor(scale)
    return value * divisor if divisor else value / scale


@dataclass(frozen=True, slots=True)
class PointSpec:
    """A point as a driver needs it: which one, whether it is binary, and (generic Modbus only) where it is.

    Without a register map a Modbus driver uses the T3-BB map derived from the point's type and number.
    `revision` is the point record's `updated_at`: what a driver learns about a point (a register the device
    lacks) holds for this revision only, so editing or re-creating the point makes the driver ask again.
    """

    ref: PointRef
    digital: bool = False
    register_map: RegisterMap | None = None
    revision: int = 0


@dataclass(slots=True)
class ReadResult:
    """What a bulk read got: a value for every point the device gave one, an error for every point it did not.

    Never all-or-nothing. A point the device answered with an error (an unknown BACnet object, a register it
    lacks) or that cannot be asked for (a bad register map) has its own error in `errors`, and the others keep
    their values. `no_answer` is set when the device stopped answering (it is offline); values read before
    that are kept, and every point not read has that DeviceTimeout as its error.
    """

    values: dict[PointRef, float] = field(default_factory=dict)
    errors: dict[PointRef, T3000Error] = field(default_factory=dict)
    no_answer: DeviceTimeout | None = None
    answered: bool = False
    """The device answered at least one request (with values or an error): it is online. False when nothing
    was sent (every point failed our own checks) or nothing came back (`no_answer`)."""

    def stop(self, points: Sequence[PointSpec], error: DeviceTimeout) -> None:
        """The device fell silent: the points with neither a value nor an error yet get `error`."""
        self.no_answer = error
        for point in points:
            if point.ref not in self.values and point.ref not in self.errors:
                self.errors[point.ref] = error


@dataclass(frozen=True, slots=True)
class DeviceConnection:
    """How to reach a controller. `port=None` means the protocol's default (502 / 47808).

    `unit_id` is the Modbus unit (slave) id. `bacnet_instance` is the BACnet device instance: recorded for
    identity, while the BACnet driver reaches the device by unicast to host:port (no Who-Is broadcast), which
    is what works on loopback and across routers without a BBMD.
    """

    protocol: ProtocolName
    host: str = "127.0.0.1"
    port: int | None = None
    unit_id: int = 1
    bacnet_instance: int | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValidationError(f"must be one of {list(PROTOCOLS)}", field="protocol", value=self.protocol)
        if self.port is not None and not 0 < self.port <= 65535:
            raise ValidationError("must be 1..65535", field="port", value=self.port)
        if not 0 <= self.unit_id <= 255:
            raise ValidationError("must be 0..255", field="unit_id", value=self.unit_id)
        if self.bacnet_instance is not None and not 0 <= self.bacnet_instance <= 4194302:
            raise ValidationError("must be 0..4194302", field="bacnet_instance", value=self.bacnet_instance)


class Driver(abc.ABC):
    """Reads many points of one device in as few requests as its protocol allows, and commands one point.

    `read_points` does not raise for what a device does: it returns a `ReadResult` with the values the device
    gave and an error per point it did not (see there). `write_point` raises `DeviceTimeout` (no answer, after
    the configured retries) or `DeviceError` (the device refused: its reason is in the message).
    Commands: `write_point` (at a BACnet priority; a T3 point is switched to manual first), `release_point`
    (BACnet: NULL at that priority; T3: back to auto) and `read_command_state` raise the same way.
    """

    @abc.abstractmethod
    async def read_points(self, points: Sequence[PointSpec]) -> ReadResult:
        """Current values in engineering units, keyed by point, and the points that failed with their errors."""

    @abc.abstractmethod
    async def write_point(self, point: PointSpec, value: float, *, priority: int | None = None) -> None:
        """Writes one value in engineering units and returns once the device has acknowledged it. `priority` is
        BACnet's (None: the driver's default); other protocols have none."""

    async def release_point(self, point: PointSpec, *, priority: int | None = None) -> None:
        """Gives a commanded point back to whoever commands it below us; by default there is no such thing."""
        raise ValidationError(
            f"point {point.ref} has nothing to release on this kind of device: write a value instead",
            field="point",
            value=str(point.ref),
        )

    async def read_command_state(self, point: PointSpec) -> CommandState | None:
        """The point's priority array or auto/manual switch; None when the device has neither."""
        return None

    @abc.abstractmethod
    async def close(self) -> None:
        """Releases what this driver owns; shared connections stay open for their owner to close."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

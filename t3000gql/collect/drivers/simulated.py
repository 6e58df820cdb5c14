"""A driver with no device behind it: believable, deterministic waveforms for `serve --demo` and tests.

Every value is a pure function of (seed, point, time): the same seed and clock give the same numbers on every
machine, so a demo database or a test can be reproduced exactly. The character of each point (a temperature, a
humidity, a valve position, a setpoint...) is drawn once from a RNG seeded by the seed and the point itself.
The T3 Modbus simulator uses the same waveforms for its registers.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from t3000gql.collect.drivers.base import Driver, PointSpec, ReadResult
from t3000gql.domain.commands import CommandState
from t3000gql.domain.points import PointRef, PointType
from t3000gql.errors import ValidationError

Clock = Callable[[], float]
DAY = 86400.0
NOISE_STEP_SECONDS = 10.0  # noise changes every 10 s, so two reads within one step agree


@dataclass(frozen=True, slots=True)
class _Shape:
    """base + daily swing + a faster ripple, with gaussian noise, clamped to [low, high]."""

    base: float
    daily: float
    ripple: float
    ripple_period: float
    phase: float
    noise: float
    low: float
    high: float


def _rng(seed: int, ref: PointRef, salt: str) -> random.Random:
    # A string seed goes through SHA-512 in `random`, so it is stable across processes (unlike hash()).
    return random.Random(f"{seed}:{ref.device_id}:{int(ref.point_type)}:{ref.point_number}:{salt}")


INPUT_KINDS = ("temperature", "temperature", "humidity", "co2", "pressure")


def _shape_draws(seed: int, ref: PointRef) -> tuple[random.Random, float, float, str]:
    """The first draws of a point's shape, in a fixed order: phase, ripple period, and (inputs) the kind."""
    rng = _rng(seed, ref, "shape")
    phase = rng.uniform(0, 2 * math.pi)
    ripple_period = rng.uniform(600, 3600)
    kind = rng.choice(INPUT_KINDS) if ref.point_type == PointType.INPUT else "position"
    return rng, phase, ripple_period, kind


def input_kind(seed: int, ref: PointRef) -> str:
    """What a simulated INPUT measures: "temperature" (degC), "humidity" (%RH), "co2" (ppm) or "pressure" (Pa).

    The demo site names and gives units to its inputs from this, so a point called a temperature shows one."""
    return _shape_draws(seed, ref)[3]


def _analog_shape(seed: int, ref: PointRef) -> _Shape:
    rng, phase, ripple_period, kind = _shape_draws(seed, ref)
    if ref.point_type == PointType.INPUT:
        if kind == "temperature":  # degC: a room or a duct
            base = rng.uniform(19, 24)
            return _Shape(base, rng.uniform(1, 3), 0.3, ripple_period, phase, 0.05, -40, 120)
        if kind == "humidity":  # %RH
            return _Shape(rng.uniform(38, 55), rng.uniform(4, 8), 1.0, ripple_period, phase, 0.3, 0, 100)
        if kind == "co2":  # ppm
            return _Shape(rng.uniform(500, 700), rng.uniform(100, 250), 40, ripple_period, phase, 5, 380, 5000)
        return _Shape(rng.uniform(80, 250), rng.uniform(10, 30), 5, ripple_period, phase, 1, 0, 2000)  # Pa
    # OUTPUT: a valve or damper position in %
    return _Shape(rng.uniform(30, 70), rng.uniform(15, 30), 10, ripple_period, phase, 0.5, 0, 100)


def _noise(seed: int, ref: PointRef, t: float, sigma: float) -> float:
    return _rng(seed, ref, f"noise:{math.floor(t / NOISE_STEP_SECONDS)}").gauss(0, sigma)


def _setpoint(seed: int, ref: PointRef, t: float) -> float:
    """Variables behave like setpoints: a constant by day, set back at night (07:00-19:00 UTC occupied)."""
    rng = _rng(seed, ref, "setpoint")
    occupied = rng.choice((20.0, 21.0, 21.5, 22.0, 22.5, 23.0, 24.0, 50.0, 800.0))
    setback = occupied - 3 if occupied < 30 else occupied
    hour = (t % DAY) / 3600
    return occupied if 7 <= hour < 19 else setback


def _digital(seed: int, ref: PointRef, t: float) -> float:
    """A fan or a pump: on for a share of a cycle of 10-60 minutes."""
    rng = _rng(seed, ref, "digital")
    period = rng.uniform(600, 3600)
    duty = rng.uniform(0.3, 0.8)
    offset = rng.uniform(0, period)
    return 1.0 if ((t + offset) % period) / period < duty else 0.0


def waveform_value(seed: int, ref: PointRef, t: float, *, digital: bool = False) -> float:
    """The simulated value of a point at epoch second `t`, rounded to the T3's 0.001 resolution."""
    if ref.point_type not in (PointType.INPUT, PointType.OUTPUT, PointType.VARIABLE):
        raise ValidationError(
            f"simulated devices serve OUTPUT, INPUT and VARIABLE points, not {ref.point_type.name}",
            field="point_type",
            value=ref.point_type.name,
        )
    if digital:
        return _digital(seed, ref, t)
    if ref.point_type == PointType.VARIABLE:
        return _setpoint(seed, ref, t)
    shape = _analog_shape(seed, ref)
    value = (
        shape.base
        + shape.daily * math.sin(2 * math.pi * t / DAY + shape.phase)
        + shape.ripple * math.sin(2 * math.pi * t / shape.ripple_period + shape.phase)
        + _noise(seed, ref, t, shape.noise)
    )
    return round(min(shape.high, max(shape.low, value)), 3)


class SimulatedDriver(Driver):
    """Waveforms from a seed and an injectable clock; a written value sticks until written again."""

    def __init__(self, seed: int = 0, clock: Clock = time.time) -> None:
        self.seed = seed
        self.clock = clock
        self._written: dict[PointRef, float] = {}

    async def read_points(self, points: Sequence[PointSpec]) -> ReadResult:
        now = self.clock()
        result = ReadResult(answered=bool(points))
        for point in points:
            written = self._written.get(point.ref)
            try:
                result.values[point.ref] = (
                    written
                    if written is not None
                    else waveform_value(self.seed, point.ref, now, digital=point.digital)
                )
            except ValidationError as exc:  # a point type it does not simulate: that point fails alone
                result.errors[point.ref] = exc
        return result

    async def write_point(self, point: PointSpec, value: float, *, priority: int | None = None) -> None:
        if not math.isfinite(value):
            raise ValidationError("must be a finite number", field="value", value=value)
        waveform_value(self.seed, point.ref, 0.0)  # the same point-type check as a read
        self._written[point.ref] = (1.0 if value else 0.0) if point.digital else float(value)

    async def release_point(self, point: PointSpec, *, priority: int | None = None) -> None:
        """The waveform takes over again, as a T3's program does in auto."""
        self._written.pop(point.ref, None)

    async def read_command_state(self, point: PointSpec) -> CommandState | None:
        return CommandState(manual=point.ref in self._written)

    async def close(self) -> None:
        """Nothing to release."""

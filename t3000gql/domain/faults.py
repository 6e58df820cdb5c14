"""Why a value could not be read from a device, as plain values: what the API, `/health` and the live bus show.

A `Fault` belongs to a device (it did not answer: offline) or to one point (the device answered, but with an
error for that point: a register or object it lacks, a refused request). Keeping the two apart is what lets one
bad point leave its device online and its other points readable.
"""

from __future__ import annotations

from dataclasses import dataclass

from t3000gql.domain.points import PointRef


@dataclass(frozen=True, slots=True)
class Fault:
    """`code` is the error code the API uses (DEVICE_TIMEOUT, DEVICE_OFFLINE, DEVICE_ERROR, BAD_USER_INPUT, ...);
    `reason` the message, naming the device's own reason when it gave one; `since_ms` the first failure of the
    current run of failures; `retry_at_ms` (offline devices only) when the device is tried again."""

    code: str
    reason: str
    since_ms: int
    retry_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class PointFault:
    """A point whose last read failed while its device answered."""

    point: PointRef
    fault: Fault

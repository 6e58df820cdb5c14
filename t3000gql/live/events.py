"""What travels on the live bus, and its wire form.

A point change is the write path's own `StoredSample`; a device status change is a `DeviceStatus`. On the wire
a message is one orjson object per batch, written as compact arrays (a batch of a thousand changes is one
message, not a thousand), and tagged with the instance that published it so a process can tell its own
messages from those of other processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from t3000gql.domain.faults import Fault, PointFault
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import StoredSample


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device became reachable (online) or stopped answering (offline) at `at_ms`, or the set of its failing
    points changed. Each status is whole (why it is offline, every failing point), so a subscriber that keeps
    only the latest status of a device misses nothing."""

    device_id: int
    online: bool
    at_ms: int
    fault: Fault | None = None
    """Why it is offline, and when it is tried again (None while online)."""
    failing: tuple[PointFault, ...] = ()
    """Points whose last read failed while the device answered, each with the device's reason."""


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded message: who published it and what it carries (a probe carries nothing)."""

    origin: str
    changes: list[StoredSample]
    statuses: list[DeviceStatus]
    probe: int | None = None


def encode_changes(origin: str, changes: Sequence[StoredSample]) -> bytes:
    return orjson.dumps(
        {
            "o": origin,
            "c": [
                [
                    c.point.device_id,
                    int(c.point.point_type),
                    c.point.point_number,
                    c.point_id,
                    c.ts_ms,
                    c.value,
                    c.source,
                    c.trend_log_id,
                ]
                for c in changes
            ],
        }
    )


def _fault_fields(fault: Fault) -> list[Any]:
    return [fault.code, fault.reason, fault.since_ms, fault.retry_at_ms]


def _fault(fields: Sequence[Any]) -> Fault:
    code, reason, since_ms, retry_at_ms = fields
    return Fault(str(code), str(reason), int(since_ms), None if retry_at_ms is None else int(retry_at_ms))


def encode_statuses(origin: str, statuses: Sequence[DeviceStatus]) -> bytes:
    return orjson.dumps(
        {
            "o": origin,
            "d": [
                [
                    s.device_id,
                    s.online,
                    s.at_ms,
                    None if s.fault is None else _fault_fields(s.fault),
                    [[int(f.point.point_type), f.point.point_number, *_fault_fields(f.fault)] for f in s.failing],
                ]
                for s in statuses
            ],
        }
    )


def _status(fields: Sequence[Any]) -> DeviceStatus:
    """A status from its wire form; the three-field form of earlier versions (no faults) is read too."""
    device_id, online, at_ms = int(fields[0]), bool(fields[1]), int(fields[2])
    fault = fields[3] if len(fields) > 3 else None
    failing = fields[4] if len(fields) > 4 else ()
    return DeviceStatus(
        device_id,
        online,
        at_ms,
        None if fault is None else _fault(fault),
        tuple(
            PointFault(PointRef(device_id, PointType(point_type), int(number)), _fault(rest))
            for point_type, number, *rest in failing
        ),
    )


def encode_probe(origin: str, number: int) -> bytes:
    return orjson.dumps({"o": origin, "p": number})


def decode(raw: str | bytes) -> Message:
    """Reads a message; raises ValueError (orjson's JSONDecodeError is one) or KeyError/TypeError on garbage."""
    data: dict[str, Any] = orjson.loads(raw)
    changes = [
        StoredSample(
            point=PointRef(int(device_id), PointType(point_type), int(point_number)),
            point_id=int(point_id),
            ts_ms=int(ts_ms),
            value=float(value),
            source=str(source),
            trend_log_id=trend_log_id,
        )
        for device_id, point_type, point_number, point_id, ts_ms, value, source, trend_log_id in data.get("c", ())
    ]
    statuses = [_status(fields) for fields in data.get("d", ())]
    return Message(origin=str(data["o"]), changes=changes, statuses=statuses, probe=data.get("p"))

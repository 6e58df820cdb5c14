"""Small helpers for live bus tests: building changes and waiting for events with a bounded timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import StoredSample
from t3000gql.live import Subscriber

T = TypeVar("T")
TIMEOUT = 5.0


def ref(device_id: int, number: int, point_type: PointType = PointType.INPUT) -> PointRef:
    return PointRef(device_id, point_type, number)


def change(point: PointRef, ts_ms: int, value: float = 1.0, point_id: int = 0) -> StoredSample:
    return StoredSample(point, point_id=point_id, ts_ms=ts_ms, value=value, source="test")


async def take(sub: Subscriber[T], count: int) -> list[T]:
    """Exactly `count` events, waiting at most TIMEOUT seconds in all."""
    events: list[T] = []
    async with asyncio.timeout(TIMEOUT):
        while len(events) < count:
            events.append(await sub.get())
    return events


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Waits (at most TIMEOUT seconds) until `condition()` holds, checking every few milliseconds."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                if condition():
                    return
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"no {what} within {TIMEOUT} s") from None

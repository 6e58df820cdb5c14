"""The subscriber's bounded, coalescing queue, without a bus."""

from __future__ import annotations

import asyncio

import pytest

from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import StoredSample
from t3000gql.live.subscriber import Counters, Subscriber, SubscriptionClosed

A = PointRef(1, PointType.INPUT, 1)
B = PointRef(1, PointType.INPUT, 2)
C = PointRef(2, PointType.OUTPUT, 1)


def change(point: PointRef, ts_ms: int, value: float | None = None) -> StoredSample:
    return StoredSample(point, point_id=0, ts_ms=ts_ms, value=float(ts_ms if value is None else value), source="t")


def subscriber(capacity: int, counters: Counters | None = None) -> Subscriber[StoredSample]:
    return Subscriber(
        capacity=capacity,
        key=lambda c: c.point,
        stamp=lambda c: c.ts_ms,
        counters=counters if counters is not None else Counters(),
    )


def taken(sub: Subscriber[StoredSample]) -> list[tuple[PointRef, int]]:
    return [(c.point, c.ts_ms) for c in sub.drain()]


def test_keeps_everything_in_order_while_there_is_room() -> None:
    sub = subscriber(10)
    for ts in range(10):
        sub.offer(change(A if ts % 2 else B, ts))
    assert taken(sub) == [(A if ts % 2 else B, ts) for ts in range(10)]
    assert sub.coalesced == 0 and sub.delivered == 10


def test_overflow_keeps_the_latest_value_of_a_point_and_counts_the_rest() -> None:
    counters = Counters()
    sub = subscriber(4, counters)
    for ts in range(1, 11):
        sub.offer(change(A, ts))
    assert sub.overflowing and sub.pending == 5
    assert taken(sub) == [(A, 1), (A, 2), (A, 3), (A, 4), (A, 10)]
    assert sub.coalesced == 5 and counters.coalesced == 5
    assert sub.delivered == 5 and counters.delivered == 5
    assert not sub.overflowing


def test_overflow_keeps_per_point_order_across_points() -> None:
    sub = subscriber(2)
    for point, ts in [(A, 1), (B, 1), (A, 2), (B, 2), (C, 1), (A, 3)]:
        sub.offer(change(point, ts))
    assert sub.coalesced == 1  # A2 was replaced by A3
    assert taken(sub) == [(A, 1), (B, 1), (A, 3), (B, 2), (C, 1)]


def test_new_events_wait_behind_the_overflow_until_it_is_drained() -> None:
    sub = subscriber(2)
    for ts in (1, 2, 3):
        sub.offer(change(A, ts))
    assert sub.get_nowait() == change(A, 1)  # the queue has room again, but A3 sits in the overflow
    sub.offer(change(A, 4))  # so A4 coalesces with A3 instead of overtaking it
    assert taken(sub) == [(A, 2), (A, 4)]
    assert sub.coalesced == 1
    sub.offer(change(A, 5))
    sub.offer(change(A, 6))
    assert taken(sub) == [(A, 5), (A, 6)]  # back to normal: nothing coalesced
    assert sub.coalesced == 1


def test_ignore_through_skips_what_a_snapshot_showed_then_lets_later_values_pass() -> None:
    counters = Counters()
    sub = subscriber(10, counters)
    sub.ignore_through({A: 5})
    for point, ts in [(A, 4), (A, 5), (B, 1), (A, 6), (A, 3)]:
        sub.offer(change(point, ts))
    # A4 and A5 are in the snapshot; A6 is new; A3 came after A6 (a back-fill) and is a real change again.
    assert taken(sub) == [(B, 1), (A, 6), (A, 3)]
    assert counters.skipped == 2


async def test_get_waits_for_an_offer() -> None:
    sub = subscriber(4)
    waiting = asyncio.create_task(sub.get())
    await asyncio.sleep(0)  # let it start waiting
    assert not waiting.done()
    sub.offer(change(A, 1))
    assert await asyncio.wait_for(waiting, 5) == change(A, 1)


async def test_close_ends_iteration_after_what_is_queued() -> None:
    sub = subscriber(4)
    sub.offer(change(A, 1))
    received: list[StoredSample] = []

    async def consume() -> None:
        async for event in sub:
            received.append(event)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    sub.close()
    await asyncio.wait_for(task, 5)
    assert received == [change(A, 1)]
    sub.offer(change(A, 2))  # ignored once closed
    with pytest.raises(SubscriptionClosed):
        await sub.get()


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        subscriber(0)

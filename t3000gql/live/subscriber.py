"""A local subscriber of the live bus: a filter and a bounded queue that coalesces when it overflows.

The bus hands events to `offer`, which never blocks and never grows without bound, so a slow consumer costs the
bus nothing. While the queue has room, every event is kept in order. Once it is full, further events go to an
overflow map keyed by point (or device) that keeps only the latest event per key; each replaced event is
counted as coalesced. The consumer takes the queue first, then the overflow, and new events keep going to the
overflow until it is empty: so the events of one point always come out in the order they went in, and a
consumer that falls behind gets the latest value of every point instead of a stale backlog.

An idle subscriber is a small object with an empty deque: thousands of them cost a few megabytes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Counters:
    """Totals shared by every subscriber of one bus (what /health shows)."""

    __slots__ = ("coalesced", "delivered", "skipped")

    def __init__(self) -> None:
        self.delivered = 0
        self.coalesced = 0
        self.skipped = 0


class Subscriber(Generic[T]):
    """Iterate it (`async for event in subscriber`) or call `get`/`drain`; close it (or leave its `with` block)
    to stop receiving. Iteration ends when the subscriber is closed, also when the bus stops."""

    __slots__ = (
        "_capacity",
        "_closed",
        "_counters",
        "_key",
        "_marks",
        "_on_close",
        "_overflow",
        "_queue",
        "_stamp",
        "_waiter",
        "coalesced",
        "delivered",
        "device_ids",
        "points",
    )

    def __init__(
        self,
        *,
        capacity: int,
        key: Callable[[T], Hashable],
        stamp: Callable[[T], int],
        counters: Counters,
        device_ids: frozenset[int] | None = None,
        points: frozenset[Hashable] | None = None,
        on_close: Callable[[Subscriber[T]], None] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("a subscriber's queue holds at least one event")
        self._capacity = capacity
        self._key = key
        self._stamp = stamp
        self._counters = counters
        self._on_close = on_close
        self._queue: deque[T] = deque()
        self._overflow: dict[Hashable, T] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._marks: dict[Hashable, int] | None = None
        self._closed = False
        self.device_ids = device_ids
        """Devices watched (None: every device)."""
        self.points = points
        """Points watched (None: every point of the watched devices)."""
        self.delivered = 0
        self.coalesced = 0

    # -- the bus side -------------------------------------------------------------------------------------------

    def offer(self, event: T) -> None:
        """Takes an event without ever blocking; past capacity, keeps only the latest event per key."""
        if self._closed:
            return
        overflow = self._overflow
        if overflow is None and len(self._queue) < self._capacity:
            self._queue.append(event)
        else:
            if overflow is None:
                overflow = self._overflow = {}
            key = self._key(event)
            if key in overflow:
                self.coalesced += 1
                self._counters.coalesced += 1
            overflow[key] = event
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the consumer side --------------------------------------------------------------------------------------

    def ignore_through(self, marks: Mapping[Hashable, int]) -> None:
        """Skips events of a key whose stamp is at or before its mark: what a snapshot already showed.

        A key's mark is dropped at the first newer event, so later back-filled values are delivered again.
        Events are published in commit order, so nothing committed before the snapshot can follow that event.
        """
        if marks:
            self._marks = {**(self._marks or {}), **marks}

    def _take(self) -> T | None:
        while True:
            if self._queue:
                event = self._queue.popleft()
            elif self._overflow:
                key = next(iter(self._overflow))
                event = self._overflow.pop(key)
                if not self._overflow:
                    self._overflow = None
            else:
                self._overflow = None
                return None
            marks = self._marks
            if marks:
                key = self._key(event)
                mark = marks.get(key)
                if mark is not None:
                    if self._stamp(event) <= mark:
                        self._counters.skipped += 1
                        continue
                    del marks[key]
            self.delivered += 1
            self._counters.delivered += 1
            return event

    def get_nowait(self) -> T | None:
        """The next event, or None when none is waiting."""
        return self._take()

    def drain(self, limit: int | None = None) -> list[T]:
        """Every waiting event (at most `limit`) without waiting."""
        events: list[T] = []
        while limit is None or len(events) < limit:
            event = self._take()
            if event is None:
                break
            events.append(event)
        return events

    async def get(self) -> T:
        """Waits for the next event; raises `SubscriptionClosed` once closed and empty."""
        while True:
            event = self._take()
            if event is not None:
                return event
            if self._closed:
                raise SubscriptionClosed
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> Subscriber[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    @property
    def pending(self) -> int:
        return len(self._queue) + (len(self._overflow) if self._overflow else 0)

    @property
    def overflowing(self) -> bool:
        return self._overflow is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stops receiving. Events already queued can still be taken; then iteration ends."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __enter__(self) -> Subscriber[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SubscriptionClosed(Exception):
    """The subscriber was closed (by its owner or because the bus stopped) and holds no more events."""


def frozen_or_none(values: Iterable[T] | None) -> frozenset[T] | None:
    return None if values is None else frozenset(values)

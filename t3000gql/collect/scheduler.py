"""When each trend log is due: one aiocron job ticking every second, and interval boundaries on the epoch.

Why one ticking crontab rather than one crontab per trend log: a cron expression cannot say "every 7 s" or
"every 90 s" (`*/7` in the seconds field restarts at every minute), while T3000 intervals are any number of
seconds from 1 to a day. So aiocron supplies a drift-free 1 Hz tick (its times come from the cron expression,
not from adding up sleeps) and this module decides which logs are due at each tick: a log with interval `i`
is due at every epoch second `s` with `s % i == 0` (a 15-minute log at :00, :15, :30, :45 UTC; a daily one at
00:00 UTC). Rescheduling is a dictionary update, effective at the next tick.

A tick handles every boundary since the previous tick, so a late tick (a busy loop, a clock step) still runs
each due log - once, for its latest boundary, never as a burst of catch-up runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC

import aiocron

from t3000gql.domain.timeutil import Clock

log = logging.getLogger(__name__)

EVERY_SECOND = "* * * * * *"
"""aiocron 2.x takes six fields with the seconds FIRST (1.x put them last, which 2.x accepts silently with
another meaning): this is the only cron expression the collector uses, built here and nowhere else."""

DueCallback = Callable[[list[tuple[int, int]]], None]
"""Receives [(trend_log_id, boundary_ms), ...] of the logs due at a tick."""


class IntervalScheduler:
    def __init__(self, clock: Clock, on_due: DueCallback) -> None:
        self._clock = clock
        self._on_due = on_due
        self._interval_of: dict[int, int] = {}
        self._by_interval: dict[int, set[int]] = {}
        self._last_second: int | None = None
        self._cron: aiocron.Cron | None = None

    @property
    def running(self) -> bool:
        return self._cron is not None

    def intervals(self) -> dict[int, int]:
        """trend log id -> interval seconds, of every scheduled log."""
        return dict(self._interval_of)

    def set(self, trend_log_id: int, interval_seconds: int) -> None:
        if not 1 <= interval_seconds <= 86400:
            raise ValueError(f"interval {interval_seconds} s is outside 1 s .. 1 day")
        self.remove(trend_log_id)
        self._interval_of[trend_log_id] = interval_seconds
        self._by_interval.setdefault(interval_seconds, set()).add(trend_log_id)

    def remove(self, trend_log_id: int) -> None:
        interval = self._interval_of.pop(trend_log_id, None)
        if interval is not None:
            members = self._by_interval[interval]
            members.discard(trend_log_id)
            if not members:
                del self._by_interval[interval]

    def due(self, now_second: int) -> list[tuple[int, int]]:
        """The logs with a boundary in (previous tick, now_second], each with its latest such boundary (ms).

        The first call only sets the starting point: a server starting at 12:07:30 does not run its 15-minute
        logs for 12:00.
        """
        last = self._last_second
        self._last_second = now_second
        if last is None or now_second <= last:  # first tick, or the clock stepped back: nothing is overdue
            return []
        due: list[tuple[int, int]] = []
        for interval, members in self._by_interval.items():
            boundary = now_second - now_second % interval
            if boundary > last:
                due.extend((trend_log_id, boundary * 1000) for trend_log_id in members)
        due.sort()
        return due

    def tick(self) -> None:
        due = self.due(self._clock() // 1000)
        if due:
            self._on_due(due)

    def start(self) -> None:
        """Starts ticking. Call inside the running loop (the lifespan): aiocron binds the loop it finds."""
        if self._cron is not None:
            return
        self._last_second = self._clock() // 1000
        self._cron = aiocron.crontab(EVERY_SECOND, func=self.tick, loop=asyncio.get_running_loop(), tz=UTC)
        log.info("collection scheduler started with %s trend logs", len(self._interval_of))

    def stop(self) -> None:
        """Stops the ticks; runs already started are the collector's to wait for."""
        if self._cron is not None:
            self._cron.stop()
            self._cron = None

"""When trend logs are due: interval boundaries on the epoch, rescheduling, late ticks; the aiocron spec."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cronsim import CronSim

from t3000gql.collect.scheduler import EVERY_SECOND, IntervalScheduler

T0 = 1_790_000_000  # an epoch second divisible by 10 (and by 5, 2, 1)


def scheduler() -> IntervalScheduler:
    return IntervalScheduler(clock=lambda: T0 * 1000, on_due=lambda due: None)


def ids(due: list[tuple[int, int]]) -> list[int]:
    return [trend_log_id for trend_log_id, _ in due]


def test_every_second_spec_has_seconds_first() -> None:
    # aiocron 2.x reads six fields with seconds first: consecutive fire times are one second apart.
    sim = CronSim(EVERY_SECOND, datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC))
    first, second = next(sim), next(sim)
    assert first == datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)
    assert (second - first).total_seconds() == 1


def test_logs_are_due_on_their_interval_boundaries() -> None:
    s = scheduler()
    s.set(1, 1)
    s.set(5, 5)
    s.set(10, 10)
    assert s.due(T0 - 1) == []  # the first tick only sets the starting point
    assert s.due(T0) == [(1, T0 * 1000), (5, T0 * 1000), (10, T0 * 1000)]
    assert ids(s.due(T0 + 1)) == [1]
    due_by_second = {t: ids(s.due(t)) for t in range(T0 + 2, T0 + 11)}
    assert [t - T0 for t, d in due_by_second.items() if 5 in d] == [5, 10]
    assert [t - T0 for t, d in due_by_second.items() if 10 in d] == [10]
    assert all(1 in d for d in due_by_second.values())


def test_a_late_tick_runs_each_due_log_once_for_its_latest_boundary() -> None:
    s = scheduler()
    s.set(1, 1)
    s.set(7, 7)
    s.due(T0)
    assert T0 % 7 == 5  # so 7 s boundaries fall on T0 + 2, + 9, ..., + 30
    late = s.due(T0 + 33)  # 33 s without a tick (a blocked loop, a suspended machine)
    assert late == [(1, (T0 + 33) * 1000), (7, (T0 + 30) * 1000)]
    assert s.due(T0 + 34) == [(1, (T0 + 34) * 1000)]


def test_a_clock_stepping_back_runs_nothing_twice() -> None:
    s = scheduler()
    s.set(1, 1)
    s.due(T0)
    assert s.due(T0 - 5) == []
    assert ids(s.due(T0 - 4)) == [1]


def test_rescheduling_takes_effect_at_the_next_tick() -> None:
    s = scheduler()
    s.set(3, 60)
    s.due(T0)
    assert s.due(T0 + 5) == []
    s.set(3, 5)  # interval changed
    assert s.due(T0 + 5) == []  # that second was already handled
    assert ids(s.due(T0 + 10)) == [3]
    s.remove(3)  # deactivated or deleted
    assert s.due(T0 + 15) == []
    assert s.intervals() == {}


@pytest.mark.parametrize("interval", [0, 86401])
def test_intervals_outside_one_second_to_one_day_are_refused(interval: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        scheduler().set(1, interval)


def test_a_daily_log_is_due_at_midnight_utc() -> None:
    s = scheduler()
    s.set(1, 86400)
    midnight = int(datetime(2026, 9, 22, tzinfo=UTC).timestamp())
    s.due(midnight - 1)
    assert s.due(midnight) == [(1, midnight * 1000)]
    assert s.due(midnight + 43200) == []
